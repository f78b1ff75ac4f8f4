import math

import pytest

from osteo_desktop.core.score_bases import (
    COMBINED,
    IMAGE,
    ScoreBook,
    choose_basis,
    image_logit,
    reliability_text,
)

V1_METRICS = {  # the layout of format-1 bundles (osteo-effnet 1.1.0)
    "evaluation": "5-fold CV",
    "overall": {"auc_low_bmd": 0.63, "auc_low_bmd_ci95": [0.4958, 0.74]},
    "knee": {"auc_low_bmd": 0.48, "auc_low_bmd_ci95": [0.33, 0.63], "age_only_auc_low_bmd": 0.94},
    "spine": {"auc_low_bmd": 0.71, "auc_low_bmd_ci95": [0.55, 0.84]},
}


def test_format1_metrics_give_per_anatomy_image_scores_and_the_validated_rule():
    book = ScoreBook.from_config(threshold=0.56, threshold_goal="g", temperature=6.6, metrics=V1_METRICS)
    assert not book.image("knee").validated  # CI includes 0.5
    assert book.image("spine").validated
    assert not book.image(None).validated  # overall: 0.4958 < 0.5
    assert book.image("spine").threshold == 0.56 and book.image("spine").temperature == 6.6
    s = choose_basis(book, "knee", 0.8, {"age": 70.0, "sex_female": 1.0})
    assert s.basis == IMAGE and s.positive and not s.validated
    text = reliability_text(s, book)
    assert "did no better than chance" in text and "Age alone did better (ROC-AUC 0.94)" in text


def test_a_bundle_without_metrics_is_not_validated():
    book = ScoreBook.from_config(threshold=0.5, threshold_goal="g", temperature=1.0, metrics={})
    s = choose_basis(book, "knee", 0.9, {})
    assert not s.validated and "no validation" in reliability_text(s, book)


def test_combined_logistic_and_its_inputs():
    screening = {"knee": {
        "image": {"threshold": 0.5, "metrics": {"auc": 0.6, "auc_ci95": [0.45, 0.7]}},
        "combined": {"model": {"features": ["image_logit", "age", "sex_female"], "coef": [1.0, 0.05, -0.5], "intercept": -3.0},
                     "threshold": 0.3, "metrics": {"auc": 0.95, "auc_ci95": [0.9, 0.98]}},
    }}
    book = ScoreBook.from_config(threshold=0.5, threshold_goal="g", temperature=1.0, metrics={}, screening=screening)
    s = choose_basis(book, "knee", 0.7, {"age": 60.0, "sex_female": 0.0})
    z = -3.0 + image_logit(0.7) + 0.05 * 60
    assert s.basis == COMBINED and s.score == pytest.approx(1 / (1 + math.exp(-z)))
    assert s.spec.threshold == 0.3 and s.validated
    no_sex = choose_basis(book, "knee", 0.7, {"age": 60.0, "sex_female": None})
    assert no_sex.basis == IMAGE and no_sex.missing_for_combined == ("sex_female",)
    assert "Enter the patient's sex" in reliability_text(no_sex, book)


def test_image_logit_is_finite_at_the_edges():
    assert math.isfinite(image_logit(0.0)) and math.isfinite(image_logit(1.0))
    assert image_logit(0.5) == 0.0


@pytest.mark.parametrize("bad", [
    {"knee": {"combined": {"model": {"features": ["age"], "coef": [1.0, 2.0]}, "threshold": 0.5}}},
    {"knee": {"image": {"threshold": 1.5}}},
    {"knee": {"image": {"threshold": 0.5, "temperature": 0}}},
    {"knee": {"image": {}}},
])
def test_malformed_screening_sections_are_refused(bad):
    with pytest.raises((ValueError, KeyError)):
        ScoreBook.from_config(threshold=0.5, threshold_goal="g", temperature=1.0, metrics={}, screening=bad)


def test_a_validated_combined_score_says_what_the_image_adds_over_age():
    screening = {"knee": {
        "image": {"threshold": 0.5, "metrics": {"auc": 0.62, "auc_ci95": [0.49, 0.75]}},
        "clinical": {"model": {"features": ["age", "sex_female"], "coef": [0.1, 0.2], "intercept": -5.0}, "threshold": 0.7,
                     "metrics": {"auc": 0.93, "auc_ci95": [0.87, 0.97]}},
        "combined": {"model": {"features": ["image_logit", "age", "sex_female"], "coef": [0.2, 0.1, 0.2], "intercept": -5.0},
                     "threshold": 0.79, "metrics": {"auc": 0.93, "auc_ci95": [0.87, 0.98],
                                                    "minus_clinical_auc": {"value": -0.002, "ci95": [-0.015, 0.008]}}},
    }}
    book = ScoreBook.from_config(threshold=0.5, threshold_goal="g", temperature=1.0, metrics={}, screening=screening)
    s = choose_basis(book, "knee", 0.8, {"age": 70.0, "sex_female": 1.0})
    text = reliability_text(s, book)
    assert text.startswith("Validated on knee films using the image combined with age and sex")
    assert "Age and sex alone reach 0.93; the image adds -0.002 (95% CI -0.015 to +0.008), no more than chance would." in text
