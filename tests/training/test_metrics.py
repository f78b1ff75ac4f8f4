from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from training.metrics import (
    classification_metrics,
    evaluate_group,
    fast_auc,
    fast_macro_f1,
    fit_temperature,
    nll,
    select_threshold,
    softmax,
)

CLASSES = ["normal", "osteopenia", "osteoporosis"]


def test_metrics_on_known_inputs():
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array([[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.1, 0.1, 0.8], [0.1, 0.3, 0.6]])
    m = classification_metrics(y, probs, CLASSES, [1, 2], threshold=0.5)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert m["per_class"]["osteoporosis"]["recall"] == 1.0
    assert m["per_class"]["normal"]["precision"] == 1.0
    # low-BMD score = P(osteopenia) + P(osteoporosis): 0.2, 0.6, 0.9, 0.8, 0.9, 0.9 -> positives all above negatives but one
    assert m["auc_low_bmd"] == pytest.approx(roc_auc_score([0, 0, 1, 1, 1, 1], [0.2, 0.6, 0.9, 0.8, 0.9, 0.9]))
    assert m["screening"]["sensitivity"] == 1.0 and m["screening"]["specificity"] == 0.5
    assert m["majority_class_accuracy"] == pytest.approx(1 / 3)


def test_fast_kernels_match_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 3, 40)
        p = rng.integers(0, 3, 40)
        s = np.round(rng.random(40), 1)  # ties
        yb = (y > 0).astype(int)
        assert fast_auc(yb, s) == pytest.approx(roc_auc_score(yb, s))
        assert fast_macro_f1(y, p, 3) == pytest.approx(f1_score(y, p, average="macro"))


def test_bootstrap_resamples_patients():
    rng = np.random.default_rng(1)
    n_pat = 60
    groups = np.repeat([f"p{i}" for i in range(n_pat)], 3)  # 3 images per patient
    y = np.repeat(rng.integers(0, 3, n_pat), 3)
    logits = rng.normal(size=(len(y), 3)) + 1.5 * np.eye(3)[y]
    ages = np.where(np.isin(y, [1, 2]), 60.0, 40.0) + rng.normal(0, 8, len(y))
    r = evaluate_group(y, softmax(logits), groups, CLASSES, [1, 2], 0.5, ages, n_boot=300, seed=0)
    lo, hi = r["ci95"]["auc_low_bmd"]
    assert lo < r["auc_low_bmd"] < hi
    assert r["n_patients"] == n_pat
    ab = r["age_baseline"]
    assert ab["auc_age_ci95"][0] < ab["auc_age"] < ab["auc_age_ci95"][1]
    # patient-level resampling: treating each image as its own patient gives a narrower (wrong) interval
    r_img = evaluate_group(y, softmax(logits), np.arange(len(y)).astype(str), CLASSES, [1, 2], 0.5, None, n_boot=300, seed=0)
    assert (hi - lo) > (r_img["ci95"]["auc_low_bmd"][1] - r_img["ci95"]["auc_low_bmd"][0])


@pytest.mark.parametrize("goal", [0.8, 0.9, 0.95])
def test_threshold_meets_the_sensitivity_goal(goal):
    rng = np.random.default_rng(2)
    y_bin = rng.integers(0, 2, 200)
    score = np.clip(0.5 + 0.25 * (y_bin - 0.5) + rng.normal(0, 0.2, 200), 0, 1)
    op = select_threshold(y_bin, score, goal)
    sens = (score[y_bin == 1] >= op["threshold"]).mean()
    spec = (score[y_bin == 0] < op["threshold"]).mean()
    assert sens >= goal and op["goal_met"]
    assert op["sensitivity"] == pytest.approx(sens) and op["specificity"] == pytest.approx(spec)
    # best specificity: any higher threshold breaks the goal
    higher = np.sort(score[score > op["threshold"]])[:1]
    if higher.size:
        assert (score[y_bin == 1] >= higher[0] + 1e-9).mean() < goal


def test_temperature_scaling_lowers_nll_of_overconfident_logits():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 1.0 * np.eye(3)[y]
    over = 4.0 * logits  # miscalibrated: far too confident
    t = fit_temperature(over, y)
    assert t == pytest.approx(4.0, rel=0.3)
    assert nll(over, y, t) < nll(over, y)
    assert fit_temperature(logits, y) == pytest.approx(1.0, rel=0.3)
