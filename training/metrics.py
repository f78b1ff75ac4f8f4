"""Metrics (scikit-learn), patient-level bootstrap CIs, temperature scaling and the operating point.

Point estimates use scikit-learn. The bootstrap (resampling PATIENTS with replacement, all images
of a drawn patient together) uses fast numpy equivalents of the same formulas, checked against
scikit-learn in the tests. Probabilities, the low-bone-density score (P(osteopenia) +
P(osteoporosis) after temperature scaling) and the flag (score >= threshold) come from the
application's own scoring module (`osteo_desktop.core.scoring`), so training measures the rule
the application applies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from osteo_desktop.core.scoring import is_low_bmd
from osteo_desktop.core.scoring import low_bmd_score as low_bmd_score  # re-exported for training.run
from osteo_desktop.core.scoring import softmax as softmax

# --------------------------------------------------------------------------------------------
# probabilities, temperature
# --------------------------------------------------------------------------------------------


def nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax(logits, temperature)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def fit_temperature(logits: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Scalar temperature minimising the NLL of softmax(logits / T) (fitted on out-of-fold logits)."""
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    res = minimize_scalar(lambda t: nll(logits, y, math.exp(t)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    t = float(math.exp(res.x))
    return t if nll(logits, y, t) <= nll(logits, y, 1.0) else 1.0


def ece(y_bin: np.ndarray, score: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(y_bin[m].mean() - score[m].mean())
    return float(total)


# --------------------------------------------------------------------------------------------
# operating point
# --------------------------------------------------------------------------------------------


def sens_spec(y_bin: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    pred = is_low_bmd(np.asarray(score), threshold)
    pos, neg = y_bin == 1, y_bin == 0
    sens = float(pred[pos].mean()) if pos.any() else math.nan
    spec = float((~pred[neg]).mean()) if neg.any() else math.nan
    return sens, spec


def select_threshold(y_bin: np.ndarray, score: np.ndarray, goal_sensitivity: float = 0.90) -> dict[str, Any]:
    """Highest threshold (so best specificity) whose sensitivity on these scores is >= the goal.

    The threshold sits halfway between the lowest positive score that must be flagged and the next
    lower score, so the same films are flagged on these data and ties are not on a knife's edge.
    """
    y_bin = np.asarray(y_bin).astype(int)
    score = np.asarray(score, dtype=np.float64)
    pos_scores = np.sort(score[y_bin == 1])[::-1]
    if len(pos_scores) == 0:
        raise ValueError("no positive (low bone density) samples to tune the threshold on")
    k = int(math.ceil(goal_sensitivity * len(pos_scores) - 1e-9))  # positives that must be flagged
    k = min(max(k, 1), len(pos_scores))
    cut = pos_scores[k - 1]
    below = score[score < cut]
    thr = float((cut + below.max()) / 2.0) if below.size else float(cut)
    thr = float(np.clip(thr, 0.0, 1.0))
    sens, spec = sens_spec(y_bin, score, thr)
    return {
        "threshold": thr,
        "goal": f"sensitivity >= {goal_sensitivity:.2f} for low bone density on out-of-fold predictions",
        "goal_sensitivity": goal_sensitivity,
        "sensitivity": sens,
        "specificity": spec,
        "goal_met": bool(sens >= goal_sensitivity - 1e-12),
    }


# --------------------------------------------------------------------------------------------
# fast metric kernels for the bootstrap
# --------------------------------------------------------------------------------------------


def fast_auc(y_bin: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by the rank-sum (Mann-Whitney) formula, ties averaged; nan with one class only."""
    y_bin = np.asarray(y_bin).astype(bool)
    n1 = int(y_bin.sum())
    n0 = len(y_bin) - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    r = rankdata(score)
    return float((r[y_bin].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def fast_macro_f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    cm = np.bincount(y * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    present = (cm.sum(1) + cm.sum(0)) > 0  # sklearn averages over labels present in y or pred
    return float(f1[present].mean()) if present.any() else math.nan


def fast_balanced_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    rec = [np.mean(pred[y == c] == c) for c in range(n_classes) if (y == c).any()]
    return float(np.mean(rec)) if rec else math.nan


# --------------------------------------------------------------------------------------------
# point estimates
# --------------------------------------------------------------------------------------------


def classification_metrics(y: np.ndarray, probs: np.ndarray, classes: Sequence[str], low_idx: Sequence[int],
                           threshold: float) -> dict[str, Any]:
    y = np.asarray(y)
    C = len(classes)
    pred = probs.argmax(axis=1)
    labels = list(range(C))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    per_class: dict[str, Any] = {}
    for c in range(C):
        yb = (y == c).astype(int)
        auc = float(roc_auc_score(yb, probs[:, c])) if 0 < yb.sum() < len(yb) else math.nan
        per_class[classes[c]] = {"precision": float(p[c]), "recall": float(r[c]), "f1": float(f[c]), "support": int(s[c]), "auc_ovr": auc}
    y_bin = np.isin(y, list(low_idx)).astype(int)
    score = low_bmd_score(probs, low_idx)
    auc_low = float(roc_auc_score(y_bin, score)) if 0 < y_bin.sum() < len(y_bin) else math.nan
    sens, spec = sens_spec(y_bin, score, threshold)
    flagged = is_low_bmd(score, threshold)
    counts = np.bincount(y, minlength=C)
    majority = int(counts.argmax())
    present = sorted(set(y.tolist()) | set(pred.tolist()))
    return {
        "n_images": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if len(set(y.tolist())) > 1 else math.nan,
        "macro_precision": float(np.mean(p[present])) if present else math.nan,
        "macro_recall": float(np.mean(r[present])) if present else math.nan,
        "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        "auc_low_bmd": auc_low,
        "majority_class": classes[majority],
        "majority_class_accuracy": float(counts[majority] / max(1, len(y))),
        "prevalence_low_bmd": float(y_bin.mean()) if len(y) else math.nan,
        "screening": {
            "threshold": float(threshold),
            "sensitivity": sens,
            "specificity": spec,
            "ppv": float(y_bin[flagged].mean()) if flagged.any() else math.nan,
            "npv": float(1 - y_bin[~flagged].mean()) if (~flagged).any() else math.nan,
            "flagged_fraction": float(flagged.mean()) if len(y) else math.nan,
            "confusion_2x2": [[int(((y_bin == 0) & ~flagged).sum()), int(((y_bin == 0) & flagged).sum())],
                              [int(((y_bin == 1) & ~flagged).sum()), int(((y_bin == 1) & flagged).sum())]],
        },
    }


# --------------------------------------------------------------------------------------------
# bootstrap over patients
# --------------------------------------------------------------------------------------------


def _patient_index(groups: np.ndarray) -> list[np.ndarray]:
    _, inv = np.unique(groups, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.flatnonzero(np.diff(inv[order])) + 1
    return np.split(order, bounds)


def bootstrap(stats_fn, groups: np.ndarray, n_boot: int, seed: int) -> dict[str, list[float]]:
    """Resample patients with replacement; stats_fn(idx) -> dict of floats. Returns name -> values."""
    pats = _patient_index(np.asarray(groups))
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {}
    for _ in range(int(n_boot)):
        pick = rng.integers(0, len(pats), len(pats))
        idx = np.concatenate([pats[i] for i in pick])
        for k, v in stats_fn(idx).items():
            out.setdefault(k, []).append(v)
    return out


def ci(values: Sequence[float], level: float = 0.95) -> list[float] | None:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 10:
        return None
    a = (1 - level) / 2
    return [float(np.quantile(v, a)), float(np.quantile(v, 1 - a))]


def evaluate_group(y: np.ndarray, probs: np.ndarray, groups: np.ndarray, classes: Sequence[str], low_idx: Sequence[int],
                   threshold: float, ages: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Point metrics + patient-bootstrap 95% CIs (+ the age-only baseline where ages are known)."""
    y = np.asarray(y)
    res = classification_metrics(y, probs, classes, low_idx, threshold)
    res["n_patients"] = int(len(np.unique(groups)))
    C = len(classes)
    pred = probs.argmax(axis=1)
    y_bin = np.isin(y, list(low_idx)).astype(int)
    score = low_bmd_score(probs, low_idx)
    flagged = is_low_bmd(score, threshold)
    age_ok: np.ndarray | None = None
    age = np.asarray(ages, dtype=np.float64) if ages is not None else np.full(len(y), np.nan)
    if ages is not None:
        age_ok = np.isfinite(age)
        if age_ok.sum() < 2 or len(set(y_bin[age_ok].tolist())) < 2:
            age_ok = None

    def stats(idx: np.ndarray) -> dict[str, float]:
        yy, pp, yb, sc, fl = y[idx], pred[idx], y_bin[idx], score[idx], flagged[idx]
        d = {
            "accuracy": float((yy == pp).mean()),
            "balanced_accuracy": fast_balanced_accuracy(yy, pp, C),
            "macro_f1": fast_macro_f1(yy, pp, C),
            "auc_low_bmd": fast_auc(yb, sc),
            "sensitivity": float(fl[yb == 1].mean()) if (yb == 1).any() else math.nan,
            "specificity": float((~fl[yb == 0]).mean()) if (yb == 0).any() else math.nan,
        }
        if age_ok is not None:
            m = age_ok[idx]
            a_auc = fast_auc(yb[m], age[idx][m])
            m_auc = fast_auc(yb[m], sc[m])
            d.update(age_auc=a_auc, model_auc_age_subset=m_auc, model_minus_age_auc=m_auc - a_auc)
        return d

    if n_boot and n_boot > 0 and len(y) > 1:
        boot = bootstrap(stats, groups, n_boot, seed)
        ci_keys = ("accuracy", "balanced_accuracy", "macro_f1", "auc_low_bmd", "sensitivity", "specificity")
        res["ci95"] = {k: ci(v) for k, v in boot.items() if k in ci_keys}
    else:
        boot = {}
        res["ci95"] = {}
    if age_ok is not None:
        m = age_ok
        res["age_baseline"] = {
            "n_images": int(m.sum()),
            "auc_age": float(roc_auc_score(y_bin[m], age[m])),
            "auc_age_ci95": ci(boot.get("age_auc", [])),
            "auc_model_same_images": float(roc_auc_score(y_bin[m], score[m])),
            "auc_model_same_images_ci95": ci(boot.get("model_auc_age_subset", [])),
            "model_minus_age_ci95": ci(boot.get("model_minus_age_auc", [])),
        }
    else:
        res["age_baseline"] = None
    return res


def evaluate_all(y: np.ndarray, probs: np.ndarray, groups: np.ndarray, anatomies: np.ndarray, classes: Sequence[str],
                 low_idx: Sequence[int], threshold: float, ages: np.ndarray | None, n_boot: int, seed: int) -> dict[str, Any]:
    out = {"overall": evaluate_group(y, probs, groups, classes, low_idx, threshold, ages, n_boot, seed)}
    for a in sorted(set(np.asarray(anatomies).tolist())):
        m = np.asarray(anatomies) == a
        out[a] = evaluate_group(y[m], probs[m], groups[m], classes, low_idx, threshold,
                                None if ages is None else ages[m], n_boot, seed + 1)
    return out


def fmt_ci(value: float | None, interval: list[float] | None, digits: int = 2, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    f = (lambda v: f"{100 * v:.{max(0, digits - 2)}f}%") if pct else (lambda v: f"{v:.{digits}f}")
    return f"{f(value)} ({f(interval[0])}-{f(interval[1])})" if interval else f(value)
