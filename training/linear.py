"""Regularised linear heads on frozen features: standardisation, L2 logistic regression, C by inner CV.

The features have far more dimensions (thousands) than there are films (about a hundred per fold),
so every fit works in the span of the training rows: with the thin SVD ``Z = U S V^T`` the L2-penalised
logistic regression on ``U S`` (n x n) has the same optimum as on ``Z`` (the penalty can only grow
outside the row space: representer theorem), and ``coef = coef_reduced @ V^T`` is that optimum. This
makes one fit take milliseconds and lets C be chosen by inner cross-validation on the training
folds only, for every row of the ablation.

A `LinearHead` carries its own standardisation; `LinearHead.rebased` re-expresses it for another
standardisation (exactly: it is a linear map), which is how heads fitted on different folds or
subsets are averaged (fold ensembles) and loaded into one module with one ``feat_mean``/``feat_std``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from .metrics import fast_auc

log = logging.getLogger(__name__)

C_GRID: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
STD_FLOOR = 1e-6
ABSENT_CLASS_INTERCEPT = -30.0


@dataclass(frozen=True)
class Standardiser:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardiser:
        X = np.asarray(X, dtype=np.float64)
        sd = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(sd > STD_FLOOR, sd, 1.0))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.std


@dataclass(frozen=True)
class LinearHead:
    """logits = ((X - mean) / std) @ coef.T + intercept, for `n_classes` classes."""

    standardiser: Standardiser
    coef: np.ndarray  # (K, F)
    intercept: np.ndarray  # (K,)
    C: float
    info: dict = field(default_factory=dict)

    def logits(self, X: np.ndarray) -> np.ndarray:
        return self.standardiser(X) @ self.coef.T + self.intercept

    def rebased(self, target: Standardiser) -> LinearHead:
        """The same function of the raw features, written for standardisation `target`."""
        s = self.standardiser
        scale = target.std / s.std
        coef = self.coef * scale[None, :]
        intercept = self.intercept + self.coef @ ((target.mean - s.mean) / s.std)
        return LinearHead(target, coef, intercept, self.C, dict(self.info))


def average_heads(heads: Sequence[LinearHead], target: Standardiser) -> LinearHead:
    """Fold ensemble: the mean of the heads' logits is one linear head (exactly)."""
    hs = [h.rebased(target) for h in heads]
    return LinearHead(target, np.mean([h.coef for h in hs], axis=0), np.mean([h.intercept for h in hs], axis=0),
                      float(np.exp(np.mean([math.log(h.C) for h in hs]))), {"ensemble_of": len(hs)})


def _reduced(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    U, S, Vt = np.linalg.svd(Z, full_matrices=False)
    keep = S > S[0] * 1e-10 if S.size else np.zeros(0, bool)
    return U[:, keep] * S[keep], Vt[keep]


def _lbfgs_multinomial(R: np.ndarray, y: np.ndarray, K: int, C: float, sw: np.ndarray, W0: np.ndarray | None) -> np.ndarray:
    """min 0.5 ||W||^2 + C sum_i sw_i CE(softmax(R_i W^T + b), y_i) over W (K x r) and unpenalised b (K)."""
    from scipy.optimize import minimize

    n, r = R.shape
    p = r + 1
    X = np.hstack([R, np.ones((n, 1))])
    Y = np.eye(K)[y]
    reg = np.ones(p)
    reg[-1] = 0.0
    swc = C * sw

    def fg(w: np.ndarray) -> tuple[float, np.ndarray]:
        W = w.reshape(K, p)
        Z = X @ W.T
        Z -= Z.max(axis=1, keepdims=True)
        E = np.exp(Z)
        S = E.sum(axis=1)
        P = E / S[:, None]
        f = 0.5 * float((reg * W * W).sum()) + float((swc * (np.log(S) - (Z * Y).sum(axis=1))).sum())
        G = reg * W + (swc[:, None] * (P - Y)).T @ X
        return f, G.ravel()

    w0 = np.zeros(K * p) if W0 is None else W0.ravel()
    gtol = 1e-6 * max(1.0, C * float(sw.sum()))
    res = minimize(fg, w0, jac=True, method="L-BFGS-B", options={"maxiter": 20000, "gtol": gtol, "ftol": 1e-12})
    W = res.x.reshape(K, p)
    return W - W.mean(axis=0, keepdims=True)  # softmax is shift-invariant: centre the classes


def fit_path(X: np.ndarray, y: np.ndarray, n_classes: int, Cs: Sequence[float], class_weight: str | None = "balanced",
             standardiser: Standardiser | None = None) -> list[LinearHead]:
    """One L2 multinomial logistic regression per C (sklearn's objective and class weights) on standardised X.

    Solved by L-BFGS in the row space of the training features (exact, see the module docstring),
    warm-started along the C path. Classes absent from `y` get logit -30.
    """
    std = standardiser or Standardiser.fit(X)
    Z = std(X)
    R, Vt = _reduced(Z)
    y = np.asarray(y, dtype=np.int64)
    present = np.unique(y)
    remap = {int(c): i for i, c in enumerate(present)}
    yr = np.array([remap[int(v)] for v in y], dtype=np.int64)
    Kp = len(present)
    if class_weight == "balanced":
        cnt = np.bincount(yr, minlength=Kp).astype(np.float64)
        sw = (len(yr) / (Kp * cnt))[yr]
    else:
        sw = np.ones(len(yr))
    heads = []
    W = None
    for C in Cs:
        coef = np.zeros((n_classes, Z.shape[1]))
        icpt = np.full(n_classes, ABSENT_CLASS_INTERCEPT)
        if Kp == 1:  # degenerate: one class only
            icpt[present[0]] = 0.0
        else:
            W = _lbfgs_multinomial(R, yr, Kp, float(C), sw, W)
            for j, c in enumerate(present):
                coef[c] = W[j, :-1] @ Vt
                icpt[c] = W[j, -1]
        heads.append(LinearHead(std, coef, icpt, float(C)))
    return heads


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def low_score(logits: np.ndarray, low_idx: Sequence[int]) -> np.ndarray:
    return softmax(logits)[:, list(low_idx)].sum(axis=1)


def auc_criterion(low_idx: Sequence[int]) -> Callable[[np.ndarray, np.ndarray], float]:
    """Inner-CV criterion of a screening head: low-BMD AUC of the pooled inner out-of-fold scores."""
    low = list(low_idx)

    def crit(y: np.ndarray, logits: np.ndarray) -> float:
        return fast_auc(np.isin(y, low).astype(int), low_score(logits, low))

    return crit


def neg_log_loss(y: np.ndarray, logits: np.ndarray) -> float:
    """Inner-CV criterion of a classifier (the guard): minus the mean log loss."""
    p = softmax(logits)
    return float(np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def group_folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Patient-level stratified folds (fold index per row); fewer folds when a class has < k patients."""
    y = np.asarray(y)
    groups = np.asarray(groups)
    per_class = [len(set(groups[y == c])) for c in np.unique(y)]
    k = int(max(2, min(k, min(per_class) if per_class else 2)))
    folds = np.full(len(y), -1, dtype=np.int64)
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for f, (_, te) in enumerate(sgkf.split(np.zeros(len(y)), y, groups)):
        folds[te] = f
    return folds


@dataclass
class CVFit:
    """A head fitted with C chosen by inner CV, plus what the inner CV produced."""

    head: LinearHead
    C: float
    inner_scores: dict[float, float]  # criterion per C
    inner_heads: list[LinearHead]  # the inner-fold heads at the chosen C (a fold ensemble, if wanted)
    inner_oof_logits: np.ndarray  # inner out-of-fold logits at the chosen C, rows of the training set


def fit_cv(X: np.ndarray, y: np.ndarray, groups: np.ndarray, n_classes: int, criterion: Callable[[np.ndarray, np.ndarray], float],
           Cs: Sequence[float] = C_GRID, inner_k: int = 5, seed: int = 0, class_weight: str | None = "balanced") -> CVFit:
    """Choose C by patient-level inner CV on (X, y) only, then refit on all of it with that C."""
    y = np.asarray(y, dtype=np.int64)
    folds = group_folds(y, groups, inner_k, seed)
    oof = {C: np.zeros((len(y), n_classes)) for C in Cs}
    fold_heads: dict[float, list[LinearHead]] = {C: [] for C in Cs}
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        for h in fit_path(X[tr], y[tr], n_classes, Cs, class_weight):
            oof[h.C][te] = h.logits(X[te])
            fold_heads[h.C].append(h)
    scores = {C: float(criterion(y, oof[C])) for C in Cs}
    best = None
    for C in Cs:  # ascending C: ties keep the stronger regularisation
        s = scores[C]
        if math.isfinite(s) and (best is None or s > scores[best] + 1e-12):
            best = C
    if best is None:
        best = Cs[len(Cs) // 2]
    head = fit_path(X, y, n_classes, [best], class_weight)[0]
    return CVFit(head, float(best), scores, fold_heads[best], oof[best])


def outer_cv(X: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: np.ndarray, n_classes: int,
             criterion: Callable[[np.ndarray, np.ndarray], float], Cs: Sequence[float] = C_GRID, inner_k: int = 5,
             seed: int = 0, class_weight: str | None = "balanced") -> dict:
    """Out-of-fold logits over the given (patient-level) folds; C chosen inside each training part."""
    n = len(y)
    oof = np.zeros((n, n_classes))
    oof_ens = np.zeros((n, n_classes))
    fits: list[CVFit] = []
    for f in sorted(set(folds.tolist())):
        tr, te = folds != f, folds == f
        fit = fit_cv(X[tr], y[tr], groups[tr], n_classes, criterion, Cs, inner_k, seed + 1000 * (f + 1), class_weight)
        oof[te] = fit.head.logits(X[te])
        oof_ens[te] = average_heads(fit.inner_heads, fit.head.standardiser).logits(X[te])
        fits.append(fit)
    return {"oof": oof, "oof_ensemble": oof_ens, "fits": fits, "C": [f.C for f in fits]}
