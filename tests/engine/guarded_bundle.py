"""A tiny format-2 bundle for tests: a model whose output row has the format-2 layout
[guard logits | class logits per anatomy | squared distance], with every part set by the test.

The real format-2 model (`osteo_pooled_linear`) is a frozen ImageNet backbone with linear heads; the
screening logic only relies on the output layout, which this stand-in reproduces with a small conv
net (so Grad-CAM has a real layer to explain).
"""

from __future__ import annotations

from pathlib import Path

import torch
from timm.models import register_model
from torch import nn

GUARD = ("knee", "spine", "spine_film", "other_radiograph", "not_radiograph")
ANATOMIES = ("knee", "spine")


class GuardedStandIn(nn.Module):
    def __init__(self, num_classes=3, in_chans=3, guard_classes=GUARD, anatomies=ANATOMIES, **_):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_chans, 8, 3, padding=1), nn.ReLU())
        self.guard = nn.Linear(8, len(guard_classes))
        self.heads = nn.ModuleDict({a: nn.Linear(8, num_classes) for a in anatomies})
        self.register_buffer("d2", torch.zeros(1))

    def forward(self, x):
        f = self.features(x).mean(dim=(2, 3))
        parts = [self.guard(f)] + [h(f) for h in self.heads.values()] + [self.d2.expand(x.shape[0], 1)]
        return torch.cat(parts, dim=1)


@register_model
def osteo_test_guarded(pretrained=False, **kwargs):
    return GuardedStandIn(**kwargs)


def make_guarded_bundle(folder: Path, *, looks_like: str = "knee", guard_margin: float = 8.0,
                        head_bias: dict | None = None, d2: float = 1.0, screening: dict | None = None,
                        age_range: dict | None = None, ood_threshold: float = 10.0, min_probability: float = 0.5):
    """`looks_like`: the guard class the picture check will be sure of (by `guard_margin` logits).
    `head_bias`: per anatomy, the three class-logit biases (weights are small, so biases decide)."""
    from osteo_desktop.core.bundle import BundleConfig, write_bundle
    from osteo_desktop.core.preprocessing import PreprocessConfig

    torch.manual_seed(0)
    model = GuardedStandIn()
    with torch.no_grad():
        model.guard.weight.mul_(0.01)
        model.guard.bias.zero_()
        model.guard.bias[GUARD.index(looks_like)] = guard_margin
        for a, head in model.heads.items():
            head.weight.mul_(0.05)
            head.bias.copy_(torch.tensor((head_bias or {}).get(a, [0.0, 0.0, 0.0])))
        model.d2.fill_(d2)
    extra = {
        "guard": {"classes": list(GUARD), "screenable": ["knee", "spine"], "min_probability": min_probability},
        "ood": {"threshold_d2": ood_threshold},
        "age_range": age_range or {"min": 18, "max": 80, "source": "test"},
        "screening": screening if screening is not None else default_screening(),
    }
    cfg = BundleConfig(
        name="test-guarded", version="2.0.0-test", architecture="osteo_test_guarded",
        model_kwargs={"guard_classes": list(GUARD), "anatomies": list(ANATOMIES)},
        preprocessing=PreprocessConfig(input_size=(64, 64), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        threshold=0.5, threshold_goal="test", gradcam_layer="features.0", extra=extra,
    )
    return write_bundle(folder, model.state_dict(), cfg, "# Test bundle (format 2 stand-in)\n")


def metrics(lo: float, hi: float, auc: float | None = None) -> dict:
    return {"auc": auc if auc is not None else (lo + hi) / 2, "auc_ci95": [lo, hi]}


def default_screening() -> dict:
    """Knee: the image alone not validated, age+sex validated, combined validated; spine: image validated."""
    return {
        "knee": {
            "image": {"temperature": 1.0, "threshold": 0.5, "goal": "sens>=0.9", "metrics": metrics(0.45, 0.70, 0.58)},
            "clinical": {"model": {"features": ["age", "sex_female"], "coef": [0.1, 0.5], "intercept": -5.0},
                         "threshold": 0.5, "metrics": metrics(0.90, 0.97, 0.94)},
            "combined": {"model": {"features": ["image_logit", "age", "sex_female"], "coef": [0.5, 0.1, 0.5],
                                   "intercept": -5.0},
                         "threshold": 0.4, "metrics": metrics(0.91, 0.98, 0.95)},
        },
        "spine": {"image": {"temperature": 1.0, "threshold": 0.5, "goal": "sens>=0.9", "metrics": metrics(0.60, 0.85, 0.74)}},
    }
