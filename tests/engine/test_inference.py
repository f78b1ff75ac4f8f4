from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.errors import InferenceError
from osteo_desktop.core.film import Film, FilmIdentifiers, Window
from osteo_desktop.core.inference import (
    CAM_EMPTY,
    CAM_OK,
    DECISION_NEGATIVE,
    DECISION_NOT_SCREENED,
    DECISION_POSITIVE,
    Cancelled,
    Screener,
    resolve_device,
)
from tests.conftest import make_bundle


def knee_like_film(shape=(300, 200), **ids) -> Film:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    bone = (np.abs(x - shape[1] / 2) < shape[1] / 8).astype(np.float32) * 150
    px = (50 + bone + rng.normal(0, 10, shape)).astype(np.float32)
    return Film(path=Path("synthetic.png"), pixels=px, windows=(Window(127.5, 256, "file range"),),
                source_format="PNG", ids=FilmIdentifiers(**ids))


@pytest.fixture(scope="module")
def screener(tiny_bundle):
    return Screener(tiny_bundle, device="cpu")


def test_screen_gives_probabilities_score_decision_and_cam_on_film_grid(screener):
    film = knee_like_film((300, 200))
    pred = screener.screen(film)
    assert set(pred.probabilities) == {"normal", "osteopenia", "osteoporosis"}
    assert abs(sum(pred.probabilities.values()) - 1.0) < 1e-5
    assert pred.low_bmd_score == pytest.approx(pred.probabilities["osteopenia"] + pred.probabilities["osteoporosis"])
    expected = DECISION_POSITIVE if pred.low_bmd_score >= pred.threshold else DECISION_NEGATIVE
    assert pred.decision == expected
    assert pred.predicted_class == max(pred.probabilities, key=pred.probabilities.get)
    assert pred.device == "cpu"
    assert pred.cam_status == CAM_OK
    assert pred.cam.shape == film.shape and pred.cam.dtype == np.float32
    assert 0.0 <= pred.cam.min() and pred.cam.max() <= 1.0
    d = pred.to_dict()
    assert d["model"]["sha256"] == screener.bundle.config.sha256
    assert "not a diagnosis" in d["intended_use"]


def test_cam_pass_and_plain_forward_agree(screener):
    film = knee_like_film()
    with_cam = screener.screen(film, gradcam=True)
    without = screener.screen(film, gradcam=False)
    for k in with_cam.probabilities:
        assert with_cam.probabilities[k] == pytest.approx(without.probabilities[k], abs=1e-5)
    assert without.cam is None


@pytest.mark.slow
def test_threshold_decides(tmp_path):
    film = knee_like_film()
    low = Screener(make_bundle(tmp_path / "lo", threshold=0.0), device="cpu").screen(film, gradcam=False)
    high = Screener(make_bundle(tmp_path / "hi", threshold=1.0), device="cpu").screen(film, gradcam=False)
    assert low.decision == DECISION_POSITIVE
    assert high.decision == DECISION_NEGATIVE or high.low_bmd_score >= 1.0


def test_all_zero_cam_is_reported_not_drawn(tmp_path):
    # a zeroed classifier gives identical logits for every class: no gradient, an all-zero map
    s = Screener(make_bundle(tmp_path / "z", zero_head=True), device="cpu")
    pred = s.screen(knee_like_film())
    assert pred.cam_status == CAM_EMPTY and pred.cam is None
    assert any("all zero" in w for w in pred.warnings)
    assert pred.probabilities["normal"] == pytest.approx(1 / 3, abs=1e-5)


def test_temperature_softens_probabilities(tmp_path):
    import json

    b = make_bundle(tmp_path / "t", seed=3)
    film = knee_like_film()
    p1 = Screener(b, device="cpu").screen(film, gradcam=False)
    cfg = json.loads((b.path / "config.json").read_text())
    cfg["temperature"] = 50.0
    (b.path / "config.json").write_text(json.dumps(cfg))
    p2 = Screener(str(b.path), device="cpu").screen(film, gradcam=False)
    assert max(p2.probabilities.values()) - min(p2.probabilities.values()) < max(p1.probabilities.values()) - min(p1.probabilities.values())


@pytest.mark.slow
def test_cancel_and_progress(screener):
    seen = []
    screener.screen(knee_like_film(), progress=lambda f, what: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(Cancelled):
        screener.screen(knee_like_film(), should_cancel=lambda: True)


def test_film_the_tags_rule_out_is_not_screened_and_the_model_is_not_run(screener):
    film = knee_like_film(modality="CT", body_part="CHEST")
    film.source_format = "DICOM"
    pred = screener.screen(film)
    assert pred.decision == DECISION_NOT_SCREENED and not pred.screened
    assert pred.probabilities is None and pred.low_bmd_score is None and pred.cam is None
    assert "modality is CT" in pred.not_screened_reason and pred.decision_text.startswith("Not screened")
    assert pred.eligibility.by == "tags" and "model" not in pred.timings_ms
    assert not pred.referral_recommended and "referral" not in pred.decision_text.lower()
    d = pred.to_dict()
    assert d["probabilities"] is None and d["low_bmd_score"] is None and d["eligibility"]["by"] == "tags"


def test_format1_bundle_without_validation_metrics_gives_scores_for_information_only(screener):
    """The test bundle carries no validation metrics: its scores never recommend a referral."""
    plain = screener.screen(knee_like_film(), gradcam=False)
    assert plain.screened and not plain.validated and not plain.referral_recommended
    assert "for information only" in plain.decision_text and "referral for DXA" not in plain.decision_text
    assert any("no picture check" in w for w in plain.warnings)  # a PNG, and no guard in a format-1 bundle


def test_device_resolution():
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InferenceError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InferenceError):
            resolve_device("cuda")


@pytest.mark.slow
def test_warm_up_runs_and_leaves_results_unchanged(screener):
    film = knee_like_film()
    before = screener.screen(film, gradcam=False).probabilities
    screener.warm_up()
    after = screener.screen(film, gradcam=False).probabilities
    assert before == pytest.approx(after, abs=1e-6)


def test_a_passed_display_image_gives_the_same_result(screener):
    from osteo_desktop.core.display import render

    film = knee_like_film()
    a = screener.screen(film)
    b = screener.screen(film, display=render(film))
    assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
    assert np.allclose(a.cam, b.cam, atol=1e-5)
