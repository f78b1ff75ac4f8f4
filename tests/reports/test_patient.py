"""The patient-level (multifocal) rule: per anatomy the mean vs its threshold; validated anatomies decide."""

from __future__ import annotations

import pytest

from osteo_desktop.core.inference import DECISION_NEGATIVE, DECISION_POSITIVE
from osteo_desktop.core.reports import FilmResult, combine_patient
from osteo_desktop.core.reports.patient import RULE_TEXT, UNSPECIFIED


def fr(label, anatomy, score, threshold=0.5, error="", validated=True, basis="image"):
    return FilmResult(label, anatomy, score, None if score is None else threshold, error, validated, basis)


def test_mean_per_anatomy_then_max_over_anatomies():
    r = combine_patient([fr("K1", "knee", 0.30), fr("K2", "knee", 0.50), fr("S1", "spine", 0.62), fr("S2", "spine", 0.30)])
    by = {a.anatomy: a for a in r.anatomies}
    assert by["knee"].score == pytest.approx(0.40)
    assert by["spine"].score == pytest.approx(0.46)
    assert by["knee"].film_labels == ("K1", "K2")
    assert r.score == pytest.approx(0.46)
    assert r.deciding_anatomy == "spine"
    assert r.decision == DECISION_NEGATIVE
    assert [a.anatomy for a in r.anatomies] == ["knee", "spine"]


def test_one_anatomy_above_threshold_makes_the_patient_positive():
    r = combine_patient([fr("K1", "knee", 0.2), fr("S1", "spine", 0.7)])
    assert r.decision == DECISION_POSITIVE and r.positive
    assert r.score == pytest.approx(0.7) and r.threshold == 0.5
    assert "consider referral for DXA" in r.decision_text


def test_score_equal_to_threshold_is_positive_like_a_single_film():
    assert combine_patient([fr("K1", "knee", 0.5)]).decision == DECISION_POSITIVE
    assert combine_patient([fr("K1", "knee", 0.4999)]).decision == DECISION_NEGATIVE


def test_a_film_outvoted_by_its_own_anatomy_is_flagged():
    r = combine_patient([fr("Film 1", "knee", 0.6), fr("Film 2", "knee", 0.2)])
    assert r.decision == DECISION_NEGATIVE
    assert any("Film 1" in w and "below" in w for w in r.warnings)


def test_unknown_anatomy_forms_its_own_group_with_a_warning():
    r = combine_patient([fr("A", None, 0.8), fr("B", "knee", 0.1)])
    assert {a.anatomy for a in r.anatomies} == {UNSPECIFIED, "knee"}
    assert r.deciding_anatomy == UNSPECIFIED and r.positive
    assert any("unrecognised anatomy" in w for w in r.warnings)


def test_films_not_screened_take_no_part():
    r = combine_patient([fr("A", "knee", None, error="unreadable"), fr("B", "knee", 0.3)])
    assert r.score == pytest.approx(0.3)
    assert r.n_screened == 1 and [f.label for f in r.not_screened] == ["A"]
    assert any("were not screened" in w for w in r.warnings)


def test_no_screened_film_gives_no_result():
    r = combine_patient([fr("A", "knee", None, error="x")])
    assert r.decision is None and r.score is None and r.anatomies == ()
    assert "No result" in r.decision_text


def test_different_thresholds_cannot_be_pooled_within_an_anatomy():
    with pytest.raises(ValueError, match="different"):
        combine_patient([fr("A", "knee", 0.3, 0.5), fr("B", "knee", 0.3, 0.6)])


def test_each_anatomy_is_compared_with_its_own_threshold():
    r = combine_patient([fr("K", "knee", 0.35, 0.30), fr("S", "spine", 0.55, 0.60)])
    by = {a.anatomy: a for a in r.anatomies}
    assert by["knee"].positive and not by["spine"].positive
    assert r.decision == DECISION_POSITIVE and r.deciding_anatomy == "knee" and r.threshold == 0.30


def test_anatomies_not_validated_do_not_decide():
    r = combine_patient([fr("K", "knee", 0.9, validated=False), fr("S", "spine", 0.2)])
    assert r.decision == DECISION_NEGATIVE and r.deciding_anatomy == "spine"
    assert any("knee" in w and "information only" in w for w in r.warnings)
    only_info = combine_patient([fr("K", "knee", 0.9, validated=False)])
    assert only_info.decision is None and only_info.anatomies
    assert "information only" in only_info.decision_text and "referral" not in only_info.decision_text


def test_within_an_anatomy_the_combined_score_is_preferred():
    r = combine_patient([fr("K1", "knee", 0.7, 0.4, basis="combined"), fr("K2", "knee", 0.1, 0.5, validated=False)])
    (knee,) = r.anatomies
    assert knee.basis == "combined" and knee.film_labels == ("K1",) and r.positive
    assert any("K2" in w and "combined" in w for w in r.warnings)


def test_scores_outside_unit_interval_are_rejected():
    with pytest.raises(ValueError, match="outside"):
        combine_patient([fr("A", "knee", 1.3)])


def test_rule_is_written_down():
    assert "mean" in RULE_TEXT and "validated" in RULE_TEXT and "threshold" in RULE_TEXT
    assert combine_patient([fr("A", "knee", 0.1)]).rule == RULE_TEXT
