"""The screening rules end to end through `Screener` with a format-2 bundle: picture check, tags,
age, distance from the training films, score basis, validated or for information only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.clinical import SRC_USER, user_inputs
from osteo_desktop.core.film import Film, FilmIdentifiers, Window
from osteo_desktop.core.inference import (
    CAM_OK,
    DECISION_NEGATIVE,
    DECISION_NOT_SCREENED,
    DECISION_POSITIVE,
    Screener,
)
from tests.engine.guarded_bundle import make_guarded_bundle

LOW = [-4.0, 2.0, 2.0]  # head biases: low bone density very likely
NORMAL = [4.0, -2.0, -2.0]


def film(**ids) -> Film:
    rng = np.random.default_rng(1)
    px = (100 + 40 * rng.standard_normal((96, 80))).astype(np.float32)
    fmt = "DICOM" if ids else "PNG"
    return Film(path=Path("f.dcm" if ids else "f.png"), pixels=px, windows=(Window(100, 300, "w"),),
                source_format=fmt, ids=FilmIdentifiers(**ids))


@pytest.fixture(scope="module")
def make(tmp_path_factory):
    cache: dict = {}

    def _make(**kw) -> Screener:
        key = repr(sorted(kw.items()))
        if key not in cache:
            cache[key] = Screener(make_guarded_bundle(tmp_path_factory.mktemp("b"), **kw), device="cpu")
        return cache[key]

    return _make


def test_a_chest_picture_without_tags_is_not_screened_by_the_picture(make):
    pred = make(looks_like="other_radiograph").screen(film())
    assert pred.decision == DECISION_NOT_SCREENED
    assert pred.eligibility.by == "image" and pred.eligibility.anatomy == "other_radiograph"
    assert pred.eligibility.confidence > 0.9
    assert "radiograph of another body part" in pred.not_screened_reason
    assert pred.cam is None and pred.probabilities is None and not pred.referral_recommended
    d = pred.to_dict()
    assert d["decision"] == "not_screened" and d["not_screened_reason"] and d["low_bmd_score"] is None
    assert set(d["eligibility"]) >= {"anatomy", "by", "confidence"}


def test_the_picture_vetoes_tags_that_say_knee(make):
    pred = make(looks_like="not_radiograph").screen(film(modality="CR", body_part="KNEE"))
    assert not pred.screened and "not a plain radiograph" in pred.not_screened_reason
    assert "tags say knee" in pred.not_screened_reason


def test_whole_spine_films_are_not_screened_and_say_why(make):
    pred = make(looks_like="spine_film").screen(film())
    assert not pred.screened and "whole-spine film" in pred.not_screened_reason
    assert "masked crops" in pred.not_screened_reason


def test_tags_and_picture_disagreeing_on_the_anatomy_is_not_screened(make):
    pred = make(looks_like="knee").screen(film(modality="DX", body_part="LSPINE"))
    assert not pred.screened and pred.eligibility.by == "both"
    assert "tags say spine" in pred.not_screened_reason


def test_an_unsure_picture_check_is_not_screened(make):
    pred = make(looks_like="knee", guard_margin=0.1, min_probability=0.6).screen(film())
    assert not pred.screened and "cannot tell confidently" in pred.not_screened_reason


def test_tags_and_picture_agreeing_screen_by_both_with_the_anatomy_head(make):
    s = make(looks_like="knee", head_bias={"knee": LOW, "spine": NORMAL})
    pred = s.screen(film(modality="CR", body_part="KNEE"))
    assert pred.screened and pred.eligibility.by == "both" and pred.eligibility.anatomy == "knee"
    assert pred.probabilities["normal"] < 0.1  # the knee head (LOW), not the spine head
    assert pred.cam_status == CAM_OK and pred.cam.shape == (96, 80)
    s2 = make(looks_like="spine", head_bias={"knee": LOW, "spine": NORMAL})
    assert s2.screen(film()).probabilities["normal"] > 0.9 and s2.screen(film()).eligibility.by == "image"


def test_children_are_not_screened_and_the_very_old_get_a_warning(make):
    s = make(looks_like="knee")
    child = s.screen(film(modality="CR", body_part="KNEE", patient_age="010Y"))
    assert not child.screened and "10 years old" in child.not_screened_reason and "18" in child.not_screened_reason
    by_dates = s.screen(film(modality="CR", body_part="KNEE", patient_birth_date="20150101", study_date="20250601"))
    assert not by_dates.screened and "10 years old" in by_dates.not_screened_reason
    old = s.screen(film(modality="CR", body_part="KNEE", patient_age="095Y"))
    assert old.screened and any("95 years old" in w for w in old.warnings)
    entered_child = s.screen(film(), clinical=user_inputs(age=12))
    assert not entered_child.screened


def test_a_film_far_from_the_training_films_gets_a_warning_in_words(make):
    near = make(looks_like="spine", d2=3.0, ood_threshold=10.0).screen(film())
    far = make(looks_like="spine", d2=40.0, ood_threshold=10.0).screen(film())
    assert near.screened and not any("unlike" in w for w in near.warnings)
    assert far.screened and any("unlike the spine films the model was trained on" in w for w in far.warnings)
    assert far.to_dict()["eligibility"]["distance_d2"] == pytest.approx(40.0)


def test_knee_without_age_decides_on_the_unvalidated_image_score_for_information_only(make):
    pred = make(looks_like="knee", head_bias={"knee": LOW}).screen(film())
    assert pred.score_basis == "image" and not pred.validated
    assert pred.decision == DECISION_POSITIVE and not pred.referral_recommended
    assert "for information only" in pred.decision_text and "referral for DXA" not in pred.decision_text
    assert "did no better than chance" in pred.reliability and "age and sex" in pred.reliability.lower()
    assert "Enter the patient's age and sex" in pred.reliability
    d = pred.to_dict()
    assert d["score_basis"] == "image" and d["validated"] is False and d["referral_recommended"] is False


def test_knee_with_age_and_sex_decides_on_the_validated_combined_score(make):
    s = make(looks_like="knee", head_bias={"knee": LOW})
    pred = s.screen(film(modality="CR", body_part="KNEE", patient_age="070Y", patient_sex="F"))
    assert pred.score_basis == "combined" and pred.validated
    assert pred.threshold == pytest.approx(0.4)  # the combined score's own threshold
    assert pred.scores.clinical is not None and pred.scores.combined == pytest.approx(pred.low_bmd_score)
    assert pred.decision == DECISION_POSITIVE and pred.referral_recommended
    assert "consider referral for DXA" in pred.decision_text
    d = pred.to_dict()
    assert d["clinical"]["age"] == {"value": 70.0, "source": "DICOM PatientAge"}
    assert d["clinical"]["sex"]["value"] == "female"
    s_normal = make(looks_like="knee", head_bias={"knee": NORMAL})
    young = s_normal.screen(film(modality="CR", body_part="KNEE", patient_age="025Y", patient_sex="M"))
    assert young.score_basis == "combined" and young.decision == DECISION_NEGATIVE


def test_values_entered_by_a_user_override_the_tags_and_say_so(make):
    s = make(looks_like="knee", head_bias={"knee": LOW})
    pred = s.screen(film(modality="CR", body_part="KNEE", patient_age="070Y"), clinical=user_inputs(age=30, sex="M"))
    assert pred.clinical.age.value == 30 and pred.clinical.age.source == SRC_USER
    assert pred.to_dict()["clinical"]["sex"]["source"] == SRC_USER and pred.score_basis == "combined"


def test_spine_image_score_is_validated_and_may_recommend_referral(make):
    s = make(looks_like="spine", head_bias={"spine": LOW})
    pred = s.screen(film())
    assert pred.score_basis == "image" and pred.validated and pred.referral_recommended
    assert pred.reliability.startswith("Validated on spine films")


def test_no_referral_words_anywhere_for_not_validated_or_not_screened(make):
    results = [
        make(looks_like="knee", head_bias={"knee": LOW}).screen(film()),
        make(looks_like="other_radiograph").screen(film()),
        make(looks_like="knee").screen(film(modality="MR")),
    ]
    for pred in results:
        assert not pred.referral_recommended
        text = " ".join(str(v) for v in pred.to_dict().values())
        assert "consider referral" not in text.lower()


def test_gradcam_off_gives_the_same_decisions(make):
    s = make(looks_like="knee", head_bias={"knee": LOW})
    a, b = s.screen(film()), s.screen(film(), gradcam=False)
    assert a.decision == b.decision and a.probabilities == pytest.approx(b.probabilities)
    assert b.cam is None
    c = make(looks_like="other_radiograph").screen(film(), gradcam=False)
    assert not c.screened


def test_a_bundle_whose_guard_does_not_match_its_rules_is_refused(tmp_path):
    import json

    from osteo_desktop.core.errors import BundleError

    b = make_guarded_bundle(tmp_path / "bad")
    cfg = json.loads((b.path / "config.json").read_text())
    cfg["guard"]["classes"] = ["knee", "spine"]
    (b.path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="guard"):
        Screener(str(b.path), device="cpu")
    cfg["guard"]["classes"] = ["a", "b", "c", "d", "e"]  # five classes fit the head again
    cfg["screening"]["knee"]["combined"]["model"]["coef"] = [1.0]
    (b.path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="coefficients"):
        Screener(str(b.path), device="cpu")
