from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from training.errors import ConfigError, PretrainedUnavailable
from training.pretrained import (
    LITE0_ARCH,
    PretrainedResolver,
    is_lite0_layout,
    lite0_package_path,
    lite0_to_timm,
    timm_stage_depths,
)


@pytest.fixture(scope="module")
def lite0_state():
    try:
        path = lite0_package_path()
    except PretrainedUnavailable as e:
        pytest.skip(str(e))
    return torch.load(path, map_location="cpu", weights_only=True)


def test_lite0_renaming_fills_every_timm_key(lite0_state):
    assert is_lite0_layout(lite0_state)
    model = timm.create_model(LITE0_ARCH, num_classes=3)
    renamed = lite0_to_timm(lite0_state, timm_stage_depths(model))
    own = model.state_dict()
    classifier = {"classifier.weight", "classifier.bias"}
    missing = set(own) - set(renamed)
    assert missing == set(), missing
    for k in set(own) - classifier:
        assert tuple(own[k].shape) == tuple(renamed[k].shape), k
    # strict load of everything except the (3-class) classifier
    result = model.load_state_dict({k: v for k, v in renamed.items() if k not in classifier}, strict=False)
    assert set(result.missing_keys) == classifier and not result.unexpected_keys
    # and a fully strict load into the 1000-class ImageNet model
    full = timm.create_model(LITE0_ARCH, num_classes=1000)
    full.load_state_dict(renamed, strict=True)


def test_lite0_weights_classify_an_imagenet_picture(lite0_state):
    """Semantic check of the renaming: Grace Hopper (matplotlib's sample) is a 'military uniform' (652)."""
    import cv2
    import matplotlib

    f = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not f.is_file():
        pytest.skip("matplotlib sample image not installed")
    img = cv2.resize(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), (224, 224)).astype(np.float32) / 255
    x = torch.from_numpy((img - 0.5) / 0.5).permute(2, 0, 1)[None]
    model = timm.create_model(LITE0_ARCH, num_classes=1000)
    model.load_state_dict(lite0_to_timm(lite0_state))
    with torch.no_grad():
        top5 = model.eval()(x).topk(5).indices[0].tolist()
    assert 652 in top5


def test_resolver_fallback_when_hub_is_unreachable(monkeypatch, lite0_state):
    monkeypatch.setenv("OSTEO_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    r = PretrainedResolver({"architecture": "efficientnet_b0", "pretrained": "hub", "pretrained_fallback": "lite0-package",
                            "fallback_architecture": LITE0_ARCH, "kwargs": {}}, 3)
    assert r.info.architecture == LITE0_ARCH and r.info.requested_architecture == "efficientnet_b0"
    assert "unavailable" in r.info.note and r.info.mean == (0.5, 0.5, 0.5)
    m = r.build()
    assert torch.equal(m.state_dict()["conv_stem.weight"], lite0_to_timm(lite0_state)["conv_stem.weight"])
    with pytest.raises(PretrainedUnavailable):
        PretrainedResolver({"architecture": "efficientnet_b0", "pretrained": "hub", "pretrained_fallback": "error", "kwargs": {}}, 3)


def test_local_safetensors_start_and_mismatch(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = timm.create_model("osteo_cnn", num_classes=5, widths=[4, 8], dense=8)
    save_file(src.state_dict(), str(tmp_path / "w.safetensors"))
    r = PretrainedResolver(
        {"architecture": "osteo_cnn", "pretrained": str(tmp_path / "w.safetensors"), "kwargs": {"widths": [4, 8], "dense": 8}}, 3
    )
    m = r.build()
    assert torch.equal(m.state_dict()["features.0.0.weight"], src.state_dict()["features.0.0.weight"])
    assert m.classifier.out_features == 3
    with pytest.raises(ConfigError, match="shapes differ|do not fit"):
        PretrainedResolver(
            {"architecture": "osteo_cnn", "pretrained": str(tmp_path / "w.safetensors"), "kwargs": {"widths": [4, 16], "dense": 8}}, 3
        )


def test_osteo_cnn_is_a_timm_model():
    m = timm.create_model("osteo_cnn", num_classes=3, in_chans=3, widths=[4, 8], dense=8)
    out = m(torch.rand(2, 3, 40, 56))
    assert out.shape == (2, 3)
    assert m.forward_head(m.forward_features(torch.rand(1, 3, 32, 32)), pre_logits=True).shape == (1, 8)


@pytest.fixture(scope="module")
def lite2_state():
    from training.pretrained import lite_package_path

    try:
        path = lite_package_path("lite2-package")
    except PretrainedUnavailable as e:
        pytest.skip(str(e))
    return torch.load(path, map_location="cpu", weights_only=True)


def test_lite2_package_weights_have_the_pinned_sha_and_load_strictly(lite2_state):
    from osteo_desktop.core.bundle import sha256_file
    from training.pretrained import LITE_PACKAGES, lite_package_path

    pkg = LITE_PACKAGES["lite2-package"]
    assert sha256_file(lite_package_path("lite2-package")) == pkg.sha256
    model = timm.create_model(pkg.architecture, num_classes=1000)
    assert timm_stage_depths(model) == list(pkg.stage_depths)
    model.load_state_dict(lite0_to_timm(lite2_state, list(pkg.stage_depths)), strict=True)


def test_lite2_weights_classify_an_imagenet_picture(lite2_state):
    import cv2
    import matplotlib

    from training.pretrained import LITE_PACKAGES

    f = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not f.is_file():
        pytest.skip("matplotlib sample image not installed")
    img = cv2.resize(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), (260, 260)).astype(np.float32) / 255
    x = torch.from_numpy((img - 0.5) / 0.5).permute(2, 0, 1)[None]
    pkg = LITE_PACKAGES["lite2-package"]
    model = timm.create_model(pkg.architecture, num_classes=1000)
    model.load_state_dict(lite0_to_timm(lite2_state, list(pkg.stage_depths)))
    with torch.no_grad():
        top5 = model.eval()(x).topk(5).indices[0].tolist()
    assert 652 in top5
