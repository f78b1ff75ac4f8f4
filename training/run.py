"""One training run: audit -> patient-level K-fold CV (out-of-fold predictions) -> calibration and
operating point -> metrics with patient-bootstrap CIs -> plots and report -> final model on all
development data -> bundle in the core's format (checked by loading it back with the core).

Run folder::

    config.yaml          resolved config (a resume reads it back)
    train.log            log
    audit.md/.json       leakage audit
    splits.csv           the fold of every image (patient-level)
    metrics.csv          per-epoch metrics of every fold and of the final fit
    folds/foldK/         checkpoints (last/best .safetensors, last_optim.pt, last.json), oof_logits.npy, done.json
    oof_predictions.csv  out-of-fold logits, calibrated probabilities, low-BMD score, flag
    results.json         every number the report and the model card quote
    plots/               roc.png, confusion.png, reliability.png, curves.png
    report.md
    final/               final fit on all development data (checkpoints, model.safetensors)
    bundle/              model.safetensors + config.json + MODEL_CARD.md (osteo_desktop.core.bundle)
"""

from __future__ import annotations

import csv
import logging
import math
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from osteo_desktop.core.device import resolve_device
from osteo_desktop.core.preprocessing import PreprocessConfig
from osteo_desktop.core.scoring import is_low_bmd

from ._version import __version__
from .audit import audit, enforce, patient_fold_findings
from .config import drop_removed_keys, dump_config, validate
from .data import Dataset, ImageStore, load_dataset
from .engine import Trainer, load_weights, save_weights, write_json
from .errors import ConfigError, LeakageError
from .metrics import ece, evaluate_all, fit_temperature, low_bmd_score, nll, select_threshold, softmax
from .pretrained import PretrainedResolver
from .splits import inner_split, make_folds

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["stage", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_auc_low_bmd", "seconds"]


class _FileLog:
    def __init__(self, path: Path):
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.handler.setLevel(logging.INFO)

    def __enter__(self):
        root = logging.getLogger()
        root.addHandler(self.handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()


def preprocess_config(cfg: dict, info) -> PreprocessConfig:
    p = cfg["preprocessing"]
    pretrained = info.pretrained_source != "none"
    mean = info.mean if p["mean"] == "auto" and pretrained else ((0.0, 0.0, 0.0) if p["mean"] == "auto" else p["mean"])
    std = info.std if p["std"] == "auto" and pretrained else ((1.0, 1.0, 1.0) if p["std"] == "auto" else p["std"])
    height, width = (int(v) for v in p["input_size"])
    return PreprocessConfig(input_size=(height, width), mean=tuple(float(v) for v in mean),
                            std=tuple(float(v) for v in std), resize=p["resize"], in_chans=3)


def _metrics_sink(path: Path):
    def sink(row: dict) -> None:
        new = not path.is_file()
        with open(path, "a", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return sink


def tc_cudnn_benchmark(cfg: dict) -> bool:
    return bool(cfg["train"].get("cudnn_benchmark", False))


def _median_epoch(values: list[int]) -> int:
    return max(1, int(round(statistics.median(values)))) if values else 1


def train_run(cfg: dict | None, run_dir: str | Path, *, device: str = "auto", allow_leaks: bool = False,
              store: ImageStore | None = None, resume: bool = False, stop_after_epochs: int | None = None,
              export_overrides: dict | None = None) -> dict[str, Any]:
    """Run (or resume) a whole training run into run_dir; returns results (also in results.json)."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if resume:
        if not cfg_path.is_file():
            raise ConfigError(f"{run_dir}: no config.yaml here; not a run folder to resume")
        saved = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        drop_removed_keys(saved, cfg_path)
        if cfg is not None and export_overrides is None and cfg != saved:
            log.warning("--resume uses the run folder's saved config; the config given now is ignored")
        cfg = saved
    elif cfg_path.is_file() and any((run_dir / d).exists() for d in ("folds", "final", "bundle")):
        raise ConfigError(f"{run_dir} already holds a run; resume it with --resume {run_dir} or choose another --out")
    if cfg is None:
        raise ConfigError("no config given: pass one, or resume a run folder (--resume RUN_DIR)")
    if export_overrides:
        for section, values in export_overrides.items():
            cfg[section].update({k: v for k, v in values.items() if v is not None})
    validate(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(dump_config(cfg), encoding="utf-8")
    with _FileLog(run_dir / "train.log"):
        return _train_run(cfg, run_dir, device, allow_leaks or bool(cfg["audit"]["allow_leaks"]), store, stop_after_epochs)


def _train_run(cfg: dict, run_dir: Path, device_name: str, allow_leaks: bool, store: ImageStore | None,
               stop_after_epochs: int | None) -> dict[str, Any]:
    import torch

    t_start = time.time()
    seed = int(cfg["seed"])
    dev = torch.device(resolve_device(device_name))
    log.info("run %s (%s) on %s, torch %s", cfg["name"], run_dir, dev, torch.__version__)
    ds = load_dataset(cfg["data"])
    classes = list(ds.classes)
    low_idx = [classes.index(c) for c in ds.low_bmd_classes]
    resolver = PretrainedResolver(cfg["model"], len(classes), in_chans=3)
    info = resolver.info
    if info.note:
        log.warning("model: %s", info.note)
    pcfg = preprocess_config(cfg, info)
    if store is None:
        store = ImageStore(cfg["data"]["cache_dir"], cfg["data"]["decode_workers"])
    paths = [s.path for s in ds.samples]
    scale = float(cfg["data"].get("cache_scale") or 1.0)
    store.prepare(paths, pcfg, scale)

    rep = audit(ds, store, int(cfg["audit"]["phash_threshold"]), bool(cfg["audit"]["check_flips"]))
    rep.write(run_dir)
    enforce(rep, allow_leaks)

    images = [store.image(p, pcfg, scale) for p in paths]
    y = ds.y
    tscores = np.array([s.t_score for s in ds.samples], dtype=np.float32)
    ages = np.array([s.age for s in ds.samples], dtype=np.float64)
    groups, anat = ds.groups, ds.anatomies
    trainer = Trainer(cfg, images, y, tscores, low_idx, pcfg, dev, resolver.build, _metrics_sink(run_dir / "metrics.csv"))
    trainer.stop_after_epochs = stop_after_epochs
    if dev.type == "cuda":
        # cudnn autotuning re-benchmarks every new batch shape: 25-60 s per shape for Lite0 in bf16 on an
        # H200, far more than a whole 5-epoch fold takes; the heuristics are fast enough here.
        torch.backends.cudnn.benchmark = bool(tc_cudnn_benchmark(cfg))
    tc = cfg["train"]
    epochs = int(tc["epochs"])
    frac = float(tc["inner_val_fraction"])
    select = tc["select"]
    patience = int(tc["early_stopping_patience"])

    results: dict[str, Any] = {
        "name": cfg["name"],
        "description": cfg.get("description", ""),
        "run_dir": str(run_dir),
        "training_package_version": __version__,
        "model": info.to_dict(),
        "preprocessing": pcfg.to_dict(),
        "data": ds.summary(),
        "audit": {"ok": rep.ok, "counts": rep.counts(), "phash_threshold": rep.phash_threshold, "allow_leaks": allow_leaks},
        "recipe": {
            "epochs": epochs, "batch_size": tc["batch_size"], "optimizer": tc["optimizer"], "lr": tc["lr"],
            "weight_decay": tc["weight_decay"], "scheduler": tc["scheduler"], "augment": cfg["augment"],
            "class_weights": tc["class_weights"], "sampler": tc["sampler"], "label_smoothing": tc["label_smoothing"],
            "aux_tscore_weight": tc["aux_tscore_weight"], "inner_val_fraction": frac, "select": select,
            "early_stopping_patience": patience, "tta_hflip": tc["tta_hflip"],
        },
        "environment": {"device": str(dev), "amp_bf16": trainer.amp, "torch": torch.__version__, "python": platform.python_version(),
                        "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None},
    }
    K = int(cfg["cv"]["folds"])
    temperature, thr_info, oof = 1.0, None, None
    if K >= 2:
        folds = make_folds(ds, K, seed, bool(cfg["cv"]["stratify_anatomy"]))
        bad = patient_fold_findings(ds, folds)
        if bad:
            raise LeakageError(f"split puts patients in two folds: {[f.patients[0] for f in bad][:5]}")
        oof = np.full((len(ds), len(classes)), np.nan, dtype=np.float64)
        fold_rows = []
        for k in range(K):
            test = np.flatnonzero(folds == k)
            train = np.flatnonzero(folds != k)
            fit_idx, val_idx = inner_split(ds, train, frac, seed + 7919 * (k + 1))
            fdir = run_dir / "folds" / f"fold{k}"
            done = fdir / "done.json"
            if done.is_file():
                import json

                d = json.loads(done.read_text(encoding="utf-8"))
                logits = np.load(fdir / "oof_logits.npy", allow_pickle=False)
                log.info("fold %d: already done (resume)", k)
            else:
                net, fr = trainer.fit(f"fold{k}", fit_idx, val_idx, epochs, fdir, seed * 100 + k, select, patience)
                logits = trainer.predict_logits(net, test)
                np.save(fdir / "oof_logits.npy", logits.astype(np.float64), allow_pickle=False)
                d = {"fold": k, "epochs_run": fr.epochs_run, "best_epoch": fr.best_epoch, "seconds": round(fr.seconds, 2),
                     "history": [{"epoch": h["epoch"], "seconds": h["seconds"]} for h in fr.history],
                     "n_fit": int(len(fit_idx)), "n_val": int(len(val_idx)), "n_test": int(len(test)),
                     "test_patients": int(len(set(groups[test])))}
                write_json(done, d)
                (fdir / "last_optim.pt").unlink(missing_ok=True)  # only needed mid-fold
                del net
            oof[test] = logits
            fold_rows.append(d)
        _write_splits(run_dir / "splits.csv", ds, folds)
        y_bin = ds.low_bmd_mask.astype(int)
        if cfg["screening"]["calibrate_temperature"]:
            temperature = fit_temperature(oof, y)
        probs_raw = softmax(oof)
        probs = softmax(oof, temperature)
        score = low_bmd_score(probs, low_idx)
        thr_info = select_threshold(y_bin, score, float(cfg["screening"]["goal_sensitivity"]))
        n_boot = int(cfg["cv"]["bootstrap"])
        metrics = evaluate_all(y, probs, groups, anat, classes, low_idx, thr_info["threshold"], ages, n_boot, seed)
        epoch_secs = [r["seconds"] for d in fold_rows for r in d.get("history", [])]
        results["cv"] = {
            "folds": K,
            "median_epoch_seconds": float(np.median(epoch_secs)) if epoch_secs else None,
            "fold_details": fold_rows,
            "best_epochs": [r["best_epoch"] for r in fold_rows],
            "bootstrap": n_boot,
            "temperature": temperature,
            "calibration": {
                "nll_before": nll(oof, y), "nll_after": nll(oof, y, temperature),
                "ece_low_bmd_before": ece(y_bin, low_bmd_score(probs_raw, low_idx)), "ece_low_bmd_after": ece(y_bin, score),
            },
            "operating_point": thr_info,
            "metrics": metrics,
        }
        _write_oof(run_dir / "oof_predictions.csv", ds, folds, oof, probs, score, thr_info["threshold"])
        try:
            from .plots import write_plots

            write_plots(run_dir / "plots", results, y, probs, probs_raw, score, ages, anat, classes, low_idx, thr_info["threshold"],
                        run_dir / "metrics.csv")
        except Exception as e:  # plots must never lose a run
            log.warning("plots failed: %s", e)
        m = metrics["overall"]
        log.info("CV %s: accuracy %.3f, macro-F1 %.3f, low-BMD AUC %.3f; threshold %.3f gives sensitivity %.3f, specificity %.3f; T=%.2f",
                 cfg["name"], m["accuracy"], m["macro_f1"], m["auc_low_bmd"], thr_info["threshold"], thr_info["sensitivity"],
                 thr_info["specificity"], temperature)
    else:
        log.warning("cv.folds=0: no cross-validation, so no honest metrics, no tuned threshold and no calibration")
        results["cv"] = None

    results["seconds_cv"] = round(time.time() - t_start, 1)
    write_json(run_dir / "results.json", results)

    if cfg["final"]["fit"]:
        fe = cfg["final"]["epochs"]
        if fe == "auto":
            fe = _median_epoch(results["cv"]["best_epochs"]) if (select == "best" and results["cv"]) else epochs
        fe = int(fe)
        fdir = run_dir / "final"
        t_final = time.time()
        if (fdir / "model.safetensors").is_file():
            log.info("final model already trained (resume)")
            state = load_weights(fdir / "model.safetensors")
            net = trainer.new_net()
            net.backbone.load_state_dict(state)
        else:
            net, fr = trainer.fit("final", np.arange(len(ds)), np.array([], dtype=np.int64), fe, fdir, seed * 100 + 99, "last", 0)
            save_weights(net.backbone.state_dict(), fdir / "model.safetensors")
            (fdir / "last_optim.pt").unlink(missing_ok=True)
        results["final"] = {"epochs": fe, "n_images": len(ds), "n_patients": int(len(set(groups))),
                            "seconds": round(time.time() - t_final, 1),
                            "epochs_rule": ("fixed by final.epochs" if cfg["final"]["epochs"] != "auto" else
                                            "median best inner-validation epoch over folds" if select == "best" and results["cv"]
                                            else "train.epochs")}
        from .export import export_bundle

        bundle = export_bundle(run_dir, net, trainer, cfg, results, info, pcfg, classes, temperature, thr_info)
        results["bundle"] = bundle
    results["seconds_total"] = round(time.time() - t_start, 1)
    write_json(run_dir / "results.json", results)
    from .report import write_report

    write_report(run_dir, results)
    return results


def _write_splits(path: Path, ds: Dataset, folds: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["anatomy", "image_id", "patient_id", "label", "fold"])
        for s, k in zip(ds.samples, folds, strict=True):
            w.writerow([s.anatomy, s.image_id, s.patient_id, s.label, int(k)])


def _write_oof(path: Path, ds: Dataset, folds: np.ndarray, logits: np.ndarray, probs: np.ndarray, score: np.ndarray, thr: float) -> None:
    classes = list(ds.classes)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["anatomy", "image_id", "patient_id", "label", "fold", "t_score", "age"] + [f"logit_{c}" for c in classes]
                   + [f"prob_{c}" for c in classes] + ["predicted", "low_bmd_score", "flagged"])
        for i, s in enumerate(ds.samples):
            w.writerow([s.anatomy, s.image_id, s.patient_id, s.label, int(folds[i]),
                        "" if math.isnan(s.t_score) else s.t_score, "" if math.isnan(s.age) else s.age]
                       + [f"{v:.6f}" for v in logits[i]] + [f"{v:.6f}" for v in probs[i]]
                       + [classes[int(probs[i].argmax())], f"{score[i]:.6f}", int(is_low_bmd(float(score[i]), thr))])
