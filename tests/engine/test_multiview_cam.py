"""Grad-CAM of a format-2 model that runs its backbone once per view (here: the whole film at half
resolution, then a central crop): the map must pair the whole-film view's activations with that
view's own gradients, and cover the whole film."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from osteo_desktop.core.bundle import BundleConfig, write_bundle
from osteo_desktop.core.gradcam import DeferredTarget, cam_view_call
from osteo_desktop.core.inference import Screener
from osteo_desktop.core.preprocessing import PreprocessConfig
from osteo_desktop.core.probe import GUARD_CLASSES, PooledLinearNet


def _bundle(folder, views):
    torch.manual_seed(0)
    m = PooledLinearNet(backbone="tf_efficientnet_lite0", views=views, ood_dims=4)
    with torch.no_grad():
        m.guard.bias.zero_()
        m.guard.bias[GUARD_CLASSES.index("knee")] = 10.0
        m.heads["knee"].weight[1].fill_(0.01)  # osteopenia grows with every feature: a positive map
    kw = {"backbone": "tf_efficientnet_lite0", "views": list(views), "ood_dims": 4, "anatomies": ["knee", "spine"],
          "guard_classes": list(GUARD_CLASSES)}
    cfg = BundleConfig(name="mv", version="0", architecture="osteo_pooled_linear", model_kwargs=kw,
                       preprocessing=PreprocessConfig(input_size=(128, 128), mean=(0.5,) * 3, std=(0.5,) * 3),
                       gradcam_layer="backbone.bn2",
                       extra={"guard": {"classes": list(GUARD_CLASSES)}, "ood": {"threshold_d2": 1e9}})
    return write_bundle(folder, m.state_dict(), cfg, "# test\n")


def test_the_map_comes_from_the_whole_film_view_with_its_own_gradient(tmp_path):
    from pytorch_grad_cam.utils.image import scale_cam_image

    s = Screener(_bundle(tmp_path / "b", ("half", "centre")), device="cpu")
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    target = DeferredTarget(lambda out: len(GUARD_CLASSES) + 1)  # the knee head's osteopenia logit
    out, cam, raw_max = s._forward(x, target)
    assert cam is not None and cam.shape == (128, 128) and raw_max > 0

    # the screener's weights are frozen: its backward ran from the logit to the Grad-CAM layer only
    model = s._model
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())

    # the reference: activations of the first backbone call and the gradient w.r.t. exactly them
    acts: list[torch.Tensor] = []

    def keep(m, i, o):
        acts.append(o.requires_grad_(not acts) if o.grad_fn is None else o)

    handle = model.backbone.bn2.register_forward_hook(keep)
    y = model(x)
    handle.remove()
    assert len(acts) == 2  # one per view
    (grad,) = torch.autograd.grad(y[0, len(GUARD_CLASSES) + 1], acts[0])
    weights = grad.mean(dim=(2, 3), keepdim=True)
    ref = torch.relu((weights * acts[0]).sum(dim=1)).detach().numpy()
    ref = scale_cam_image(ref, (128, 128))[0]
    assert np.allclose(cam, ref, atol=1e-4)
    assert np.allclose(out, y[0].detach().numpy(), atol=1e-4)


def test_which_view_gives_the_map():
    assert cam_view_call({}) == 0
    assert cam_view_call({"views": ["half", "centre"]}) == 0
    assert cam_view_call({"views": ["centre", "whole"]}) == 1
    assert cam_view_call({"views": ["centre", "band"]}) is None


def test_a_model_without_a_whole_film_view_screens_without_a_map(tmp_path):
    from osteo_desktop.core.film import Film, Window

    s = Screener(_bundle(tmp_path / "c", ("centre",)), device="cpu")
    rng = np.random.default_rng(0)
    film = Film(path=tmp_path / "f.png", pixels=(100 + 30 * rng.standard_normal((90, 70))).astype(np.float32),
                windows=(Window(100, 200, "w"),), source_format="PNG")
    pred = s.screen(film)
    assert pred.screened and pred.cam is None and pred.cam_status == "off"


@pytest.mark.parametrize("views", [("whole",), ("half", "centre")])
def test_screening_with_and_without_the_map_agree(tmp_path, views):
    from osteo_desktop.core.film import Film, Window

    s = Screener(_bundle(tmp_path / "d", views), device="cpu")
    rng = np.random.default_rng(2)
    film = Film(path=tmp_path / "f.png", pixels=(100 + 30 * rng.standard_normal((90, 70))).astype(np.float32),
                windows=(Window(100, 200, "w"),), source_format="PNG")
    a, b = s.screen(film), s.screen(film, gradcam=False)
    assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
    assert a.cam is not None and a.cam.shape == film.shape
