"""Final fit of the frozen-feature model and its export as bundle format 2 (osteo_pooled_linear).

The module is `osteo_desktop.core.probe.PooledLinearNet`: the frozen backbone's ImageNet weights, one
standardisation (``feat_mean``/``feat_std``: the screenable training films), the guard head, one head
per anatomy and the Mahalanobis buffers. Every head was fitted with its own standardisation and is
rebased exactly onto the common one (`LinearHead.rebased`). After writing, the bundle is read back by
the core (sha256 verified, safetensors), and its outputs on real films - decoded, rendered and
preprocessed from scratch - are compared with the training computation from the cached features.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from osteo_desktop.core.bundle import BundleConfig, read_bundle, write_bundle
from osteo_desktop.core.model import load_model
from osteo_desktop.core.preprocessing import preprocess_image
from osteo_desktop.core.probe import GUARD_CLASSES, PooledLinearNet

from .embeddings import Backbone, build_net, display_image, preprocess_config
from .errors import TrainingError
from .guard import OODModel
from .linear import LinearHead, Standardiser
from .probe_ablation import FeatureSet

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
GRADCAM_LAYER = "backbone.bn2"
#: outputs of the core-loaded bundle vs the training computation: |diff| <= ATOL + RTOL * |value|
ATOL, RTOL = 2e-3, 1e-3


def assemble(backbone: Backbone, state: dict, fs: FeatureSet, common: Standardiser, heads: dict[str, LinearHead],
             guard: LinearHead, ood: OODModel, anatomies: Sequence[str]) -> PooledLinearNet:
    net = build_net(backbone, state, anatomies=tuple(anatomies), guard_classes=GUARD_CLASSES, ood_dims=ood.whiten.shape[1],
                    **fs.module_kwargs())
    if net.num_features != common.mean.shape[0]:
        raise TrainingError(f"module has {net.num_features} features, the fitted heads {common.mean.shape[0]}")
    f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        net.feat_mean.copy_(f32(common.mean))
        net.feat_std.copy_(f32(common.std))
        g = guard.rebased(common)
        net.guard.weight.copy_(f32(g.coef))
        net.guard.bias.copy_(f32(g.intercept))
        for a in anatomies:
            h = heads[a].rebased(common)
            lin = net.heads[a]
            assert isinstance(lin, torch.nn.Linear)
            lin.weight.copy_(f32(h.coef))
            lin.bias.copy_(f32(h.intercept))
        net.ood_mean.copy_(f32(ood.mean))
        net.ood_whiten.copy_(f32(ood.whiten))
    return net.eval()


def reference_outputs(X: np.ndarray, common: Standardiser, heads: dict[str, LinearHead], guard: LinearHead, ood: OODModel,
                      anatomies: Sequence[str]) -> np.ndarray:
    """What the module must output, computed in numpy from cached features (the training path)."""
    cols = [guard.logits(X)] + [heads[a].logits(X) for a in anatomies] + [ood.d2(common(X))[:, None]]
    return np.concatenate(cols, axis=1)


def write(out_dir: Path, net: PooledLinearNet, config: dict[str, Any], card: str) -> Any:
    cfg = BundleConfig.from_dict(config, source="bundle config")
    cfg = replace(cfg, format_version=FORMAT_VERSION)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    return write_bundle(out_dir, state, cfg, card)


def verify(out_dir: Path, paths: Sequence[Path], expected: np.ndarray, size: int, threads: int = 2) -> float:
    """Core-loaded bundle on films decoded from scratch vs the training computation; returns max |diff|."""
    torch.set_num_threads(threads)
    b = read_bundle(out_dir)
    model = load_model(b)
    if b.config.preprocessing.input_size != (size, size):
        raise TrainingError(f"{out_dir}: bundle input size {b.config.preprocessing.input_size} is not {size}")
    worst = 0.0
    for p, exp in zip(paths, expected, strict=True):
        arr, _ = preprocess_image(display_image(Path(p)), b.config.preprocessing)
        with torch.no_grad():
            got = model(torch.from_numpy(arr[None]))[0].double().numpy()
        diff = np.abs(got - exp)
        if not np.all(diff <= ATOL + RTOL * np.abs(exp)):
            raise TrainingError(f"{out_dir}: the bundle's outputs on {Path(p).name} differ from the training computation "
                                f"by up to {diff.max():.3g} (columns {np.flatnonzero(diff > ATOL + RTOL * np.abs(exp))[:5].tolist()}). "
                                "The embedding cache may be stale (display or preprocessing changed): delete it and rerun.")
        worst = max(worst, float(diff.max()))
    return worst


def check_size(out_dir: Path, limit_mb: float = 40.0) -> float:
    mb = (Path(out_dir) / "model.safetensors").stat().st_size / 2**20
    if mb >= limit_mb:
        raise TrainingError(f"{out_dir}: model.safetensors is {mb:.1f} MB, over the {limit_mb:g} MB limit")
    return mb


def preprocessing_dict(size: int) -> dict:
    return preprocess_config(size).to_dict()


def finite(v: Any) -> Any:
    """JSON-safe: nan/inf -> None, numpy scalars -> Python, recursively."""
    if isinstance(v, dict):
        return {str(k): finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite(x) for x in v]
    if isinstance(v, np.ndarray):
        return finite(v.tolist())
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v

