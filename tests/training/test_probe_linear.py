"""Linear heads on frozen features: the row-space solver equals scikit-learn, rebasing and fold ensembles are exact,
out-of-fold predictions never see their own fold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from training.linear import (
    Standardiser,
    auc_criterion,
    average_heads,
    fit_cv,
    fit_path,
    group_folds,
    low_score,
    neg_log_loss,
    outer_cv,
)
from training.metrics import fast_auc


def _data(n=60, F=300, seed=0, signal=1.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, F))
    X[:, :4] += signal * y[:, None]
    return X, y


@pytest.mark.parametrize("C", [1e-3, 0.1, 1.0])
def test_row_space_solver_matches_sklearn(C):
    X, y = _data()
    h = fit_path(X, y, 3, [C])[0]
    Z = h.standardiser(X)
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=20000, class_weight="balanced").fit(Z, y)
    scale = np.abs(ref.coef_).max()
    assert np.abs(h.coef - ref.coef_).max() < 1e-3 * scale
    assert np.allclose(h.logits(X) - h.logits(X).mean(1, keepdims=True),
                       ref.decision_function(Z) - ref.decision_function(Z).mean(1, keepdims=True), atol=1e-3 * (1 + scale))


def test_absent_class_gets_a_very_low_logit():
    X, y = _data()
    y = np.where(y == 2, 1, y)
    h = fit_path(X, y, 3, [0.1])[0]
    assert (h.logits(X)[:, 2] < -20).all()


def test_rebased_head_is_the_same_function():
    X, y = _data()
    h = fit_path(X, y, 3, [0.1])[0]
    other = Standardiser.fit(X[:20] * 3 + 1)
    assert np.allclose(h.rebased(other).logits(X), h.logits(X), atol=1e-8)


def test_fold_ensemble_is_the_mean_of_the_logits():
    X, y = _data()
    hs = [fit_path(X[i::2], y[i::2], 3, [0.1])[0] for i in range(2)]
    ens = average_heads(hs, Standardiser.fit(X))
    assert np.allclose(ens.logits(X), np.mean([h.logits(X) for h in hs], axis=0), atol=1e-8)


@pytest.mark.slow
def test_outer_cv_predictions_do_not_depend_on_their_own_fold_labels():
    X, y = _data(n=90)
    groups = np.array([f"p{i // 2}" for i in range(len(y))])  # two films per patient
    folds = group_folds(y, groups, 3, seed=1)
    crit = auc_criterion([1, 2])
    a = outer_cv(X, y, groups, folds, 3, crit, Cs=(0.01, 1.0), inner_k=3, seed=0)
    y2 = y.copy()
    y2[folds == 0] = (y2[folds == 0] + 1) % 3  # scramble the held-out fold's labels
    b = outer_cv(X, y2, groups, folds, 3, crit, Cs=(0.01, 1.0), inner_k=3, seed=0)
    assert np.allclose(a["oof"][folds == 0], b["oof"][folds == 0])
    assert not np.allclose(a["oof"][folds == 1], b["oof"][folds == 1])  # other folds did train on them


def test_patients_stay_in_one_fold():
    y = np.repeat(np.arange(3), 10)
    groups = np.array([f"p{i // 3}" for i in range(30)])
    folds = group_folds(y, groups, 3, seed=0)
    for g in set(groups):
        assert len(set(folds[groups == g])) == 1


@pytest.mark.slow
def test_learnable_signal_is_found_and_noise_is_not():
    X, y = _data(n=120, signal=1.5)
    g = np.arange(len(y)).astype(str)
    folds = group_folds(y, g, 5, seed=0)
    crit = auc_criterion([1, 2])
    yb = np.isin(y, [1, 2]).astype(int)
    good = outer_cv(X, y, g, folds, 3, crit, Cs=(1e-3, 1e-2, 1e-1), inner_k=4, seed=0)
    assert fast_auc(yb, low_score(good["oof"], [1, 2])) > 0.85
    Xn, _ = _data(n=120, signal=0.0, seed=5)
    noise = outer_cv(Xn, y, g, folds, 3, crit, Cs=(1e-3, 1e-2, 1e-1), inner_k=4, seed=0)
    assert fast_auc(yb, low_score(noise["oof"], [1, 2])) < 0.75


def test_fit_cv_picks_among_the_grid_and_keeps_inner_heads():
    X, y = _data(n=80, signal=1.0)
    g = np.arange(len(y)).astype(str)
    fit = fit_cv(X, y, g, 3, neg_log_loss, Cs=(1e-4, 1e-2, 1.0), inner_k=4, seed=0)
    assert fit.C in (1e-4, 1e-2, 1.0) and set(fit.inner_scores) == {1e-4, 1e-2, 1.0}
    assert len(fit.inner_heads) == 4 and fit.inner_oof_logits.shape == (80, 3)
