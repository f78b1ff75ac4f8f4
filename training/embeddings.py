"""Embedding cache: films -> pooled frozen-backbone features, on disk, keyed by all they depend on.

Films are read ONLY through the core: ``load_film`` -> ``render`` (the display pipeline) ->
``preprocess_image`` (the one preprocessing function); features are computed by
``PooledLinearNet.view_features`` (osteo_desktop/core/probe.py), the function the shipped module's
``features`` is made of. So a head fitted on cached features is exactly the head of the module.

Layout: ``ROOT/<architecture>-<weights sha256[:12]>/<size>px-<preprocessing hash>/<file sha256>.npz``;
each npz holds one vector per view (``whole``, ``whole~flip``, ``band``, ...): the mean- and
max-pooled features concatenated (``POOLINGS`` order). The preprocessing hash covers the
PreprocessConfig, the loader and the cache format; the export re-computes a few films from scratch
through the bundle and compares, so a changed display pipeline cannot go unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from osteo_desktop.core.bundle import sha256_file
from osteo_desktop.core.preprocessing import PreprocessConfig, preprocess_image
from osteo_desktop.core.probe import POOLINGS, PooledLinearNet

from .errors import ConfigError, TrainingError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
LOADER = "core.loading.load_film + core.display.render + core.preprocessing.preprocess_image"

#: A view of the input: (view name, mirrored first?)
ViewKey = tuple[str, bool]


def view_name(view: str, flip: bool) -> str:
    return f"{view}~flip" if flip else view


@dataclass(frozen=True)
class Backbone:
    """A frozen backbone start: timm architecture + where its weights come from + their sha256."""

    start: str  # lite0-package | lite2-package | random:SEED (tests)
    architecture: str
    weights_sha256: str
    source: str  # human-readable origin of the weights

    @property
    def key(self) -> str:
        return f"{self.architecture}-{self.weights_sha256[:12]}"


def resolve_backbone(start: str, architecture: str | None = None) -> tuple[Backbone, dict]:
    """(Backbone, timm state dict without classifier). ``random:SEED`` needs an architecture (tests)."""
    import torch

    from .pretrained import LITE_PACKAGES, lite0_to_timm, lite_package_path, read_state_file

    if start.startswith("random:"):
        if not architecture:
            raise ConfigError("a random backbone start needs an architecture (e.g. test_efficientnet)")
        import timm

        torch.manual_seed(int(start.split(":", 1)[1]))
        m = timm.create_model(architecture, pretrained=False, num_classes=0, global_pool="")
        state = {k: v.detach().clone() for k, v in m.state_dict().items()}
        h = hashlib.sha256()
        for k in sorted(state):
            h.update(k.encode())
            h.update(state[k].numpy().tobytes())
        return Backbone(start, architecture, h.hexdigest(), f"random initialisation (seed {start.split(':', 1)[1]})"), state
    if start not in LITE_PACKAGES:
        raise ConfigError(f"unknown backbone start {start!r}: use one of {sorted(LITE_PACKAGES)} (or random:SEED in tests)")
    pkg = LITE_PACKAGES[start]
    if architecture and architecture != pkg.architecture:
        raise ConfigError(f"{start} holds {pkg.architecture} weights, not {architecture}")
    path = lite_package_path(start)
    sha = sha256_file(path)
    if sha != pkg.sha256:
        raise TrainingError(f"{path}: sha256 {sha[:12]}... is not that of {pkg.requirement} ({pkg.sha256[:12]}...). "
                            "Reinstall the pinned package (requirements/constraints.txt).")
    state = lite0_to_timm(read_state_file(path), list(pkg.stage_depths))
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    return Backbone(start, pkg.architecture, sha, f"ImageNet {pkg.architecture} ({path.name}, {pkg.requirement}, Apache-2.0)"), state


def build_net(backbone: Backbone, state: dict, **kwargs) -> PooledLinearNet:
    """A PooledLinearNet with the backbone's weights loaded strictly (heads at their defaults)."""
    net = PooledLinearNet(backbone=backbone.architecture, **kwargs)
    missing, unexpected = net.backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise TrainingError(f"{backbone.source}: weights do not fit {backbone.architecture} "
                            f"({len(missing)} missing, e.g. {list(missing)[:3]}; "
                            f"{len(unexpected)} unexpected, e.g. {list(unexpected)[:3]})")
    return net.eval()


def preprocess_config(size: int, mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.5, 0.5, 0.5)) -> PreprocessConfig:
    """Letterboxed square input of `size` px, the backbone's normalisation (tf_efficientnet_lite*: 0.5/0.5)."""
    if size % 2:
        raise ConfigError(f"input size {size} must be even (the 'half' view halves it)")
    return PreprocessConfig(input_size=(int(size), int(size)), mean=tuple(mean), std=tuple(std), resize="letterbox",
                            in_chans=3, pad_value=0.0)


def prep_hash(cfg: PreprocessConfig) -> str:
    blob = json.dumps({"format": CACHE_FORMAT, "preprocessing": cfg.to_dict(), "loader": LOADER, "poolings": list(POOLINGS)},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def display_image(path: Path) -> np.ndarray:
    """The film as the application displays it (float32 [0, 1], bone bright): core loader + render only."""
    from osteo_desktop.core.display import render
    from osteo_desktop.core.loading import load_film

    return np.asarray(render(load_film(path)), dtype=np.float32)


@dataclass(frozen=True)
class Job:
    """Features of one backbone at one input size, for some views."""

    start: str
    size: int
    views: tuple[ViewKey, ...]
    architecture: str | None = None  # only for random starts (tests)


@dataclass
class CacheStats:
    computed: int = 0
    reused: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class EmbeddingCache:
    def __init__(self, root: str | os.PathLike[str], threads: int = 2, batch_views: bool = True):
        self.root = Path(root)
        self.threads = max(1, int(threads))
        self._file_sha: dict[Path, str] = {}
        self._nets: dict[str, tuple[Backbone, PooledLinearNet]] = {}
        self.stats = CacheStats()

    # -- keys ----------------------------------------------------------------------------------
    def file_sha(self, path: Path) -> str:
        p = Path(path)
        if p not in self._file_sha:
            self._file_sha[p] = sha256_file(p)
        return self._file_sha[p]

    def net(self, start: str, architecture: str | None = None) -> tuple[Backbone, PooledLinearNet]:
        k = f"{start}|{architecture}"
        if k not in self._nets:
            bb, state = resolve_backbone(start, architecture)
            self._nets[k] = (bb, build_net(bb, state))
        return self._nets[k]

    def dir_for(self, backbone: Backbone, cfg: PreprocessConfig) -> Path:
        return self.root / backbone.key / f"{cfg.input_size[0]}px-{prep_hash(cfg)}"

    def _npz(self, backbone: Backbone, cfg: PreprocessConfig, path: Path) -> Path:
        return self.dir_for(backbone, cfg) / f"{self.file_sha(path)}.npz"

    # -- compute -------------------------------------------------------------------------------
    def compute(self, paths: Sequence[Path], jobs: Sequence[Job], progress_every: int = 25) -> CacheStats:
        """Make sure every (path, job, view) is cached; decodes each film once for all jobs."""
        import torch

        torch.set_num_threads(self.threads)
        t0 = time.perf_counter()
        todo = []
        for p in paths:
            need = []
            for job in jobs:
                bb, _ = self.net(job.start, job.architecture)
                cfg = preprocess_config(job.size)
                have = self._read_keys(self._npz(bb, cfg, p))
                miss = [v for v in job.views if view_name(*v) not in have]
                if miss:
                    need.append((job, bb, cfg, miss))
            if need:
                todo.append((p, need))
            else:
                self.stats.reused += 1
        if todo:
            log.info("embedding cache %s: computing features for %d film(s)", self.root, len(todo))
        for i, (p, need) in enumerate(todo):
            try:
                img = display_image(p)
            except Exception as e:  # a film the core cannot read is reported, not fatal
                self.stats.failed[str(p)] = f"{type(e).__name__}: {e}"
                log.warning("%s: cannot be read by the core loader (%s); left out", p, e)
                continue
            for job, bb, cfg, miss in need:
                _, net = self.net(job.start, job.architecture)
                arr, _ = preprocess_image(img, cfg)
                x = torch.from_numpy(arr[None])
                new = {}
                with torch.inference_mode():
                    for view, flip in miss:
                        new[view_name(view, flip)] = net.view_features(x, view, flip)[0].float().numpy()
                self._merge_write(self._npz(bb, cfg, p), new)
            self.stats.computed += 1
            if progress_every and (i + 1) % progress_every == 0:
                el = time.perf_counter() - t0
                log.info("  %d/%d films, %.0f s (%.2f s/film)", i + 1, len(todo), el, el / (i + 1))
        self.stats.seconds += time.perf_counter() - t0
        return self.stats

    @staticmethod
    def _read_keys(npz: Path) -> set[str]:
        if not npz.is_file():
            return set()
        with np.load(npz) as z:
            return set(z.files)

    @staticmethod
    def _merge_write(npz: Path, new: dict[str, np.ndarray]) -> None:
        npz.parent.mkdir(parents=True, exist_ok=True)
        data = {}
        if npz.is_file():
            with np.load(npz) as z:
                data = {k: z[k] for k in z.files}
        data.update(new)
        fd, tmp = tempfile.mkstemp(dir=npz.parent, suffix=".npz.tmp")
        os.close(fd)
        with open(tmp, "wb") as f:
            np.savez(f, **data)
        os.replace(tmp, npz)

    # -- read ----------------------------------------------------------------------------------
    def load(self, paths: Iterable[Path], start: str, size: int, view: str, flip: bool = False,
             architecture: str | None = None) -> np.ndarray:
        """(N, len(POOLINGS) * num_features) float32 for these films, in order. Missing entries raise."""
        bb, _ = self.net(start, architecture)
        cfg = preprocess_config(size)
        rows = []
        for p in paths:
            npz = self._npz(bb, cfg, p)
            key = view_name(view, flip)
            try:
                with np.load(npz) as z:
                    rows.append(z[key])
            except (OSError, KeyError) as e:
                raise TrainingError(f"{p}: no cached {key} features for {bb.key} at {size} px ({npz}); run the extraction first") from e
        return np.stack(rows).astype(np.float32)
