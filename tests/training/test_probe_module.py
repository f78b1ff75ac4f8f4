"""PooledLinearNet: built through the core like any bundle architecture; its outputs are exactly the training
computation (cached features + scikit-learn heads) on films read through the core."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from osteo_desktop.core.model import create_model
from osteo_desktop.core.preprocessing import preprocess_image
from osteo_desktop.core.probe import GUARD_CLASSES, PooledLinearNet, split_output, view_input
from training.embeddings import EmbeddingCache, display_image, preprocess_config
from training.guard import fit_ood
from training.linear import LinearHead, Standardiser
from training.probe_ablation import FeatureSet, jobs_for
from training.probe_export import assemble, reference_outputs

ARCH = "test_efficientnet"


def _films(folder, n=8, size=(70, 90), seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = cv2.resize(rng.random((5, 6)).astype(np.float32), size[::-1], interpolation=cv2.INTER_CUBIC)
        p = folder / f"film{i}.png"
        cv2.imwrite(str(p), np.clip(img * 255, 0, 255).astype(np.uint8))
        out.append(p)
    return out


def test_registered_with_timm_and_built_by_the_core():
    m = create_model("osteo_pooled_linear", 3, backbone=ARCH, views=["half", "band"], hflip_tta=True, ood_dims=4)
    assert isinstance(m, PooledLinearNet)
    x = torch.zeros(2, 3, 64, 64)
    out = m.eval()(x)
    assert out.shape == (2, len(GUARD_CLASSES) + 2 * 3 + 1) == (2, m.output_size)
    parts = split_output(out)
    assert parts["guard"].shape == (2, 5) and parts["heads"]["spine"].shape == (2, 3) and parts["ood_d2"].shape == (2,)
    assert m.num_features == 2 * m.backbone.num_features * 2
    assert isinstance(m.get_submodule("backbone.bn2"), torch.nn.Module)  # the Grad-CAM layer of the bundle


def test_views_and_errors():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    assert view_input(x, "whole") is x
    assert view_input(x, "half").shape == (2, 3, 4, 4)
    assert torch.equal(view_input(x, "centre"), x[..., 2:6, 2:6])
    assert torch.equal(view_input(x, "band"), x[..., 2:6, :])
    assert torch.equal(view_input(x, "whole", flip=True), torch.flip(x, dims=(-1,)))
    with pytest.raises(ValueError):
        view_input(x, "tiles")
    with pytest.raises(ValueError):
        PooledLinearNet(backbone=ARCH, views=("nope",))


def test_gradients_reach_the_gradcam_layer():
    m = PooledLinearNet(backbone=ARCH).eval()
    acts = {}
    m.backbone.bn2.register_forward_hook(lambda mod, i, o: acts.setdefault("a", o))
    x = torch.rand(1, 3, 64, 64)
    out = m(x)
    acts["a"].retain_grad()
    out[0, len(GUARD_CLASSES) + 1].backward()
    assert acts["a"].grad is not None and acts["a"].grad.abs().sum() > 0


@pytest.mark.parametrize("fs", [
    FeatureSet("whole", "random:0", 64, architecture=ARCH),
    FeatureSet("half+band-tta", "random:0", 64, ("half", "band"), tta=True, architecture=ARCH),
    FeatureSet("centre-avg", "random:0", 64, ("centre",), pooling=("avg",), architecture=ARCH),
])
def test_module_outputs_equal_cached_features_plus_sklearn_heads(tmp_path, fs):
    films = _films(tmp_path)
    cache = EmbeddingCache(tmp_path / "cache", threads=1)
    cache.compute(films, jobs_for([fs]))
    X = fs.matrix(cache, films)
    std = Standardiser.fit(X)
    Z = std(X)
    rng = np.random.default_rng(1)

    def sk_head(k):
        y = np.arange(len(films)) % k
        rng.shuffle(y)
        lr = LogisticRegression(C=0.5, max_iter=2000).fit(Z, y)  # scikit-learn's own head on the cached features
        return LinearHead(std, lr.coef_, lr.intercept_, 0.5)

    heads = {"knee": sk_head(3), "spine": sk_head(3)}
    guard = sk_head(5)
    ood = fit_ood(Z, dims=4)
    from training.embeddings import resolve_backbone

    bb, state = resolve_backbone(fs.start, fs.architecture)
    other_std = Standardiser.fit(X[:5])  # the module's own standardisation differs from the heads': rebased exactly
    net = assemble(bb, state, fs, other_std, heads, guard, ood, ("knee", "spine"))
    cfg = preprocess_config(fs.size)
    x = torch.from_numpy(np.stack([preprocess_image(display_image(p), cfg)[0] for p in films[:3]]))
    with torch.no_grad():
        got = net(x).double().numpy()
        feats = net.features(x).double().numpy()
    assert np.allclose(feats, X[:3], atol=1e-5, rtol=1e-5)  # module.features == the cache
    ref = np.concatenate([guard.logits(X[:3]), heads["knee"].logits(X[:3]), heads["spine"].logits(X[:3]),
                          ood.d2(other_std(X[:3]))[:, None]], axis=1)
    ref_ood_same_space = reference_outputs(X[:3], other_std, heads, guard, ood, ("knee", "spine"))
    assert np.allclose(ref, ref_ood_same_space)
    assert np.allclose(got, ref, atol=1e-3, rtol=1e-4)


def test_cache_is_reused_and_keyed_by_preprocessing(tmp_path):
    films = _films(tmp_path, n=2)
    fs = FeatureSet("whole", "random:0", 64, architecture=ARCH)
    cache = EmbeddingCache(tmp_path / "cache", threads=1)
    assert cache.compute(films, jobs_for([fs])).computed == 2
    again = EmbeddingCache(tmp_path / "cache", threads=1)
    st = again.compute(films, jobs_for([fs]))
    assert st.computed == 0 and st.reused == 2
    fs2 = FeatureSet("whole96", "random:0", 96, architecture=ARCH)
    assert again.compute(films, jobs_for([fs2])).computed == 2  # another input size: another key
    assert len({p.parent for p in (tmp_path / "cache").rglob("*.npz")}) == 2


def _low_target(m):
    G = len(m.guard_classes)

    def t(o):  # pytorch-grad-cam gives one image's output (1-D)
        z = o[G : G + 3]
        return torch.logsumexp(z[1:], dim=0) - z[0]

    return t


def test_forward_with_cam_equals_pytorch_grad_cam_for_one_view():
    from pytorch_grad_cam import GradCAM

    torch.manual_seed(0)
    m = PooledLinearNet(backbone=ARCH).eval()
    with torch.no_grad():
        for p in m.heads.parameters():
            p.normal_()
    x = torch.rand(1, 3, 96, 96)
    out, cam = m.forward_with_cam(x, "knee")
    assert torch.allclose(out, m(x).detach(), atol=1e-5)
    ref = GradCAM(model=m, target_layers=[m.backbone.bn2])(input_tensor=x, targets=[_low_target(m)])[0]
    ours = cam[0].numpy()
    ours = (ours - ours.min()) / (ours.max() - ours.min() + 1e-7)
    assert ours.shape == ref.shape == (96, 96)
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.99


def test_forward_with_cam_maps_each_view_back_to_its_region():
    torch.manual_seed(1)
    m = PooledLinearNet(backbone=ARCH, views=("centre",), hflip_tta=True).eval()
    with torch.no_grad():
        for p in m.heads.parameters():
            p.normal_()
    x = torch.rand(2, 3, 128, 128)
    total = 0.0
    for sign in (1.0, -1.0):  # ReLU keeps one side: a target or its negation shows something
        _, cam = m.forward_with_cam(x, "spine", target=lambda o, s=sign: s * m.low_bmd_logit(o, "spine"))
        assert cam.shape == (2, 128, 128) and (cam >= 0).all()
        inside = float(cam[:, 32:96, 32:96].sum())
        assert float(cam.sum()) == pytest.approx(inside)  # nothing outside the centre crop
        total += inside
    assert total > 0
    m2 = PooledLinearNet(backbone=ARCH, views=("half", "band")).eval()
    _, cam2 = m2.forward_with_cam(x, "knee", target=lambda o: o[:, 0])
    assert cam2.shape == (2, 128, 128) and torch.isfinite(cam2).all()
