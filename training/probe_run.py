"""``osteo-train probe``: the whole frozen-feature pipeline, from films to bundle osteo-effnet 2.0.0.

1. Embedding cache for every feature set of the grid (screening films; then the winner's features of
   the guard's other films).
2. Ablation: feature set x head mode over repeated patient-level 5-fold CV; selection on CV alone;
   fold ensemble vs refit; optimism of the choice (nested selection, Tibshirani-Tibshirani).
3. Three scores per anatomy for the winner (clinical, image, combined; nested late fusion).
4. Guard (patient/group-level CV on knee + spine + other films) and the Mahalanobis distance.
5. Validated age range of the knee data.
6. Final fit, bundle format 2, read back by the core and checked on films decoded from scratch.

Every number of the report and the model card is in ``results.json``; nothing is typed by hand.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import platform
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from osteo_desktop.core.probe import GUARD_CLASSES

from . import __version__ as TRAINING_VERSION
from .embeddings import EmbeddingCache, Job, display_image, resolve_backbone
from .errors import ManifestError
from .finetune_row import read_finetune_runs
from .guard import DESCRIPTIONS, MIN_PROBABILITY, OOD_DIMS, SCREENABLE, fit_ood, guard_cv, guard_metrics, ood_cv, ood_metrics, screened
from .linear import C_GRID, Standardiser, auc_criterion, average_heads, fit_cv, neg_log_loss, outer_cv, softmax
from .metrics import fit_temperature
from .probe_ablation import (
    PRIMARY_SEED,
    REPEAT_SEEDS,
    TOLERANCE,
    FeatureSet,
    default_grid,
    folds_for_seeds,
    jobs_for,
    nested_optimism,
    row_auc,
    run_row,
    select,
    summarise,
)
from .probe_data import ANATOMIES, group_other, guard_films, load_screening, phashes, read_other
from .probe_scores import (
    CLINICAL_FEATURES,
    COMBINED_FEATURES,
    LOW_IDX,
    RawLogistic,
    age_band_auc,
    image_score,
    logit,
    nested_combined,
    paired_difference,
    score_metrics,
    sex_female,
)

log = logging.getLogger(__name__)

AGE_MIN_ADULT = 18
AGE_GAP_YEARS = 10


@dataclass
class ProbeOptions:
    data_root: Path
    cache_dir: Path
    out_dir: Path
    bundle_out: Path | None = None
    docs_out: Path | None = None
    grid: list[FeatureSet] = field(default_factory=default_grid)
    modes: tuple[str, ...] = ("per_anatomy", "joint")
    seeds: tuple[int, ...] = REPEAT_SEEDS
    primary_seed: int = PRIMARY_SEED
    folds: int = 5
    inner_folds: int = 5
    Cs: tuple[float, ...] = C_GRID
    n_boot: int = 2000
    threads: int = 2
    name: str = "osteo-effnet"
    version: str = "2.0.0"
    finetune_results: Path | None = None  # results.json of the shipped fine-tuned run (for its ablation row)
    finetune_512_dir: Path | None = Path("docs/evaluation/finetune_512_gpu")  # GPU fine-tuning runs (training/finetune_row.py)
    verify_films: int = 6
    command: str = ""


def validated_age_range(ages: np.ndarray) -> dict:
    """[max(18, youngest), oldest not isolated]: adults only; the oldest ages more than AGE_GAP_YEARS above the
    next one are left out (at most 1% of the patients, at least one)."""
    a = np.sort(ages[np.isfinite(ages)])
    hi_idx = len(a) - 1
    dropped: list[float] = []
    max_drop = max(1, int(0.01 * len(a)))
    while hi_idx > 0 and len(dropped) < max_drop and a[hi_idx] - a[hi_idx - 1] > AGE_GAP_YEARS:
        dropped.append(float(a[hi_idx]))
        hi_idx -= 1
    lo = max(AGE_MIN_ADULT, int(math.floor(a[0])))
    under = [float(x) for x in a if x < AGE_MIN_ADULT]
    return {
        "min": int(lo), "max": int(math.floor(a[hi_idx])),
        "source": (f"ages of the knee training patients ({len(a)} patients, {a[0]:g}-{a[-1]:g} years): adults only (>= {AGE_MIN_ADULT}; "
                   f"{len(under)} patient(s) younger), up to the oldest patient not isolated by more than {AGE_GAP_YEARS} years "
                   f"from the next ({', '.join(f'{x:g}' for x in dropped) or 'none'} left out). Spine films carry no ages."),
        "data_min": float(a[0]), "data_max": float(a[-1]), "isolated_oldest": dropped, "younger_than_adult": under,
        "quartiles": [float(np.percentile(a, q)) for q in (25, 50, 75)],
    }


def _row_table(summary: list[dict]) -> list[dict]:
    return [{"row": s["row"], "cost": s["cost"], "knee_auc_primary": s["auc_primary"].get("knee"),
             "spine_auc_primary": s["auc_primary"].get("spine"),
             "knee_auc_mean": s["auc_mean_repeats"]["knee"], "spine_auc_mean": s["auc_mean_repeats"]["spine"], "criterion": s["criterion"],
             "criterion_ensemble": s["criterion_ensemble"], "seconds": s["seconds"]} for s in summary]


def run_probe(opt: ProbeOptions) -> dict[str, Any]:
    import torch

    from .probe_export import ATOL, RTOL, assemble, check_size, finite, preprocessing_dict, reference_outputs, verify, write
    from .probe_report import ablation_csv, ablation_markdown, model_card, report_markdown

    torch.set_num_threads(opt.threads)
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    out = Path(opt.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"command": opt.command, "training_package_version": TRAINING_VERSION,
                               "environment": {"python": platform.python_version(), "torch": torch.__version__, "threads": opt.threads,
                                               "machine": platform.machine()}}

    # -- data ------------------------------------------------------------------------------------
    ds = load_screening(opt.data_root)
    paths = [s.path for s in ds.samples]
    results["data"] = ds.summary()
    y, groups, anat = ds.y, ds.groups, ds.anatomies
    ages = np.array([s.age for s in ds.samples], dtype=float)
    sexf = sex_female([s.sex for s in ds.samples])
    cache = EmbeddingCache(opt.cache_dir, opt.threads)

    # -- 1. embeddings of the screening films -----------------------------------------------------
    t = time.perf_counter()
    cache.compute(paths, jobs_for(opt.grid))
    if cache.stats.failed:
        raise ManifestError(f"{len(cache.stats.failed)} screening film(s) cannot be read by the core loader: "
                            f"{list(cache.stats.failed)[:3]}")
    timings["embeddings_screening_s"] = time.perf_counter() - t
    backbones = {fs.start: resolve_backbone(fs.start, fs.architecture)[0] for fs in opt.grid}
    results["backbones"] = {k: {"architecture": b.architecture, "weights_sha256": b.weights_sha256, "source": b.source}
                            for k, b in backbones.items()}
    matrices = {fs.name: fs.matrix(cache, paths) for fs in opt.grid}

    # -- 2. ablation ------------------------------------------------------------------------------
    t = time.perf_counter()
    folds_by_seed = folds_for_seeds(ds, opt.seeds, opt.folds)
    primary = opt.primary_seed if opt.primary_seed in folds_by_seed else opt.seeds[0]
    rows = []
    for fs in opt.grid:
        for mode in opt.modes:
            r = run_row(fs, mode, matrices[fs.name], ds, folds_by_seed, opt.Cs, opt.inner_folds)
            means = [float(np.mean([row_auc(o, y, anat)[a] for o in r.oof.values()])) for a in ANATOMIES]
            log.info("ablation %-22s %-11s knee %.3f spine %.3f (%.0f s)", fs.name, mode, *means, r.seconds)
            rows.append(r)
    summary = summarise(rows, ds, max(100, opt.n_boot // 4))
    winner = select([(s["row"], s["criterion"], s["cost"]) for s in summary], TOLERANCE)
    wsum = next(s for s in summary if s["row"] == winner)
    wrow = next(r for r in rows if r.name == winner)
    use_ensemble = bool(wsum["criterion_ensemble"] > wsum["criterion"])
    timings["ablation_s"] = time.perf_counter() - t
    t = time.perf_counter()
    opt_est = nested_optimism(rows, matrices, ds, folds_by_seed[primary], primary, winner, TOLERANCE, opt.inner_folds)
    timings["optimism_s"] = time.perf_counter() - t
    nested_oof = opt_est.pop("nested_oof")
    finetune = None
    if opt.finetune_results and Path(opt.finetune_results).is_file():
        fr = json.loads(Path(opt.finetune_results).read_text())
        m = fr["cv"]["metrics"]
        fold_s = [float(f.get("seconds") or 0) for f in fr["cv"].get("fold_details", [])]
        size = fr.get("preprocessing", {}).get("input_size") or [256, 256]
        pixel_ratio = (512 * 512) / (int(size[0]) * int(size[1]))
        finetune = {"name": fr.get("name"), "input_size": size,
                    "source": str(opt.finetune_results), "cv_seconds_measured": sum(fold_s), "pixel_ratio_512": pixel_ratio,
                    "cv_seconds_at_512_estimated": sum(fold_s) * pixel_ratio,
                    **{a: {"auc": m[a]["auc_low_bmd"], "auc_ci95": m[a]["ci95"].get("auc_low_bmd")} for a in ANATOMIES if a in m}}
    ft512 = read_finetune_runs(opt.finetune_512_dir) if opt.finetune_512_dir and Path(opt.finetune_512_dir).is_dir() else None
    results["ablation"] = {
        "rows": summary, "table": _row_table(summary), "winner": winner, "selection_rule":
            f"criterion = mean over anatomies of the low-BMD ROC-AUC of out-of-fold image scores, averaged over the splits "
            f"with seeds {list(opt.seeds)}; among rows within {TOLERANCE} of the best, the cheapest forward pass wins, "
            "then the higher criterion",
        "fold_ensemble": {"used": use_ensemble, "criterion_refit": wsum["criterion"], "criterion_ensemble": wsum["criterion_ensemble"],
                          "rule": "the mean of the 5 inner-fold heads replaces the refit only if its criterion is higher"},
        "optimism": opt_est, "finetuned_row": finetune, "finetuned_512": ft512, "seeds": list(opt.seeds), "primary_seed": primary,
        "C_grid": list(opt.Cs), "inner_folds": opt.inner_folds, "folds": opt.folds,
    }
    fs = wrow.feature_set
    X = matrices[fs.name]
    folds = folds_by_seed[primary]

    # -- 3. three scores ----------------------------------------------------------------------------
    t = time.perf_counter()
    oof = wrow.oof_ensemble[primary] if use_ensemble else wrow.oof[primary]
    yb = np.isin(y, LOW_IDX).astype(int)
    scores: dict[str, Any] = {}
    temps: dict[str, float] = {}
    for i, a in enumerate(ANATOMIES):
        m = anat == a
        T = fit_temperature(oof[m], y[m])
        temps[a] = T
        s_img = image_score(oof[m], T)
        img = score_metrics(yb[m], s_img, groups[m], opt.n_boot, 11 + i)
        img["temperature"] = T
        entry: dict[str, Any] = {"image": img, "nested_selection_auc": opt_est["nested_auc"].get(a)}
        has_clin = np.isfinite(ages[m]).all() and np.isfinite(sexf[m]).all()
        if has_clin:
            img["age_band_auc"] = age_band_auc(yb[m], s_img, ages[m], groups[m], opt.n_boot, 21 + i)
            clin_x = np.column_stack([ages[m], sexf[m]])
            nest = nested_combined(X, y, groups, folds, oof, clin_x, m, primary, opt.Cs, opt.inner_folds, use_ensemble,
                                   joint=wrow.mode == "joint")
            clin = score_metrics(yb[m], nest["clinical"], groups[m], opt.n_boot, 31 + i)
            comb = score_metrics(yb[m], nest["combined"], groups[m], opt.n_boot, 41 + i)
            comb["minus_clinical_auc"] = paired_difference(yb[m], nest["combined"], nest["clinical"], groups[m], opt.n_boot, 51 + i)
            img["minus_clinical_auc"] = paired_difference(yb[m], s_img, nest["clinical"], groups[m], opt.n_boot, 61 + i)
            age_only = score_metrics(yb[m], ages[m], groups[m], opt.n_boot, 71 + i)
            entry.update(clinical=clin, combined=comb, age_only={"auc": age_only["auc"], "auc_ci95": age_only["auc_ci95"]},
                         fusion_per_fold=nest["per_fold"])
            entry["_oof"] = {"image": s_img, "clinical": nest["clinical"], "combined": nest["combined"]}
        else:
            entry["clinical_inputs"] = "none: this data set carries no age or sex; the image decides"
            entry["_oof"] = {"image": s_img}
        scores[a] = entry
    timings["scores_s"] = time.perf_counter() - t

    # -- 4. guard + out-of-distribution ---------------------------------------------------------------
    t = time.perf_counter()
    other_rows = read_other(Path(opt.data_root) / "other" / "manifest.csv")
    other_paths = [p for p, _, _ in other_rows]
    cache.compute(other_paths, [Job(fs.start, fs.size, fs.view_keys(), fs.architecture)])
    if cache.stats.failed:
        bad = set(cache.stats.failed)
        log.warning("%d other film(s) unreadable by the core loader are left out of the guard: %s", len(bad), sorted(bad)[:5])
        other_rows = [r for r in other_rows if str(r[0]) not in bad]
        other_paths = [p for p, _, _ in other_rows]
    hashes = phashes(other_paths, Path(opt.cache_dir) / "phash.json", cache.file_sha, display_image)
    ogroups = group_other(other_rows, hashes)
    gfilms = guard_films(ds, folds, other_rows, ogroups, primary, opt.folds)
    Xg = np.concatenate([X, fs.matrix(cache, other_paths)]) if other_paths else X
    yg = np.array([GUARD_CLASSES.index(g.guard_class) for g in gfilms])
    gg = np.array([g.group for g in gfilms])
    gf = np.array([g.fold for g in gfilms])
    gdetail = [g.detail for g in gfilms]
    gcv = guard_cv(Xg, yg, gg, gf, primary, opt.Cs, opt.inner_folds)
    gmet = guard_metrics(gcv["oof"], yg, gg, gdetail, opt.n_boot, 81)
    gmet["C_per_fold"] = gcv["C"]
    is_screen = np.isin(np.array(GUARD_CLASSES)[yg], SCREENABLE)
    d2 = ood_cv(Xg, is_screen, gf, OOD_DIMS)
    gscr = screened(softmax(gcv["oof"]))
    omet = ood_metrics(d2, is_screen, [g.guard_class for g in gfilms], gdetail, gg, gscr, opt.n_boot, 91)
    omet["dims"] = OOD_DIMS
    timings["guard_s"] = time.perf_counter() - t
    results["guard"] = {**gmet, "evaluation": f"patient/group-level {opt.folds}-fold CV (knee/spine: the screening folds; other films: "
                        "stratified group folds; groups = chest patient or near-duplicate pictures)", "n_other_groups": len(set(ogroups))}
    results["ood"] = omet

    # -- 5. age range -------------------------------------------------------------------------------
    results["age_range"] = validated_age_range(ages[anat == "knee"])

    # -- 6. final fit + bundle ------------------------------------------------------------------------
    t = time.perf_counter()
    crit = auc_criterion(LOW_IDX)
    heads = {}
    final_C = {}
    for a in ANATOMIES:
        m = anat == a
        sel = np.ones(len(y), bool) if wrow.mode == "joint" else m
        fit = fit_cv(X[sel], y[sel], groups[sel], 3, crit, opt.Cs, opt.inner_folds, primary)
        if use_ensemble:
            oc = outer_cv(X[sel], y[sel], groups[sel], folds[sel], 3, crit, opt.Cs, opt.inner_folds, primary)
            heads[a] = average_heads([f.head for f in oc["fits"]], fit.head.standardiser)
        else:
            heads[a] = fit.head
        final_C[a] = fit.C
    gfit = fit_cv(Xg, yg, gg, len(GUARD_CLASSES), neg_log_loss, opt.Cs, opt.inner_folds, primary)
    common = Standardiser.fit(X)
    ood = fit_ood(common(X), OOD_DIMS)
    fusion = {}
    m = anat == "knee"
    if "clinical" in scores.get("knee", {}):
        clin_x = np.column_stack([ages[m], sexf[m]])
        fusion["clinical"] = RawLogistic().fit(clin_x, yb[m])
        img_logit = logit(image_score(oof[m], temps["knee"]))
        fusion["combined"] = RawLogistic().fit(np.column_stack([img_logit, clin_x]), yb[m])
    timings["final_fit_s"] = time.perf_counter() - t
    results["final"] = {"C": final_C, "guard_C": gfit.C, "n_screening_films": int(len(y)), "n_guard_films": int(len(yg)),
                        "fold_ensemble": use_ensemble}

    screening_cfg: dict[str, Any] = {}
    for a in ANATOMIES:
        sc = scores[a]
        img = sc["image"]
        e: dict[str, Any] = {"image": {"temperature": temps[a], "threshold": img["threshold"], "goal": img["goal"],
                                       "metrics": {k: v for k, v in img.items() if k not in ("threshold", "goal", "temperature")}}}
        if "clinical" in sc and a == "knee":
            e["clinical"] = {"model": fusion["clinical"].to_dict(CLINICAL_FEATURES), "threshold": sc["clinical"]["threshold"],
                             "goal": sc["clinical"]["goal"], "metrics": _strip(sc["clinical"])}
            e["combined"] = {"model": fusion["combined"].to_dict(COMBINED_FEATURES), "threshold": sc["combined"]["threshold"],
                             "goal": sc["combined"]["goal"], "metrics": _strip(sc["combined"]),
                             "image_logit": "log(s / (1 - s)) of the image score s (after the temperature), clipped to [1e-6, 1 - 1e-6]"}
        else:
            e["clinical_inputs"] = sc.get("clinical_inputs")
        screening_cfg[a] = e
    results["scores"] = {a: {k: v for k, v in sc.items() if k != "_oof"} for a, sc in scores.items()}
    results["timings_s"] = timings

    bundle_info = None
    if opt.bundle_out is not None:
        t = time.perf_counter()
        bb, state = resolve_backbone(fs.start, fs.architecture)
        net = assemble(bb, state, fs, common, heads, gfit.head, ood, ANATOMIES)
        first = ANATOMIES[0]
        config = {
            "format_version": 2, "name": opt.name, "version": opt.version, "architecture": "osteo_pooled_linear",
            "model_kwargs": {"backbone": bb.architecture, "anatomies": list(ANATOMIES), "guard_classes": list(GUARD_CLASSES),
                             "ood_dims": OOD_DIMS, **fs.module_kwargs()},
            "class_names": list(ds.classes), "low_bmd_classes": list(ds.low_bmd_classes),
            "preprocessing": preprocessing_dict(fs.size), "gradcam_layer": "backbone.bn2",
            "threshold": {"value": screening_cfg[first]["image"]["threshold"],
                          "goal": f"{first} image score: " + screening_cfg[first]["image"]["goal"]},
            "temperature": temps[first],
            "anatomies": list(ANATOMIES),
            "guard": {"classes": list(GUARD_CLASSES), "screenable": list(SCREENABLE), "min_probability": MIN_PROBABILITY,
                      "descriptions": {k: DESCRIPTIONS[k] for k in GUARD_CLASSES},
                      "metrics": {"per_class_recall": {c: {"value": v["recall"], "ci95": v["ci95"], "n": v["n"]}
                                                       for c, v in gmet["per_class_recall"].items()},
                                  "confusion": gmet["confusion"], "acceptance": gmet["acceptance"],
                                  "evaluation": results["guard"]["evaluation"]}},
            "ood": {"threshold_d2": omet["threshold_d2"], "rule": omet["rule"], "dims": OOD_DIMS,
                    "metrics": {"auc_out_vs_in": omet["auc_out_vs_in"], "auc_out_vs_in_ci95": omet["auc_out_vs_in_ci95"],
                                "screenable_flagged": omet["screenable_flagged"], "other_flagged": omet["other_flagged"]}},
            "age_range": {k: results["age_range"][k] for k in ("min", "max", "source")},
            "screening": screening_cfg,
            "training_data": results["data"] | {"other_films": len(other_rows),
                                                "note": "development data only; a patient-level held-out split is kept apart "
                                                        "for independent evaluation"},
            "metrics": _v1_metrics(scores, results, opt),
            "training": {"recipe": winner, "feature_set": {k: v for k, v in wsum["feature_set_spec"].items()},
                         "backbone_weights": results["backbones"][fs.start], "fold_ensemble": use_ensemble,
                         "head": "L2 multinomial logistic regression on standardised pooled features, class-balanced, "
                                 "C by inner patient-level CV",
                         "C": final_C, "guard_C": gfit.C, "package": f"osteo-desktop training {TRAINING_VERSION}",
                         "command": opt.command},
        }
        config = finite(config)
        results["bundle_config_preview"] = {k: config[k] for k in ("name", "version", "architecture", "model_kwargs", "preprocessing")}
        card = model_card(finite(results), config)
        b = write(Path(opt.bundle_out), net, config, card)
        mb = check_size(Path(opt.bundle_out))
        # verification on films decoded from scratch: some of each anatomy and of the other films
        pick = _verify_pick(anat, opt.verify_films)
        vpaths = [paths[i] for i in pick] + other_paths[: max(1, opt.verify_films // 3)]
        Xv = np.concatenate([X[pick], fs.matrix(cache, other_paths[: max(1, opt.verify_films // 3)])])
        ref = reference_outputs(Xv, common, heads, gfit.head, ood, ANATOMIES)
        diff = verify(Path(opt.bundle_out), vpaths, ref, fs.size, opt.threads)
        bundle_info = {"path": str(Path(opt.bundle_out).resolve()), "sha256": b.config.sha256, "size_mb": round(mb, 2),
                       "verified_films": len(vpaths), "max_abs_output_diff": diff, "tolerance": f"{ATOL} + {RTOL} x |value|"}
        timings["export_s"] = time.perf_counter() - t
    results["bundle"] = bundle_info
    timings["total_s"] = time.perf_counter() - t_all
    results["timings_s"] = timings
    results["embedding_cache"] = {"root": str(opt.cache_dir), "computed_films": cache.stats.computed, "reused_films": cache.stats.reused,
                                  "extraction_s": cache.stats.seconds, "unreadable": cache.stats.failed}

    # -- reports ----------------------------------------------------------------------------------------
    res = finite(results)
    (out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "ablation.md").write_text(ablation_markdown(res))
    (out / "ablation.csv").write_text(ablation_csv(res))
    (out / "report.md").write_text(report_markdown(res))
    _write_oof(out / "oof_predictions.csv", ds, folds, oof, scores, nested_oof)
    _write_guard_oof(out / "guard_oof.csv", gfilms, gcv["oof"], d2)
    if opt.docs_out is not None:
        d = Path(opt.docs_out)
        d.mkdir(parents=True, exist_ok=True)
        for f in ("results.json", "ablation.md", "ablation.csv", "report.md"):
            shutil.copyfile(out / f, d / f)
        if opt.bundle_out is not None:
            shutil.copyfile(Path(opt.bundle_out) / "MODEL_CARD.md", d / "MODEL_CARD.md")
    return res


def _strip(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in ("threshold", "goal")}


def _verify_pick(anat: np.ndarray, n: int) -> list[int]:
    per = max(1, n // 3)
    return [int(i) for a in ANATOMIES for i in np.flatnonzero(anat == a)[:per]]


def _v1_metrics(scores: dict, results: dict, opt: ProbeOptions) -> dict:
    """The v1 layout (group -> auc_low_bmd, CI, sensitivity, specificity) of the image score, for old readers."""
    out: dict[str, Any] = {"evaluation": f"{opt.folds}-fold patient-level cross-validation (seed {opt.primary_seed}), "
                                         "out-of-fold image scores; "
                                         f"95% CIs by patient bootstrap ({opt.n_boot})"}
    for a, sc in scores.items():
        img = sc["image"]
        out[a] = {"n_images": img["n_images"], "n_patients": img["n_patients"],
                  "auc_low_bmd": img["auc"], "auc_low_bmd_ci95": img["auc_ci95"],
                  "sensitivity": img["sensitivity"], "sensitivity_ci95": img["sensitivity_ci95"],
                  "specificity": img["specificity"], "specificity_ci95": img["specificity_ci95"]}
        if "age_only" in sc:
            out[a]["age_only_auc_low_bmd"] = sc["age_only"]["auc"]
            out[a]["age_only_auc_low_bmd_ci95"] = sc["age_only"]["auc_ci95"]
    return out


def _write_oof(path: Path, ds, folds: np.ndarray, oof: np.ndarray, scores: dict, nested: np.ndarray) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "patient_id", "anatomy", "label", "fold", "logit_normal", "logit_osteopenia", "logit_osteoporosis",
                    "image_score", "clinical_score", "combined_score"])
        pos = {a: 0 for a in ANATOMIES}
        for i, s in enumerate(ds.samples):
            o = scores[s.anatomy]["_oof"]
            j = pos[s.anatomy]
            pos[s.anatomy] += 1
            w.writerow([s.image_id, s.patient_id, s.anatomy, s.label, int(folds[i]), *[f"{v:.5f}" for v in oof[i]],
                        f"{o['image'][j]:.5f}", f"{o['clinical'][j]:.5f}" if "clinical" in o else "",
                        f"{o['combined'][j]:.5f}" if "combined" in o else ""])


def _write_guard_oof(path: Path, films: Sequence, logits: np.ndarray, d2: np.ndarray) -> None:
    p = softmax(logits)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "group", "true_class", "detail", "fold", *[f"p_{c}" for c in GUARD_CLASSES], "d2"])
        for g, pr, d in zip(films, p, d2, strict=True):
            w.writerow([Path(g.path).name, g.group, g.guard_class, g.detail, g.fold, *[f"{v:.4f}" for v in pr], f"{d:.2f}"])
