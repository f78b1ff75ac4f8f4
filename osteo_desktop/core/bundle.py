"""Model bundles: a folder with `model.safetensors`, `config.json` and `MODEL_CARD.md`.

`config.json` carries what timm calls the pretrained config (architecture, input size, mean/std,
class names) plus what a screening tool needs beside the weights (operating threshold and the goal
it was tuned for, temperature, version, sha256 of the weights, training data summary, validation
metrics). The loader verifies the sha256 before it reads a single weight and never unpickles.

`format_version` says how to read the rest: 1 (a timm classifier: logits of the classes) and 2
(the frozen-feature model, `core.probe`) are read; any other is refused with a message that says to
update osteo-desktop. Bundles written from now on record the torch and timm versions they were
trained with (`trained_with`); older ones simply do not have it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BundleError, BundleIntegrityError, NoBundleError
from .preprocessing import PreprocessConfig

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "MODEL_CARD.md"
FORMAT_VERSION = 1  # what write_bundle records unless the config says otherwise
SUPPORTED_FORMATS = (1, 2)
DEFAULT_CLASSES = ("normal", "osteopenia", "osteoporosis")
DEFAULT_LOW_BMD = ("osteopenia", "osteoporosis")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class BundleConfig:
    name: str
    version: str
    architecture: str  # a timm model name, e.g. "efficientnet_b0"
    class_names: tuple[str, ...] = DEFAULT_CLASSES
    low_bmd_classes: tuple[str, ...] = DEFAULT_LOW_BMD
    preprocessing: PreprocessConfig = field(default_factory=PreprocessConfig)
    threshold: float = 0.5  # on the low-bone-density score
    threshold_goal: str = "not tuned (default 0.5)"
    temperature: float = 1.0  # logits are divided by this before the softmax
    sha256: str = ""
    anatomies: tuple[str, ...] = ("knee", "spine")
    gradcam_layer: str = ""  # module path of the Grad-CAM target layer; "" = auto
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    trained_with: dict[str, str] = field(default_factory=dict)  # {"torch": "2.x", "timm": "1.x"}; {} = not recorded
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config.json") -> BundleConfig:
        """Read a config; anything that could give wrong results is refused (`bundle_validation`)."""
        from .bundle_validation import check_raw, validate_config

        check_raw(d, source)
        try:
            thr = d.get("threshold", {})
            if not isinstance(thr, dict):
                thr = {"value": thr}
            known = {
                "format_version", "name", "version", "architecture", "class_names", "low_bmd_classes",
                "preprocessing", "threshold", "temperature", "sha256", "anatomies", "gradcam_layer",
                "model_kwargs", "training_data", "metrics", "weights_file", "trained_with",
            }
            version = d.get("format_version", 1)  # bundles from before the key existed are format 1
            cfg = cls(
                name=str(d["name"]),
                version=str(d["version"]),
                architecture=str(d["architecture"]),
                class_names=tuple(d.get("class_names", DEFAULT_CLASSES)),
                low_bmd_classes=tuple(d.get("low_bmd_classes", DEFAULT_LOW_BMD)),
                preprocessing=PreprocessConfig.from_dict(d.get("preprocessing", {})),
                threshold=float(thr.get("value", 0.5)),
                threshold_goal=str(thr.get("goal", "not tuned (default 0.5)")),
                temperature=float(d.get("temperature", 1.0)),
                sha256=str(d.get("sha256", "")),
                anatomies=tuple(d.get("anatomies", ("knee", "spine"))),
                gradcam_layer=str(d.get("gradcam_layer", "")),
                model_kwargs=dict(d.get("model_kwargs", {})),
                training_data=dict(d.get("training_data", {})),
                metrics=dict(d.get("metrics", {})),
                format_version=version,
                trained_with={str(k): str(v) for k, v in dict(d.get("trained_with", {})).items()},
                extra={k: v for k, v in d.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            raise BundleError(
                f"{source}: bundle invalid: malformed config ({e!r}). Re-export the bundle with osteo-train."
            ) from e
        if isinstance(cfg.format_version, bool) or cfg.format_version not in SUPPORTED_FORMATS:
            from .. import __version__

            raise BundleError(
                f"{source}: bundle format_version {cfg.format_version!r} is not one this osteo-desktop {__version__} "
                f"reads ({', '.join(map(str, SUPPORTED_FORMATS))}). Update osteo-desktop, or use a bundle exported "
                "for this version."
            )
        validate_config(cfg, source)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format_version": self.format_version,
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "model_kwargs": self.model_kwargs,
            "class_names": list(self.class_names),
            "low_bmd_classes": list(self.low_bmd_classes),
            "preprocessing": self.preprocessing.to_dict(),
            "threshold": {"value": self.threshold, "goal": self.threshold_goal},
            "temperature": self.temperature,
            "weights_file": WEIGHTS_FILE,
            "sha256": self.sha256,
            "anatomies": list(self.anatomies),
            "gradcam_layer": self.gradcam_layer,
            "training_data": self.training_data,
            "metrics": self.metrics,
        }
        if self.trained_with:
            d["trained_with"] = dict(self.trained_with)
        d.update(self.extra)
        return d


@dataclass(frozen=True)
class Bundle:
    path: Path
    config: BundleConfig

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def card_path(self) -> Path:
        return self.path / CARD_FILE

    @property
    def sha256_short(self) -> str:
        return self.config.sha256[:12]


def default_bundle_dir() -> Path | None:
    """$OSTEO_BUNDLE, else the bundled `model_weights/` beside the package (or inside a frozen app)."""
    env = os.environ.get("OSTEO_BUNDLE")
    if env:
        return Path(env)
    from ..resources_path import project_path

    p = project_path("model_weights")
    return p if (p / CONFIG_FILE).is_file() else None


def read_bundle(path: str | os.PathLike[str] | None = None, verify: bool = True) -> Bundle:
    """Read and check a bundle folder (no weights loaded). Raises NoBundleError / BundleError."""
    if path is None:
        found = default_bundle_dir()
        if found is None:
            raise NoBundleError(
                "No model bundle is installed (model_weights/config.json not found). "
                "Pass --bundle DIR, set OSTEO_BUNDLE, or train one with `osteo-train`."
            )
        path = found
    folder = Path(path)
    cfg_path = folder / CONFIG_FILE
    if not cfg_path.is_file():
        raise NoBundleError(
            f"{folder}: no {CONFIG_FILE} here, so this is not a model bundle. Point --bundle at a folder made by osteo-train."
        )
    try:
        data = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BundleError(f"{cfg_path}: cannot read ({e}). Re-export the bundle.") from e
    cfg = BundleConfig.from_dict(data, source=str(cfg_path))
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise BundleError(f"{weights}: weights file missing. Copy the whole bundle folder, not only config.json.")
    if verify:
        if not cfg.sha256:
            raise BundleIntegrityError(f"{cfg_path}: no sha256 recorded for {WEIGHTS_FILE}; refusing unverified weights.")
        actual = sha256_file(weights)
        if actual != cfg.sha256:
            raise BundleIntegrityError(
                f"{weights}: sha256 {actual[:12]}… does not match {cfg.sha256[:12]}… recorded in {CONFIG_FILE}. "
                "The weights are corrupt or were replaced: reinstall the bundle."
            )
    return Bundle(folder, cfg)


def runtime_versions() -> dict[str, str]:
    """The torch and timm versions of this process (a bundle written here was trained with them)."""
    import timm
    import torch

    return {"torch": str(torch.__version__), "timm": str(timm.__version__)}


def write_bundle(folder: str | os.PathLike[str], state_dict: dict, config: BundleConfig, model_card: str) -> Bundle:
    """Write weights (safetensors), config.json with their sha256 and the torch/timm versions of this
    process (`trained_with`, unless the config already names them), and MODEL_CARD.md."""
    from dataclasses import replace

    from safetensors.torch import save

    from .atomic import atomic_write_bytes, atomic_write_text
    from .bundle_validation import validate_config

    validate_config(config, "the bundle config")  # never write a bundle the app would refuse
    out = Path(folder)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    # one metadata key only: the file (and so its sha256) depends on the weights alone
    atomic_write_bytes(out / WEIGHTS_FILE, save(tensors, metadata={"format": "pt"}))
    cfg = replace(config, sha256=sha256_file(out / WEIGHTS_FILE), trained_with=config.trained_with or runtime_versions())
    atomic_write_text(out / CONFIG_FILE, json.dumps(cfg.to_dict(), indent=2) + "\n")
    atomic_write_bytes(out / CARD_FILE, model_card.encode("utf-8"))
    return Bundle(out, cfg)
