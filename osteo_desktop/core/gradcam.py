"""Grad-CAM of a screening model: which layer, which backbone call, which output (imports torch lazily).

`Screener` (core.inference) uses these to explain the very forward pass it scored:

* `find_cam_layer`: the layer the bundle names, else the usual last feature layer of timm models;
* `recording_gradcam_class`: pytorch-grad-cam's GradCAM keeping one backbone call's activations and
  gradients (multi-view models run the backbone once per view) and the raw map maximum (an all-zero
  map is "empty", not drawn);
* `cam_view_call`: which view's call shows the whole film;
* `DeferredTarget`: the class logit to explain, chosen once the forward outputs are seen.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InferenceError

if TYPE_CHECKING:
    import torch


def find_cam_layer(model: torch.nn.Module, configured: str) -> torch.nn.Module:
    import torch

    if configured:
        try:
            return model.get_submodule(configured)
        except AttributeError as e:
            raise InferenceError(f"bundle names Grad-CAM layer {configured!r}, which the model does not have") from e
    for name in ("bn2", "conv_head", "final_conv", "features"):
        m = getattr(model, name, None)
        if isinstance(m, torch.nn.Module) and not isinstance(m, torch.nn.Identity):
            return m
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise InferenceError("the model has no convolution layer for Grad-CAM")
    return convs[-1]


@functools.lru_cache(maxsize=1)
def recording_gradcam_class():
    """pytorch-grad-cam's GradCAM that also keeps the largest raw (pre-normalisation) map value,
    so an all-zero map can be told apart from a real one (imported lazily: it pulls in torch).

    A format-2 model may run its backbone more than once per film (several *views* of the input:
    the whole film, a crop...). The target layer then fires once per view; the map must come from
    one view whose picture covers the whole input, paired with that same call's gradient. `call`
    says which forward call of the target layer to keep (0: the first; models with one view)."""
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients

    class OneCallActivationsAndGradients(ActivationsAndGradients):
        keep_call = 0

        def __call__(self, x):
            self._act_calls = self._grad_calls = 0
            return super().__call__(x)

        def save_activation(self, module, input, output):
            self._act_calls += 1
            if self._act_calls - 1 == self.keep_call:
                super().save_activation(module, input, output)

        def save_gradient(self, module, input, output):
            self._grad_calls += 1
            if self._grad_calls - 1 == self.keep_call:
                if not output.requires_grad and output.grad_fn is None and torch.is_grad_enabled():
                    output.requires_grad_(True)  # frozen weights: the backward starts here, not at the input
                super().save_gradient(module, input, output)

    class RecordingGradCAM(GradCAM):
        raw_max = 0.0

        def __init__(self, *a, call: int = 0, **k):
            super().__init__(*a, **k)
            default: Any = getattr(self, "activations_and_grads")  # noqa: B009 (GradCAM is untyped)
            default.release()  # its hooks record every call; ours keep one
            aag = OneCallActivationsAndGradients(self.model, self.target_layers, self.reshape_transform, self.detach)
            aag.keep_call = call
            self.activations_and_grads = aag

        def get_cam_image(self, *a, **k):  # weights x activations, before ReLU/normalisation
            img = super().get_cam_image(*a, **k)
            self.raw_max = max(self.raw_max, float(np.maximum(img, 0).max()))
            return img

    return RecordingGradCAM


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """No weight of a screening model needs a gradient: Grad-CAM's backward then stops at its layer."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model


WHOLE_FILM_VIEWS = ("whole", "half")  # views of a format-2 model that show the whole input


def cam_view_call(model_kwargs: dict[str, Any]) -> int | None:
    """Which backbone call per film gives the Grad-CAM map: the first view that shows the whole film
    (None: no such view, so no map can be drawn on the film)."""
    views = list(model_kwargs.get("views", ["whole"]))
    for i, v in enumerate(views):
        if v in WHOLE_FILM_VIEWS:
            return i
    return None


class DeferredTarget:
    """A Grad-CAM target chosen after the forward pass has been seen: the picture check decides
    whether (and which head) to explain, from the same outputs. None: nothing to explain."""

    def __init__(self, choose: Callable[[np.ndarray], int | None]):
        self.choose = choose
        self.index: int | None = None

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        self.index = self.choose(output.detach().float().cpu().numpy())
        return output.sum() * 0.0 if self.index is None else output[self.index]
