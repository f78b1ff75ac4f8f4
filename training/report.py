"""Markdown report of a run and the bundle's MODEL_CARD.md. Every number comes from results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .metrics import fmt_ci

INTENDED_USE = (
    "Screening aid for adults: it assists the decision to refer a patient for DXA bone densitometry "
    "from a knee or spine radiograph. It cannot rule out low bone density (a film below the threshold "
    "may still belong to a patient with osteopenia or osteoporosis) and it is not a diagnosis: "
    "osteoporosis is diagnosed by DXA and clinical assessment."
)

#: What is known about each development source (no numbers here: counts come from the run).
SOURCE_NOTES = {
    "knee": "labels are WHO categories of a T-score measured by quantitative ultrasound (QUS), not DXA; QUS and DXA "
            "T-scores agree only moderately. Source: the knee radiographs of Wani & Arora, Multimedia Tools and "
            "Applications (2023), doi:10.1007/s11042-022-13911-y, as redistributed publicly.",
    "spine": "public repository of the SRIHER osteoporosis classification project; how the labels were obtained is not "
             "documented. Several films (AP and lateral) per patient.",
}


def data_limits(results: dict) -> list[str]:
    d = results["data"]
    out = []
    for a, v in d["by_anatomy"].items():
        note = SOURCE_NOTES.get(a, "source and label definition as given in its manifest")
        out.append(f"{a} ({v['images']} films, {v['patients']} patients): {note}")
    out.append("No licence was published with these sets; they are used for research and for training these weights only.")
    out.append(f"Small: {d['patients']} patients in all; every metric below has wide confidence intervals.")
    for a, v in d["by_anatomy"].items():
        ages = v.get("mean_age_per_class") or {}
        if len(ages) > 1:
            out.append(f"{a}: mean age differs between classes ({', '.join(f'{c} {m:.0f} y' for c, m in ages.items())}); "
                       "age alone separates normal from low bone density there (see the age-only baseline), so part of what "
                       "a model learns may be age.")
    return out


FAILURE_MODES = [
    "Films unlike the development data: other anatomy (hip, wrist, chest), children, lateral knee views, "
    "post-operative films with large implants, heavily collimated or cropped films.",
    "A different label standard: trained on QUS-based (knee) and undocumented (spine) labels, so its scores do "
    "not map onto DXA T-scores.",
    "Age confounding: on knee films the score partly tracks apparent age; young patients with low bone density "
    "and elderly patients with normal density are the likeliest misses and false alarms.",
    "Acquisition shifts: different detectors, processing (edge enhancement, LUTs), burned-in annotations, "
    "inverted (MONOCHROME1) films that a loader fails to invert.",
    "Calibration and operating point were tuned on out-of-fold predictions of the same small development set: "
    "sensitivity on new sites will differ and must be re-checked locally.",
]


def _m(metrics: dict, key: str, digits: int = 2, pct: bool = False) -> str:
    return fmt_ci(metrics.get(key), metrics.get("ci95", {}).get(key), digits, pct)


def metrics_table(cv: dict) -> list[str]:
    lines = ["| group | images / patients | accuracy (95% CI) | macro-F1 | low-BMD ROC-AUC | sensitivity | specificity | majority-class accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    for group, m in cv["metrics"].items():
        sc = m["screening"]
        lines.append(
            f"| {group} | {m['n_images']} / {m['n_patients']} | {_m(m, 'accuracy')} | {_m(m, 'macro_f1')} | {_m(m, 'auc_low_bmd')} | "
            f"{fmt_ci(sc['sensitivity'], m['ci95'].get('sensitivity'))} | {fmt_ci(sc['specificity'], m['ci95'].get('specificity'))} | "
            f"{m['majority_class_accuracy']:.2f} ({m['majority_class']}) |")
    return lines


def age_table(cv: dict) -> list[str]:
    rows = [(g, m["age_baseline"]) for g, m in cv["metrics"].items() if m.get("age_baseline")]
    if not rows:
        return ["No ages known: no age-only baseline."]
    lines = ["| group | images with age | age-only low-BMD AUC (95% CI) | model AUC, same images | model minus age (95% CI) |", "|---|---|---|---|---|"]
    for g, a in rows:
        d = a.get("model_minus_age_ci95")
        lines.append(f"| {g} | {a['n_images']} | {fmt_ci(a['auc_age'], a['auc_age_ci95'])} | {fmt_ci(a['auc_model_same_images'], a['auc_model_same_images_ci95'])} | "
                     f"{f'{d[0]:+.2f} to {d[1]:+.2f}' if d else 'n/a'} |")
    return lines


def per_class_table(m: dict) -> list[str]:
    lines = ["| class | precision | recall | F1 | support | one-vs-rest AUC |", "|---|---|---|---|---|---|"]
    for c, v in m["per_class"].items():
        lines.append(f"| {c} | {v['precision']:.2f} | {v['recall']:.2f} | {v['f1']:.2f} | {v['support']} | {v['auc_ovr']:.2f} |")
    return lines


def confusion_table(m: dict, classes: list[str]) -> list[str]:
    lines = ["| true \\ predicted | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for c, row in zip(classes, m["confusion_matrix"], strict=False):
        lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def model_line(results: dict) -> str:
    mi = results["model"]
    s = f"`{mi['architecture']}` (start: {mi['pretrained_source']})"
    if mi.get("note"):
        s += f" - {mi['note']}"
    return s


def recipe_lines(results: dict) -> list[str]:
    r = results["recipe"]
    p = results["preprocessing"]
    aug = r["augment"]
    aug_s = ("off" if not aug.get("enabled") else
             f"rotation +/-{aug['rotation_deg']:g} deg, {'mirror, ' if aug['hflip'] else ''}brightness +/-{100 * aug['brightness']:.0f}%"
             + (f", contrast +/-{100 * aug['contrast']:.0f}%" if aug.get("contrast") else "")
             + (f", random crop {aug['crop_scale']}" if aug.get("crop_scale") else ""))
    return [
        f"- Model: {model_line(results)}",
        f"- Input: {p['input_size'][0]}x{p['input_size'][1]} ({p['resize']}), displayed pixels in [0, 1], mean {p['mean']}, std {p['std']}",
        f"- Augmentation: {aug_s}",
        f"- Optimiser: {r['optimizer']} lr {r['lr']:g}, weight decay {r['weight_decay']:g}, batch {r['batch_size']}, "
        f"{r['epochs']} epochs, schedule {r['scheduler']}",
        f"- Loss: cross-entropy (class weights: {r['class_weights']}, sampler: {r['sampler']}, label smoothing {r['label_smoothing']:g})"
        + (f" + {r['aux_tscore_weight']:g} x T-score regression (auxiliary head, not exported)" if r["aux_tscore_weight"] else ""),
        f"- Model selection: {'best epoch on an inner validation split of ' + str(int(100 * r['inner_val_fraction'])) + '% of the training patients' if r['select'] == 'best' else 'last epoch (no selection)'}"
        + (f", early stopping patience {r['early_stopping_patience']}" if r["early_stopping_patience"] else "")
        + ("; test-time mirror averaging in validation" if r["tta_hflip"] else ""),
    ]


def write_report(run_dir: Path, results: dict) -> Path:
    lines = [f"# Training run `{results['name']}`", ""]
    if results.get("description"):
        lines += [results["description"], ""]
    env = results["environment"]
    lines += [f"Device: {env['device']}{' (' + env['gpu'] + ')' if env.get('gpu') else ''}, bf16 autocast: {env['amp_bf16']}, torch {env['torch']}. "
              f"Cross-validation took {results.get('seconds_cv', 0):.0f} s, the whole run {results.get('seconds_total', 0):.0f} s.", ""]
    lines += ["## Recipe", ""] + recipe_lines(results) + [""]
    d = results["data"]
    lines += ["## Data", "", f"{d['images']} images of {d['patients']} patients ({', '.join(f'{k}: {v}' for k, v in d['images_per_class'].items())}).", ""]
    for a, v in d["by_anatomy"].items():
        lines.append(f"- {a}: {v['images']} images, {v['patients']} patients; per class {v['images_per_class']}; age known for {v['with_age']}, T-score for {v['with_t_score']}")
    au = results["audit"]
    lines += ["", f"Leakage audit: {'no leaks' if au['ok'] else 'LEAKS (run with --allow-leaks)'}; findings {au['counts'] or 'none'} (see audit.md).", ""]
    cv = results.get("cv")
    if cv:
        op = cv["operating_point"]
        lines += ["## Cross-validated results (out-of-fold)", "",
                  f"{cv['folds']}-fold cross-validation split by patient (stratified), every prediction made by a model that never saw that patient. "
                  f"95% CIs: {cv['bootstrap']} bootstrap resamples of patients.", ""]
        lines += metrics_table(cv) + [""]
        lines += ["### Age-only baseline (age as the low-BMD score)", ""] + age_table(cv) + [""]
        ov = cv["metrics"]["overall"]
        lines += ["### Per class (overall)", ""] + per_class_table(ov) + [""]
        lines += ["### Confusion matrix (overall, argmax)", ""] + confusion_table(ov, list(ov["per_class"])) + [""]
        cal = cv["calibration"]
        lines += ["### Calibration and operating point", "",
                  f"- Temperature fitted on out-of-fold logits: T = {cv['temperature']:.3f} (NLL {cal['nll_before']:.3f} -> {cal['nll_after']:.3f}; "
                  f"low-BMD ECE {cal['ece_low_bmd_before']:.3f} -> {cal['ece_low_bmd_after']:.3f})",
                  f"- Operating threshold on the low-BMD score: {op['threshold']:.4f} for {op['goal']}: sensitivity {op['sensitivity']:.3f}, "
                  f"specificity {op['specificity']:.3f} (chosen and measured on the same out-of-fold predictions, so optimistic)", ""]
        lines += ["### Folds", "", "| fold | epochs run | kept epoch | fit / val / test images | seconds |", "|---|---|---|---|---|"]
        for f in cv["fold_details"]:
            lines.append(f"| {f['fold']} | {f['epochs_run']} | {f['best_epoch']} | {f['n_fit']} / {f['n_val']} / {f['n_test']} | {f['seconds']} |")
        lines += ["", "Plots: `plots/roc.png`, `plots/confusion.png`, `plots/reliability.png`, `plots/curves.png`; predictions: `oof_predictions.csv`.", ""]
    else:
        lines += ["## No cross-validation", "", "cv.folds = 0: no honest metrics were computed.", ""]
    if results.get("final"):
        fi = results["final"]
        lines += ["## Final model", "", f"Trained on all {fi['n_images']} development images ({fi['n_patients']} patients) for {fi['epochs']} epochs ({fi['epochs_rule']}), {fi['seconds']} s."]
    if results.get("bundle"):
        b = results["bundle"]
        lines += [f"Bundle: `{b['path']}` ({b['name']} {b['version']}, `{b['architecture']}`, sha256 {b['sha256'][:16]}…); loaded back with the core, logits match within {b['max_abs_logit_diff_core_vs_training']:.1e}.", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def model_card(results: dict, bcfg: Any, ablation_md: str | None) -> str:
    cv = results.get("cv")
    L = [f"# Model card: {bcfg.name} {bcfg.version}", ""]
    L += ["## Intended use", "", INTENDED_USE, "",
          "Out of scope: diagnosis, treatment decisions, monitoring of therapy, children, anatomy other than knee and spine, "
          "use without a clinician reviewing the film.", ""]
    L += ["## Model", ""] + recipe_lines(results) + [
        f"- Output: probabilities of {', '.join(bcfg.class_names)} after dividing the logits by the temperature {bcfg.temperature:.3f}; "
        f"low-bone-density score = P({' + '.join(bcfg.low_bmd_classes)}).",
        f"- Operating point: flag for DXA referral when the score >= {bcfg.threshold:.4f} ({bcfg.threshold_goal}).", ""]
    if results.get("final"):
        fi = results["final"]
        L += [f"The shipped weights were trained on all {fi['n_images']} development images ({fi['n_patients']} patients) for {fi['epochs']} epochs "
              f"({fi['epochs_rule']}). The metrics below are out-of-fold estimates of this recipe, not of these exact weights.", ""]
    d = results["data"]
    L += ["## Training data", ""]
    for a, v in d["by_anatomy"].items():
        L.append(f"- {a}: {v['images']} images, {v['patients']} patients, per class {v['images_per_class']}")
    L += [""] + [f"- {x}" for x in data_limits(results)] + [""]
    au = results["audit"]
    L += [f"Leakage audit before splitting (file hashes, 256-bit perceptual hashes incl. mirror images, label conflicts, patients across folds): "
          f"{'no leaks found' if au['ok'] else 'LEAKS present - results optimistic'}.", ""]
    if cv:
        op = cv["operating_point"]
        L += ["## Performance (cross-validated, out-of-fold)", "",
              f"{cv['folds']}-fold cross-validation split by patient; 95% confidence intervals from {cv['bootstrap']} bootstrap resamples of patients.", ""]
        L += metrics_table(cv) + [""]
        L += [f"Sensitivity and specificity are at the shipped threshold {op['threshold']:.4f}, chosen on these same out-of-fold predictions "
              f"for {op['goal']} (achieved: sensitivity {op['sensitivity']:.3f}, specificity {op['specificity']:.3f}); "
              "expect lower sensitivity on new data.", ""]
        L += ["### Age-only baseline", "", "Age used as the score for low bone density, on the films whose age is known:", ""] + age_table(cv) + [""]
        L += ["### Per class (overall)", ""] + per_class_table(cv["metrics"]["overall"]) + [""]
        cal = cv["calibration"]
        L += [f"Calibration: temperature {cv['temperature']:.3f} fitted on out-of-fold logits (NLL {cal['nll_before']:.3f} -> {cal['nll_after']:.3f}).", ""]
    else:
        L += ["## Performance", "", "Not cross-validated: no validated metrics exist for this bundle.", ""]
    L += ["## The paper's ablation, re-run honestly", ""]
    if ablation_md:
        L += [ablation_md.strip(), ""]
    else:
        L += ["Not run for this bundle.", ""]
    if not ablation_md or "Published accuracies" not in ablation_md:
        L += ["Published accuracies of 85-93% for this kind of model come from splits that put films of the same patient "
              "(or duplicate films) on both sides; with patient-level splits the numbers above are what remains.", ""]
    L += ["## Known failure modes and limits", ""] + [f"- {x}" for x in FAILURE_MODES] + [""]
    L += ["## Provenance", "",
          f"- Run `{results['name']}`; device {results['environment']['device']}"
          f"{' (' + results['environment']['gpu'] + ')' if results['environment'].get('gpu') else ''}; torch {results['environment']['torch']}.",
          "- Every number in this card was computed by that run (`results.json`).", ""]
    return "\n".join(L) + "\n"
