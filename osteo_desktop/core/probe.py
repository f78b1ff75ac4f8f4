"""Frozen ImageNet backbone + linear heads: screening heads, input guard and an out-of-distribution distance.

`PooledLinearNet` (registered with timm as ``osteo_pooled_linear``) is the model of bundle format 2.
One forward pass gives everything a screening needs::

    out = model(x)                    # x: the output of core.preprocessing.preprocess_image, batched
    parts = split_output(out, model)  # {"guard": (B, G), "heads": {"knee": (B, 3), ...}, "ood_d2": (B,)}

Features: the backbone's last feature map (``forward_features``, i.e. after ``bn2``) pooled by mean and
max, for each *view* of the input, concatenated over views (optionally averaged with the horizontally
flipped input: test-time augmentation). Views are taken from the preprocessed input itself, so the
application needs no second preprocessing:

* ``whole``  - the input as it is (the letterboxed film);
* ``half``   - the input downsampled 2x by 2x2 averaging;
* ``centre`` - the central (H/2, W/2) region at the input's resolution;
* ``band``   - the central horizontal band (H/2 rows, all columns) at the input's resolution.

`features` is the one function the training package's embedding cache calls (through
`view_features`), so a head fitted on cached features is the head of this module. Heads are fitted on
standardised features ``z = (f - feat_mean) / feat_std``; scikit-learn's ``coef_``/``intercept_`` load
straight into the ``nn.Linear`` weights. The Mahalanobis distance is
``d2 = ||(z - ood_mean) @ ood_whiten||^2`` (PCA + shrinkage covariance folded into ``ood_whiten``).

Heatmaps: ``forward_with_cam(x, anatomy)`` returns the outputs of the same forward pass and a Grad-CAM
map on the input grid, computed per backbone pass (view, mirror) and mapped back onto the region of
the input each view covers. Use it rather than pytorch-grad-cam on ``backbone.bn2``: that layer runs
once per view, and pytorch-grad-cam would pair one view's activations with another view's gradients.

Depends on torch and timm only (no Qt): the application and training build it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from timm.models import register_model
from torch import nn
from torch.nn import functional as F

__all__ = ["PooledLinearNet", "osteo_pooled_linear", "VIEWS", "POOLINGS", "view_input", "view_region", "pool_features", "split_output",
           "GUARD_CLASSES", "ANATOMIES"]

VIEWS = ("whole", "half", "centre", "band")
POOLINGS = ("avg", "max")
ANATOMIES = ("knee", "spine")
GUARD_CLASSES = ("knee", "spine", "spine_film", "other_radiograph", "not_radiograph")


def view_input(x: torch.Tensor, view: str, flip: bool = False) -> torch.Tensor:
    """The backbone input of one view of a (B, C, H, W) batch (optionally mirrored left-right first)."""
    if flip:
        x = torch.flip(x, dims=(-1,))
    H, W = int(x.shape[-2]), int(x.shape[-1])
    if view == "whole":
        return x
    if view == "half":
        return F.avg_pool2d(x, kernel_size=2, stride=2)
    if view == "centre":
        return x[..., H // 4 : H // 4 + H // 2, W // 4 : W // 4 + W // 2]
    if view == "band":
        return x[..., H // 4 : H // 4 + H // 2, :]
    raise ValueError(f"unknown view {view!r}; known views: {list(VIEWS)}")


def view_region(view: str, H: int, W: int) -> tuple[int, int, int, int]:
    """(top, left, rows, cols) of the input that a view covers (for mapping its heatmap back)."""
    if view in ("whole", "half"):
        return 0, 0, H, W
    if view == "centre":
        return H // 4, W // 4, H // 2, W // 2
    if view == "band":
        return H // 4, 0, H // 2, W
    raise ValueError(f"unknown view {view!r}; known views: {list(VIEWS)}")


def pool_features(fmap: torch.Tensor, pooling: Sequence[str] = POOLINGS) -> torch.Tensor:
    """(B, C, h, w) feature map -> (B, len(pooling) * C): global mean and/or max, in `pooling` order."""
    parts = []
    for p in pooling:
        if p == "avg":
            parts.append(fmap.mean(dim=(2, 3)))
        elif p == "max":
            parts.append(fmap.amax(dim=(2, 3)))
        else:
            raise ValueError(f"unknown pooling {p!r}; known: {list(POOLINGS)}")
    return torch.cat(parts, dim=1)


class PooledLinearNet(nn.Module):
    # registered buffers and the timm backbone, typed for mypy (nn.Module's __getattr__ says Tensor | Module)
    feat_mean: torch.Tensor
    feat_std: torch.Tensor
    ood_mean: torch.Tensor
    ood_whiten: torch.Tensor
    backbone: Any  # a timm model: num_features and forward_features are timm's API, not nn.Module's

    def __init__(self, num_classes: int = 3, in_chans: int = 3, backbone: str = "tf_efficientnet_lite0",
                 anatomies: Sequence[str] = ANATOMIES, guard_classes: Sequence[str] = GUARD_CLASSES, ood_dims: int = 32,
                 views: Sequence[str] = ("whole",), hflip_tta: bool = False, pooling: Sequence[str] = POOLINGS, **_: object):
        super().__init__()
        import timm

        bad = [v for v in views if v not in VIEWS]
        if bad or not views:
            raise ValueError(f"views {list(views)}: each must be one of {list(VIEWS)}")
        if not pooling or any(p not in POOLINGS for p in pooling):
            raise ValueError(f"pooling {list(pooling)}: each must be one of {list(POOLINGS)}")
        self.backbone_name = str(backbone)
        self.anatomies = tuple(str(a) for a in anatomies)
        self.guard_classes = tuple(str(g) for g in guard_classes)
        self.views = tuple(str(v) for v in views)
        self.hflip_tta = bool(hflip_tta)
        self.pooling = tuple(str(p) for p in pooling)
        self.num_classes = int(num_classes)
        self.ood_dims = int(ood_dims)
        self.backbone = timm.create_model(self.backbone_name, pretrained=False, num_classes=0, global_pool="", in_chans=in_chans)
        nf = int(self.backbone.num_features)
        self.num_features = len(self.pooling) * nf * len(self.views)
        Fd = self.num_features
        self.register_buffer("feat_mean", torch.zeros(Fd))
        self.register_buffer("feat_std", torch.ones(Fd))
        self.guard = nn.Linear(Fd, len(self.guard_classes))
        self.heads = nn.ModuleDict({a: nn.Linear(Fd, self.num_classes) for a in self.anatomies})
        self.register_buffer("ood_mean", torch.zeros(Fd))
        self.register_buffer("ood_whiten", torch.zeros(Fd, self.ood_dims))
        self.pretrained_cfg = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "architecture": "osteo_pooled_linear"}

    @property
    def output_size(self) -> int:
        return len(self.guard_classes) + len(self.anatomies) * self.num_classes + 1

    def view_features(self, x: torch.Tensor, view: str, flip: bool = False) -> torch.Tensor:
        """Pooled backbone features (B, len(pooling) * num_features) of one view: what the cache stores."""
        return pool_features(self.backbone.forward_features(view_input(x, view, flip)), self.pooling)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) preprocessed input -> (B, F) raw pooled features (before standardisation)."""
        parts = []
        for v in self.views:
            f = self.view_features(x, v)
            if self.hflip_tta:
                f = 0.5 * (f + self.view_features(x, v, flip=True))
            parts.append(f)
        return torch.cat(parts, dim=1)

    def standardise(self, f: torch.Tensor) -> torch.Tensor:
        return (f - self.feat_mean) / self.feat_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.standardise(self.features(x))
        guard = self.guard(z)
        heads = [self.heads[a](z) for a in self.anatomies]
        d2 = ((z - self.ood_mean) @ self.ood_whiten).pow(2).sum(dim=1, keepdim=True)
        return torch.cat([guard, *heads, d2], dim=1)

    # timm-style conveniences (Grad-CAM helpers look for a classifier)
    def get_classifier(self) -> nn.Module:
        return self.heads[self.anatomies[0]]

    def view_keys(self) -> list[tuple[str, bool]]:
        """(view, mirrored) in the order `features` runs the backbone on them."""
        return [(v, f) for v in self.views for f in ((False, True) if self.hflip_tta else (False,))]

    def low_bmd_logit(self, out: torch.Tensor, anatomy: str, low_idx: Sequence[int] = (1, 2)) -> torch.Tensor:
        """log(P(low BMD) / P(normal)) of one anatomy head, from `forward`'s output (temperature-free)."""
        z = split_output(out, self.guard_classes, self.anatomies, self.num_classes)["heads"][anatomy]
        normal = [i for i in range(self.num_classes) if i not in set(low_idx)]
        return torch.logsumexp(z[..., list(low_idx)], dim=-1) - torch.logsumexp(z[..., normal], dim=-1)

    def forward_with_cam(self, x: torch.Tensor, anatomy: str,
                         target: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass and its Grad-CAM on the input grid, correct for several views and mirroring.

        `pytorch-grad-cam` pairs one activation with one gradient per target layer, which is wrong when
        the layer (``backbone.bn2``) runs once per view. Here every backbone pass gets its own map
        ReLU(sum_c mean(grad_c) * A_c), mirrored back when its input was mirrored, resized onto the
        input region the view covers and summed. Target: `target(out)` (a scalar per image), by
        default the anatomy head's low-BMD logit. Returns (outputs detached, (B, H, W) maps, not
        normalised; the caller scales them, e.g. to [0, 1]).
        """
        acts: list[torch.Tensor] = []
        hook = self.backbone.bn2.register_forward_hook(lambda _m, _i, o: acts.append(o))
        try:
            with torch.enable_grad():
                out = self.forward(x)
                score = (target(out) if target is not None else self.low_bmd_logit(out, anatomy)).sum()
                grads = torch.autograd.grad(score, acts)
        finally:
            hook.remove()
        keys = self.view_keys()
        if len(acts) != len(keys):
            raise RuntimeError(f"expected {len(keys)} backbone passes, recorded {len(acts)}")
        B, _, H, W = x.shape
        cam = torch.zeros(B, H, W, dtype=torch.float32, device=x.device)
        for (view, flip), a, g in zip(keys, acts, grads, strict=True):
            m = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1)).detach().float()
            if flip:
                m = torch.flip(m, dims=(-1,))
            top, left, rh, rw = view_region(view, H, W)
            cam[:, top : top + rh, left : left + rw] += F.interpolate(m[:, None], size=(rh, rw), mode="bilinear",
                                                                       align_corners=False)[:, 0]
        return out.detach(), cam


def split_output(out: torch.Tensor, guard_classes: Sequence[str] = GUARD_CLASSES, anatomies: Sequence[str] = ANATOMIES,
                 num_classes: int = 3) -> dict:
    """Split the (B, G + A*num_classes + 1) output into {"guard", "heads": {anatomy: logits}, "ood_d2"}."""
    G, A = len(guard_classes), len(anatomies)
    if out.shape[-1] != G + A * num_classes + 1:
        raise ValueError(f"output has {out.shape[-1]} columns, expected {G + A * num_classes + 1} "
                         f"({G} guard + {A}x{num_classes} head logits + 1 distance)")
    heads = {a: out[..., G + i * num_classes : G + (i + 1) * num_classes] for i, a in enumerate(anatomies)}
    return {"guard": out[..., :G], "heads": heads, "ood_d2": out[..., -1]}


@register_model
def osteo_pooled_linear(pretrained: bool = False, **kwargs) -> PooledLinearNet:
    """Frozen backbone + pooled-feature linear heads (bundle format 2). Weights come from the bundle."""
    if pretrained:
        raise RuntimeError("osteo_pooled_linear has no pretrained weights of its own; load a bundle")
    for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir", "features_only"):
        kwargs.pop(k, None)
    return PooledLinearNet(**kwargs)
