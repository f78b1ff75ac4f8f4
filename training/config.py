"""Training configs: YAML files merged over DEFAULTS, plus dotted ``--set a.b=value`` overrides.

Unknown keys are errors (a typo must not silently fall back to a default). Free-form mappings
(``model.kwargs``) accept anything. Values given with --set are parsed as YAML (``[384, 384]``,
``null``, ``true``, ``1e-4``).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
CLASS_NAMES = ("normal", "osteopenia", "osteoporosis")
LOW_BMD = ("osteopenia", "osteoporosis")

#: Keys whose values are free-form mappings (not checked against DEFAULTS).
FREE_FORM = {"model.kwargs"}

DEFAULTS: dict[str, Any] = {
    "name": "run",
    "description": "",
    "seed": 42,
    "data": {
        # Manifest CSVs (file, patient_id, label; optional image_id, t_score, z_score, age, sex,
        # anatomy, fold). Relative `file` paths are relative to the manifest's folder.
        "manifests": [],
        # Alternatively folders laid out as ROOT/<class>/<image> (each image its own patient).
        "class_folders": [],
        "classes": list(CLASS_NAMES),
        "low_bmd_classes": list(LOW_BMD),
        "limit_per_class": None,  # smoke runs: at most N patients per (anatomy, class)
        "cache_dir": None,  # optional disk cache of rendered+resized images (npy)
        "cache_scale": 1.0,  # cache images at this multiple of the model input (>1 keeps texture for crops)
        "decode_workers": 4,
    },
    "audit": {
        "phash_threshold": 20,  # Hamming distance (of 256 bits) at or under which two images are near duplicates
        "check_flips": True,  # also compare against the horizontally flipped image
        "allow_leaks": False,
    },
    "model": {
        "architecture": "efficientnet_b0",  # any timm name, or "osteo_cnn" (osteo_desktop.core.architectures)
        # none | hub (timm/HF hub, online only) | lite0-package | /path/to/weights.safetensors|.pth
        "pretrained": "none",
        # used when `pretrained` cannot be had: none | lite0-package | error
        "pretrained_fallback": "error",
        "fallback_architecture": "tf_efficientnet_lite0",  # architecture that goes with the fallback weights
        "drop_rate": None,  # None: the architecture's default
        "kwargs": {},
    },
    "preprocessing": {
        "input_size": [512, 512],
        "resize": "letterbox",
        # "auto": the pretrained weights' own mean/std when a pretrained start is used, else 0/1
        # (pixels in [0, 1], as the paper).
        "mean": "auto",
        "std": "auto",
    },
    "augment": {
        "enabled": True,
        "rotation_deg": 15.0,
        "hflip": True,
        "brightness": 0.2,  # multiplicative, factor in [1 - b, 1 + b]
        "contrast": 0.0,  # factor in [1 - c, 1 + c] around the image mean
        "crop_scale": None,  # e.g. [0.7, 1.0]: random crop keeping this fraction of the area
    },
    "train": {
        "epochs": 5,
        "batch_size": 32,
        "optimizer": "adam",  # adam | adamw | sgd
        "lr": 1.0e-4,
        "weight_decay": 1.0e-5,
        "scheduler": "none",  # none | cosine
        "warmup_epochs": 0,
        "label_smoothing": 0.0,
        "class_weights": "none",  # none | balanced
        "sampler": "none",  # none | balanced
        "aux_tscore_weight": 0.0,  # >0: T-score regression head (where known), dropped at export
        "inner_val_fraction": 0.0,  # patient-level validation split taken from the TRAINING folds only
        "select": "last",  # last | best (best epoch on the inner validation split)
        "select_metric": "val_loss",  # val_loss | val_auc
        "early_stopping_patience": 0,  # 0 = off; needs inner_val_fraction > 0
        "tta_hflip": False,  # average logits of the image and its mirror at evaluation
        "num_workers": "auto",  # threads making augmented batches (auto: 0 on CPU, cores-2 up to 14 on CUDA)
        "amp": "auto",  # auto (bf16 on CUDA) | off
        "channels_last": "auto",
        "cudnn_benchmark": False,  # autotuning costs 25-60 s per new batch shape (Lite0, bf16, H200)
        "checkpoint_every": 1,  # epochs between resumable checkpoints (0 = only at the end of a fold)
        "log_every": 0,
    },
    "cv": {
        "folds": 5,
        "bootstrap": 1000,
        "stratify_anatomy": True,  # stratify on anatomy x label where every stratum has >= folds patients
    },
    "final": {
        "fit": True,  # after CV, retrain on all development data and export the bundle
        "epochs": "auto",  # auto: train.epochs, or the median best epoch over folds when select=best
    },
    "screening": {
        "goal_sensitivity": 0.90,
        "calibrate_temperature": True,
    },
    "export": {
        "name": "osteo-effnet",
        "version": "1.0.0",
        "ablation_table": None,  # path to an ablation.md to include in the model card
    },
}


def deep_merge(base: dict, override: dict, path: str = "", strict: bool = True) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        dotted = f"{path}.{key}" if path else key
        if strict and key not in base and path not in FREE_FORM:
            raise ConfigError(f"unknown config key {dotted!r} (known under {path or 'top level'}: {sorted(base)})")
        if isinstance(value, dict) and isinstance(base.get(key), dict) and dotted not in FREE_FORM:
            out[key] = deep_merge(base[key], value, dotted, strict)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.epochs=10")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(f"--set {text!r}: malformed key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text!r}: value is not valid YAML ({e})") from e
    return key.split("."), _number(value)


def _number(value: Any) -> Any:
    """YAML 1.1 reads '3e-4' as a string; take it as the number it means."""
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return value
        return int(f) if f.is_integer() and "e" not in value.lower() and "." not in value else f
    return value


def _coerce_numbers(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _coerce_numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_coerce_numbers(v) for v in node]
    return _number(node)


def apply_overrides(cfg: dict, overrides: list[str] | None) -> dict:
    cfg = copy.deepcopy(cfg)
    for text in overrides or []:
        parts, value = parse_override(text)
        node, walked = cfg, []
        for p in parts[:-1]:
            walked.append(p)
            if ".".join(walked) in FREE_FORM:
                node = node.setdefault(p, {})
                continue
            if not isinstance(node, dict) or p not in node or not isinstance(node[p], dict):
                raise ConfigError(f"--set {text!r}: no config section {'.'.join(walked)!r}")
            node = node[p]
        leaf = parts[-1]
        parent = ".".join(parts[:-1])
        if parent not in FREE_FORM and leaf not in node:
            raise ConfigError(f"--set {text!r}: unknown key {'.'.join(parts)!r} (known: {sorted(node)})")
        node[leaf] = value
    return cfg


def drop_removed_keys(data: dict, source: Path) -> None:
    """`data.loader` is gone: training reads films only through the core's film loader. Configs of
    earlier runs (resume) say `auto` or `core`, which is what now always happens; `cv2` cannot be."""
    section = data.get("data")
    if not isinstance(section, dict) or "loader" not in section:
        return
    value = section.pop("loader")
    if value not in ("auto", "core"):
        raise ConfigError(f"{source}: data.loader {value!r} was removed: training reads every film through the "
                          "application's film loader (osteo_desktop.core.loading). Delete the data.loader line.")
    log.debug("%s: data.loader %r ignored (the core film loader is always used)", source, value)


def resolve_config_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.is_file():
        return p
    for cand in (CONFIG_DIR / f"{name_or_path}.yaml", CONFIG_DIR / str(name_or_path)):
        if cand.is_file():
            return cand
    raise ConfigError(f"config {str(name_or_path)!r} not found (a YAML path, or one of {list_configs()})")


def list_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> dict:
    """DEFAULTS <- YAML file <- --set overrides, validated."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        p = resolve_config_path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{p}: cannot read config ({e})") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: a config must be a YAML mapping")
        drop_removed_keys(data, p)
        try:
            cfg = deep_merge(cfg, data)
        except ConfigError as e:
            raise ConfigError(f"{p}: {e}") from e
        if cfg["name"] == "run":
            cfg["name"] = p.stem
        for key in ("manifests", "class_folders"):  # relative data paths in a file are relative to the file
            given = data.get("data", {}).get(key)
            if given:
                cfg["data"][key] = [str((p.parent / v).resolve()) if not Path(v).is_absolute() else v for v in given]
    cfg = apply_overrides(cfg, overrides)
    for section in ("train", "augment", "audit", "cv", "screening", "preprocessing"):
        cfg[section] = _coerce_numbers(cfg[section])
    validate(cfg)
    return cfg


def _choice(cfg: dict, dotted: str, allowed: tuple) -> None:
    node: Any = cfg
    for p in dotted.split("."):
        node = node[p]
    if node not in allowed:
        raise ConfigError(f"{dotted}: {node!r} is not one of {list(allowed)}")


def validate(cfg: dict) -> None:
    _choice(cfg, "train.optimizer", ("adam", "adamw", "sgd"))
    _choice(cfg, "train.scheduler", ("none", "cosine"))
    _choice(cfg, "train.class_weights", ("none", "balanced"))
    _choice(cfg, "train.sampler", ("none", "balanced"))
    _choice(cfg, "train.select", ("last", "best"))
    _choice(cfg, "train.select_metric", ("val_loss", "val_auc"))
    _choice(cfg, "preprocessing.resize", ("letterbox", "stretch"))
    _choice(cfg, "model.pretrained_fallback", ("none", "lite0-package", "error"))
    t = cfg["train"]
    if int(t["epochs"]) < 1:
        raise ConfigError("train.epochs must be >= 1")
    if int(t["batch_size"]) < 1:
        raise ConfigError("train.batch_size must be >= 1")
    if not 0.0 <= float(t["inner_val_fraction"]) < 0.5:
        raise ConfigError("train.inner_val_fraction must be in [0, 0.5)")
    if (t["select"] == "best" or int(t["early_stopping_patience"]) > 0) and float(t["inner_val_fraction"]) <= 0:
        raise ConfigError("train.select=best and early stopping need an inner validation split: set train.inner_val_fraction (e.g. 0.2)")
    folds = int(cfg["cv"]["folds"])
    if folds == 1 or folds < 0:
        raise ConfigError("cv.folds must be 0 (no cross-validation) or >= 2")
    size = cfg["preprocessing"]["input_size"]
    if isinstance(size, int):
        cfg["preprocessing"]["input_size"] = [size, size]
    elif not (isinstance(size, (list, tuple)) and len(size) == 2 and all(int(v) > 0 for v in size)):
        raise ConfigError(f"preprocessing.input_size must be [height, width], got {size!r}")
    goal = float(cfg["screening"]["goal_sensitivity"])
    if not 0.0 < goal <= 1.0:
        raise ConfigError("screening.goal_sensitivity must be in (0, 1]")
    classes = list(cfg["data"]["classes"])
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ConfigError(f"data.classes must be >= 2 distinct names, got {classes}")
    missing = set(cfg["data"]["low_bmd_classes"]) - set(classes)
    if missing:
        raise ConfigError(f"data.low_bmd_classes {sorted(missing)} are not among data.classes {classes}")
    if not set(classes) - set(cfg["data"]["low_bmd_classes"]):
        raise ConfigError("at least one class must be outside data.low_bmd_classes (the 'normal' class)")


def dump_config(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None)
