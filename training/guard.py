"""Input guard on the screening model's own pooled features: what the film looks like, and how far it is.

* Classifier: a regularised multinomial logistic head (classes `GUARD_CLASSES`: knee, spine (masked
  crop), spine_film (whole-spine film), other_radiograph, not_radiograph) with C chosen by inner
  patient-level CV on the training folds (log loss); out-of-fold over patient/group folds.
  A film is *screened* when the top class is screenable (knee or spine) with probability >=
  `MIN_PROBABILITY`; every other film is "not screened".
* Out-of-distribution distance: Mahalanobis distance of the standardised features in a PCA space of
  the screenable training films (Ledoit-Wolf shrinkage covariance), ``d2 = ||(z - mean) @ whiten||^2``;
  the threshold is the 99th percentile of the out-of-fold d2 of screenable films.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.covariance import LedoitWolf

from osteo_desktop.core.probe import GUARD_CLASSES

from .linear import C_GRID, Standardiser, neg_log_loss, outer_cv, softmax
from .metrics import bootstrap, ci, fast_auc

SCREENABLE = ("knee", "spine")
MIN_PROBABILITY = 0.5
OOD_DIMS = 32
OOD_PERCENTILE = 99.0
DESCRIPTIONS = {
    "knee": "a knee radiograph",
    "spine": "a spine radiograph cropped and masked like the training films",
    "spine_film": "a whole-spine film (not a masked spine crop)",
    "other_radiograph": "a radiograph of another body part",
    "not_radiograph": "not a plain radiograph (CT/MR/US/photo...)",
}


def screened(probs: np.ndarray, classes: Sequence[str] = GUARD_CLASSES, min_probability: float = MIN_PROBABILITY) -> np.ndarray:
    top = probs.argmax(axis=1)
    ok = np.isin(np.array(classes)[top], SCREENABLE)
    return ok & (probs.max(axis=1) >= min_probability)


def guard_cv(X: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: np.ndarray, seed: int, Cs: Sequence[float] = C_GRID,
             inner_k: int = 5) -> dict:
    return outer_cv(X, y, groups, folds, len(GUARD_CLASSES), neg_log_loss, Cs, inner_k, seed)


def guard_metrics(logits: np.ndarray, y: np.ndarray, groups: np.ndarray, detail: Sequence[str], n_boot: int, seed: int,
                  min_probability: float = MIN_PROBABILITY) -> dict[str, Any]:
    probs = softmax(logits)
    pred = probs.argmax(axis=1)
    K = len(GUARD_CLASSES)
    cm = np.bincount(y * K + pred, minlength=K * K).reshape(K, K)
    scr = screened(probs, GUARD_CLASSES, min_probability)
    is_screen = np.isin(np.array(GUARD_CLASSES)[y], SCREENABLE)
    right_anat = scr & (pred == y)
    other = ~is_screen

    def stats(idx: np.ndarray) -> dict[str, float]:
        yy, pp = y[idx], pred[idx]
        d = {f"recall_{c}": float((pp[yy == i] == i).mean()) if (yy == i).any() else math.nan for i, c in enumerate(GUARD_CLASSES)}
        o, s = other[idx], is_screen[idx]
        d["other_not_screened"] = float((~scr[idx][o]).mean()) if o.any() else math.nan
        d["screenable_screened"] = float(scr[idx][s].mean()) if s.any() else math.nan
        d["screenable_screened_right_anatomy"] = float(right_anat[idx][s].mean()) if s.any() else math.nan
        return d

    boot = bootstrap(stats, groups, n_boot, seed) if n_boot else {}
    point = stats(np.arange(len(y)))
    per_class = {c: {"recall": point[f"recall_{c}"], "ci95": ci(boot.get(f"recall_{c}", [])), "n": int((y == i).sum())}
                 for i, c in enumerate(GUARD_CLASSES)}
    detail_arr = np.array(detail)
    by_detail = {}
    for d in sorted(set(detail_arr[other].tolist())):
        m = other & (detail_arr == d)
        by_detail[d] = {"n": int(m.sum()), "not_screened": float((~scr[m]).mean()), "screened": int(scr[m].sum())}
    return {
        "classes": list(GUARD_CLASSES), "screenable": list(SCREENABLE), "min_probability": min_probability,
        "per_class_recall": per_class, "confusion": cm.tolist(), "confusion_axes": "rows: true class, columns: predicted class (argmax)",
        "acceptance": {
            "other_not_screened": {"value": point["other_not_screened"], "ci95": ci(boot.get("other_not_screened", [])),
                                   "n": int(other.sum()), "target": 0.95},
            "screenable_screened": {"value": point["screenable_screened"], "ci95": ci(boot.get("screenable_screened", [])),
                                    "n": int(is_screen.sum()), "target": 0.95},
            "screenable_screened_right_anatomy": {"value": point["screenable_screened_right_anatomy"],
                                                  "ci95": ci(boot.get("screenable_screened_right_anatomy", []))},
        },
        "other_by_anatomy": by_detail,
        "n_films": int(len(y)), "n_groups": int(len(np.unique(groups))),
    }


@dataclass(frozen=True)
class OODModel:
    """d2 = ||(z - mean) @ whiten||^2 on standardised features z."""

    mean: np.ndarray  # (F,)
    whiten: np.ndarray  # (F, dims)

    def d2(self, Z: np.ndarray) -> np.ndarray:
        return (((np.asarray(Z, dtype=np.float64) - self.mean) @ self.whiten) ** 2).sum(axis=1)


def fit_ood(Z: np.ndarray, dims: int = OOD_DIMS) -> OODModel:
    """PCA of the (standardised) training features, Ledoit-Wolf covariance of the scores, whitening."""
    Z = np.asarray(Z, dtype=np.float64)
    mu = Z.mean(axis=0)
    _, _, Vt = np.linalg.svd(Z - mu, full_matrices=False)
    d = int(min(dims, Vt.shape[0]))
    V = Vt[:d].T  # (F, d)
    scores = (Z - mu) @ V
    cov = LedoitWolf().fit(scores).covariance_
    w, U = np.linalg.eigh(cov)
    inv_sqrt = U @ np.diag(1.0 / np.sqrt(np.maximum(w, 1e-12))) @ U.T
    whiten = np.zeros((Z.shape[1], dims))
    whiten[:, :d] = V @ inv_sqrt
    return OODModel(mu, whiten)


def ood_cv(X: np.ndarray, is_screen: np.ndarray, folds: np.ndarray, dims: int = OOD_DIMS) -> np.ndarray:
    """Out-of-fold d2 for every film: fold k's films scored by a model fitted on the other folds'
    screenable films (standardised with those films' mean/std)."""
    d2 = np.zeros(len(X))
    for k in sorted(set(folds.tolist())):
        tr = (folds != k) & is_screen
        std = Standardiser.fit(X[tr])
        m = fit_ood(std(X[tr]), dims)
        te = folds == k
        d2[te] = m.d2(std(X[te]))
    return d2


def ood_metrics(d2: np.ndarray, is_screen: np.ndarray, guard_class: Sequence[str], detail: Sequence[str], groups: np.ndarray,
                guard_screened: np.ndarray | None, n_boot: int, seed: int, percentile: float = OOD_PERCENTILE) -> dict:
    thr = float(np.percentile(d2[is_screen], percentile))
    far = d2 > thr
    out_ = ~is_screen
    gc = np.array(guard_class)
    det = np.array(detail)
    boot = bootstrap(lambda idx: {"auc": fast_auc(out_[idx].astype(int), d2[idx])}, groups, n_boot, seed) if n_boot else {}
    res: dict[str, Any] = {
        "threshold_d2": thr, "rule": f"{percentile:g}th percentile of out-of-fold d2 of screenable (knee/spine) training films",
        "auc_out_vs_in": fast_auc(out_.astype(int), d2), "auc_out_vs_in_ci95": ci(boot.get("auc", [])),
        "screenable_flagged": float(far[is_screen].mean()), "other_flagged": float(far[out_].mean()) if out_.any() else None,
        "by_guard_class": {c: {"n": int((gc == c).sum()), "flagged": float(far[gc == c].mean()),
                               "median_d2": float(np.median(d2[gc == c]))} for c in GUARD_CLASSES if (gc == c).any()},
        "other_by_anatomy": {d: {"n": int((out_ & (det == d)).sum()), "flagged": float(far[out_ & (det == d)].mean())}
                             for d in sorted(set(det[out_].tolist()))},
    }
    if guard_screened is not None and out_.any():
        res["other_screened_by_guard_but_flagged"] = int((guard_screened & out_ & far).sum())
        res["other_not_screened_guard_or_ood"] = float((~guard_screened[out_] | far[out_]).mean())
        res["screenable_kept_guard_and_ood"] = float((guard_screened[is_screen] & ~far[is_screen]).mean())
    return res
