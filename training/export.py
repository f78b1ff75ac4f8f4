"""Export the final model as a bundle in the core's format and check it with the core's own loader."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from osteo_desktop.core.bundle import BundleConfig, read_bundle, write_bundle
from osteo_desktop.core.model import load_model
from osteo_desktop.core.preprocessing import PreprocessConfig

from .errors import TrainingError

log = logging.getLogger(__name__)

#: logits of the exported bundle (CPU, float32) must match the trained model's within this
MAX_EXPORT_DIFF = 1e-3


def _compact_metrics(results: dict) -> dict[str, Any]:
    cv = results.get("cv")
    if not cv:
        return {"note": "no cross-validation was run: no validated metrics"}
    out: dict[str, Any] = {"evaluation": f"{cv['folds']}-fold patient-level cross-validation, out-of-fold predictions; "
                                         f"95% CIs by patient bootstrap ({cv['bootstrap']})"}
    for group, m in cv["metrics"].items():
        out[group] = {
            "n_images": m["n_images"], "n_patients": m["n_patients"],
            "accuracy": m["accuracy"], "accuracy_ci95": m["ci95"].get("accuracy"),
            "macro_f1": m["macro_f1"], "macro_f1_ci95": m["ci95"].get("macro_f1"),
            "auc_low_bmd": m["auc_low_bmd"], "auc_low_bmd_ci95": m["ci95"].get("auc_low_bmd"),
            "sensitivity": m["screening"]["sensitivity"], "sensitivity_ci95": m["ci95"].get("sensitivity"),
            "specificity": m["screening"]["specificity"], "specificity_ci95": m["ci95"].get("specificity"),
            "majority_class_accuracy": m["majority_class_accuracy"],
        }
        if m.get("age_baseline"):
            out[group]["age_only_auc_low_bmd"] = m["age_baseline"]["auc_age"]
            out[group]["age_only_auc_low_bmd_ci95"] = m["age_baseline"]["auc_age_ci95"]
    return out


def export_bundle(run_dir: Path, net, trainer, cfg: dict, results: dict, info, pcfg: PreprocessConfig, classes: list[str],
                  temperature: float, thr_info: dict | None, out_dir: Path | None = None) -> dict[str, Any]:
    from .report import model_card

    out = Path(out_dir) if out_dir else run_dir / "bundle"
    ex = cfg["export"]
    thr = float(thr_info["threshold"]) if thr_info else 0.5
    goal = thr_info["goal"] if thr_info else "not tuned (no cross-validation; default 0.5)"
    bcfg = BundleConfig(
        name=str(ex["name"]),
        version=str(ex["version"]),
        architecture=info.architecture,
        class_names=tuple(classes),
        low_bmd_classes=tuple(cfg["data"]["low_bmd_classes"]),
        preprocessing=pcfg,
        threshold=thr,
        threshold_goal=goal,
        temperature=float(temperature),
        anatomies=tuple(sorted(results["data"]["by_anatomy"])),
        model_kwargs=dict(info.kwargs),
        training_data=results["data"]
        | {"note": "development data only; a patient-level held-out split is kept apart for independent evaluation"},
        metrics=_compact_metrics(results),
        extra={
            "training": {
                "recipe_name": cfg["name"], "requested_architecture": info.requested_architecture,
                "pretrained_start": info.pretrained_source, "note": info.note,
                "final_epochs": results.get("final", {}).get("epochs"), "seed": cfg["seed"],
                "tta_hflip_in_validation": bool(cfg["train"]["tta_hflip"]),
                "operating_point_on_oof": thr_info,
                "package": f"osteo-desktop training {results.get('training_package_version')}",
            }
        },
    )
    ablation_md = None
    if ex.get("ablation_table"):
        p = Path(ex["ablation_table"])
        if p.is_file():
            ablation_md = p.read_text(encoding="utf-8")
        else:
            log.warning("export.ablation_table %s not found; the card will say so", p)
    card = model_card(results, bcfg, ablation_md)
    state = {k: v.detach().cpu() for k, v in net.backbone.state_dict().items()}
    bundle = write_bundle(out, state, bcfg, card)
    diff = verify_bundle(out, net, trainer)
    log.info("bundle written to %s (sha256 %s…); core-loaded logits match the trained model (max |diff| %.2e)",
             out, bundle.config.sha256[:12], diff)
    return {"path": str(out), "sha256": bundle.config.sha256, "name": bcfg.name, "version": bcfg.version,
            "architecture": bcfg.architecture, "threshold": thr, "temperature": float(temperature),
            "max_abs_logit_diff_core_vs_training": diff}


def verify_bundle(folder: Path, net, trainer, n: int = 4) -> float:
    """Load the bundle with the core (sha256 checked, safetensors) and compare logits on a few films."""
    b = read_bundle(folder)
    core_model = load_model(b)
    idx = np.arange(min(n, len(trainer.images)))
    from osteo_desktop.core.preprocessing import preprocess_image

    x = torch.from_numpy(np.stack([preprocess_image(trainer.images[i], b.config.preprocessing)[0] for i in idx]))
    with torch.no_grad():
        ref = net.backbone.to("cpu").float().eval()(x.contiguous())
        got = core_model(x)
    net.backbone.to(trainer.device)
    diff = float((ref - got).abs().max())
    if not math.isfinite(diff) or diff > MAX_EXPORT_DIFF:
        raise TrainingError(f"{folder}: the exported bundle's logits differ from the trained model's by {diff:.3g}")
    return diff
