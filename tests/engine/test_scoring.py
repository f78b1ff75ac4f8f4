"""core.scoring: the one place where probabilities, the low-BMD score, the decision and its colour
are computed (training, CLI, viewer and reports all call it)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core import scoring as sc
from osteo_desktop.core.scoring import Decision

ROOT = Path(__file__).resolve().parents[2]


def test_softmax_one_film_and_a_batch_agree():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [1000.0, 999.0, -1000.0]])
    p = sc.softmax(logits, temperature=2.0)
    assert p.shape == (3, 3) and np.allclose(p.sum(axis=1), 1.0)
    for row, expected in zip(logits, p, strict=True):
        np.testing.assert_array_equal(sc.softmax(row, 2.0), expected)
    ref = np.exp(logits[0] / 2.0) / np.exp(logits[0] / 2.0).sum()
    np.testing.assert_allclose(p[0], ref, rtol=1e-12)
    assert np.isfinite(p[2]).all()  # stable for large logits
    with pytest.raises(ValueError, match="temperature"):
        sc.softmax(logits, 0.0)


def test_temperature_flattens():
    z = np.array([3.0, 0.0, 0.0])
    assert sc.softmax(z, 1.0)[0] > sc.softmax(z, 3.0)[0] > 1 / 3


def test_score_and_rule_at_the_boundary():
    probs = np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]])
    score = sc.low_bmd_score(probs, [1, 2])
    np.testing.assert_allclose(score, [0.5, 0.4])
    np.testing.assert_array_equal(sc.is_low_bmd(score, 0.5), [True, False])
    assert sc.is_low_bmd(0.5, 0.5) is True and sc.is_low_bmd(0.4999, 0.5) is False
    assert sc.decide(0.5, 0.5) is Decision.POSITIVE
    assert sc.decide(0.4999, 0.5) is Decision.NEGATIVE
    assert sc.decide(None, 0.5) is sc.decide(0.7, None) is Decision.NOT_SCREENED
    assert sc.relation_text(0.5, 0.5) == "at or above" and sc.relation_text(0.2, 0.5) == "below"


def test_score_logits():
    s = sc.score_logits([0.0, 1.0, 1.0], ("normal", "osteopenia", "osteoporosis"), ("osteopenia", "osteoporosis"), 1.0)
    e = np.exp([0.0, 1.0, 1.0])
    assert s.low_bmd_score == pytest.approx((e[1] + e[2]) / e.sum())
    assert s.predicted_class == "osteopenia"  # first of the tied maxima
    assert list(s.probabilities) == ["normal", "osteopenia", "osteoporosis"]
    with pytest.raises(ValueError, match="2 logits for 3 classes"):
        sc.score_logits([0.0, 1.0], ("a", "b", "c"), ("b",), 1.0)
    with pytest.raises(ValueError, match="not among the classes"):
        sc.score_logits([0.0, 1.0], ("a", "b"), ("c",), 1.0)


def test_decision_values_texts_and_json():
    assert Decision.POSITIVE == "low_bmd_suspected" and Decision.NEGATIVE == "low_bmd_not_suspected"
    assert f"{Decision.NOT_SCREENED}" == "not_screened"
    assert json.dumps({"d": Decision.POSITIVE}) == '{"d": "low_bmd_suspected"}'
    assert set(sc.DECISION_TEXT) == set(Decision)
    assert "consider referral for DXA" in sc.decision_text(Decision.POSITIVE)
    assert "does not rule it out" in sc.decision_text("low_bmd_not_suspected")
    for d in (Decision.POSITIVE, Decision.NEGATIVE):  # not validated: for information only, never referral words
        text = sc.decision_text(d, validated=False)
        assert "for information only" in text and "referral for DXA" not in text
    assert sc.decision_text(Decision.NOT_SCREENED, reason="A chest film.") == "Not screened: A chest film."


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _greenish(hex_colour: str) -> bool:
    r, g, b = _rgb(hex_colour)
    return g > r + 20 and g > b + 20


@pytest.mark.parametrize("surface", ["paper", "screen"])
def test_one_colour_rule_and_never_green(surface):
    pos = sc.decision_colour(Decision.POSITIVE, surface=surface)
    neg = sc.decision_colour(Decision.NEGATIVE, surface=surface)
    none = sc.decision_colour(Decision.NOT_SCREENED, surface=surface)
    assert len({pos, neg, none}) == 3
    assert sc.decision_colour(None, surface=surface) == none
    for colour in (pos, neg, none, sc.score_bar_colour(0.1, 0.5, surface=surface), sc.score_bar_colour(0.9, 0.5, surface=surface)):
        assert re.fullmatch(r"#[0-9A-F]{6}", colour) and not _greenish(colour), colour
    r, g, b = _rgb(neg)
    assert b > r  # "not suspected" is blue: calm, not an all-clear
    r, g, b = _rgb(none)
    assert max(r, g, b) - min(r, g, b) <= 10  # "not screened" is a neutral grey
    assert sc.score_bar_colour(0.5, 0.5, surface=surface) == sc.TONE_COLOURS[sc.Tone.ALERT].__dict__[
        "bar_paper" if surface == "paper" else "bar_screen"]
    with pytest.raises(ValueError):
        sc.decision_colour(Decision.POSITIVE, surface="print")


def test_training_and_app_call_the_same_functions():
    import training.metrics as tm
    from osteo_desktop.core import inference

    assert tm.softmax is sc.softmax and tm.low_bmd_score is sc.low_bmd_score
    assert inference.DECISION_POSITIVE is Decision.POSITIVE


def test_the_threshold_rule_is_written_once():
    """No module but core/scoring.py compares a score with a threshold itself."""
    offenders = []
    for folder in ("osteo_desktop", "training"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "scoring.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.GtE, ast.Lt)):
                    left, right = ast.unparse(node.left).lower(), ast.unparse(node.comparators[0]).lower()
                    if "score" in left and "thr" in right:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "\n".join(offenders)
