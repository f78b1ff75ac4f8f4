"""Build a timm model for a bundle and load its safetensors weights (never unpickles)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .bundle import Bundle
from .errors import BundleError

if TYPE_CHECKING:  # torch is imported lazily: the GUI must show its window before torch loads
    import torch

log = logging.getLogger(__name__)


def create_model(architecture: str, num_classes: int, in_chans: int = 3, **kwargs) -> torch.nn.Module:
    """A timm model with random weights (pretrained starts are the training package's business)."""
    import timm

    from . import architectures, probe  # noqa: F401  (register the project's own architectures with timm)

    try:
        return timm.create_model(architecture, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)
    except Exception as e:  # timm and the model classes raise anything on bad arguments (IndexError, KeyError...)
        raise BundleError(f"bundle invalid: cannot build architecture {architecture!r} ({type(e).__name__}: {e})") from e


def load_model(bundle: Bundle) -> torch.nn.Module:
    """Instantiate the bundle's architecture and load its verified weights; returns eval mode, CPU."""
    from safetensors.torch import load_file

    cfg = bundle.config
    model = create_model(cfg.architecture, len(cfg.class_names), cfg.preprocessing.in_chans, **cfg.model_kwargs)
    try:
        state = load_file(str(bundle.weights_path), device="cpu")
    except Exception as e:  # safetensors raises several types for a corrupt header
        raise BundleError(f"{bundle.weights_path}: not a readable safetensors file ({e}). Reinstall the bundle.") from e
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        msg_lines = str(e).splitlines()
        detail = msg_lines[1].strip() if len(msg_lines) > 1 else e
        raise BundleError(
            f"{bundle.weights_path}: weights do not fit architecture {cfg.architecture!r} ({detail}). "
            "The config.json and the weights come from different models."
        ) from e
    if missing or unexpected:
        raise BundleError(
            f"{bundle.weights_path}: weights do not match architecture {cfg.architecture!r} "
            f"({len(missing)} missing, {len(unexpected)} unexpected keys, e.g. {(list(missing) + list(unexpected))[:3]}). "
            "The config.json and the weights come from different models."
        )
    _warn_on_other_versions(bundle)
    model.eval()
    return model


def _major_minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def _warn_on_other_versions(bundle: Bundle) -> None:
    """A bundle trained with another torch/timm minor version still loads (safetensors, same layers),
    but its outputs may differ in the last digits: say so once, in the log."""
    if not bundle.config.trained_with:
        return
    from .bundle import runtime_versions

    here = runtime_versions()
    for lib, trained in sorted(bundle.config.trained_with.items()):
        now = here.get(lib)
        if now is not None and _major_minor(trained) != _major_minor(now):
            log.warning("model %s was trained with %s %s; this is %s %s (results may differ slightly)",
                        bundle.config.name, lib, trained, lib, now)
