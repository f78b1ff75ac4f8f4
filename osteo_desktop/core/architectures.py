"""The paper's custom CNN, registered with timm as ``osteo_cnn`` so that bundles can name it.

Conv2D-BatchNorm-ReLU-MaxPool blocks, then global average pooling, dense 128 + ReLU, dropout 0.5 and
the classifier. (Global average pooling instead of a flatten layer keeps the model independent of
the input size; the paper does not publish its flatten size.)

Importing this module registers the architecture: ``timm.create_model("osteo_cnn", num_classes=3)``.
``osteo_desktop.core.model.create_model`` imports it, so bundles of this architecture load in the
application as well as in training (the module depends on torch and timm only).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.models import register_model
from torch import nn

__all__ = ["OsteoCNN", "osteo_cnn"]


class OsteoCNN(nn.Module):
    def __init__(self, num_classes: int = 3, in_chans: int = 3, widths: Sequence[int] = (32, 64, 128, 256, 256),
                 dense: int = 128, drop_rate: float = 0.5, **_: object):
        super().__init__()
        blocks: list[nn.Module] = []
        c = in_chans
        for w in widths:
            blocks.append(nn.Sequential(
                nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2)))
            c = w
        self.features = nn.Sequential(*blocks)
        self.num_features = c
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.pre_logits = nn.Sequential(nn.Flatten(1), nn.Linear(c, dense), nn.ReLU(inplace=True), nn.Dropout(drop_rate))
        self.head_hidden_size = dense
        self.num_classes = num_classes
        self.classifier = nn.Linear(dense, num_classes) if num_classes > 0 else nn.Identity()
        self.pretrained_cfg = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "architecture": "osteo_cnn"}

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.classifier = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(self.global_pool(x))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def osteo_cnn(pretrained: bool = False, **kwargs) -> OsteoCNN:
    """The paper's custom CNN (no pretrained weights exist)."""
    if pretrained:
        raise RuntimeError("osteo_cnn has no pretrained weights")
    for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir", "features_only"):
        kwargs.pop(k, None)
    return OsteoCNN(**kwargs)
