"""Three scores per anatomy: clinical-only (age/sex), image-only, combined (late fusion), each validated.

* image: the out-of-fold logits of the selected image head; a temperature fitted on them; the score
  P(osteopenia) + P(osteoporosis) after softmax(logits / T), as the application computes it.
* clinical: logistic regression on [age, sex_female], out-of-fold over the same patient folds.
* combined: logistic regression on [image_logit, age, sex_female] with image_logit = logit of the
  image score. Nested so no test-fold information leaks: in outer fold k the image logits of the
  TRAINING films come from an inner patient-level CV of the training part only (its own C choice),
  their temperature is fitted there too, and the fusion model fitted on them scores fold k with the
  image head trained on the whole training part.

Every score: ROC-AUC with a patient-bootstrap 95% CI, the threshold for sensitivity >= 0.90 on the
out-of-fold scores with the sensitivity/specificity there (and their CIs), calibration (ECE, slope,
intercept); combined minus clinical AUC with a paired bootstrap CI; the image-only AUC within age bands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from .linear import auc_criterion, low_score, outer_cv
from .metrics import bootstrap, ci, ece, fast_auc, fit_temperature, select_threshold, sens_spec

LOW_IDX = (1, 2)
GOAL = 0.90
AGE_BANDS: tuple[tuple[str, float, float], ...] = (("<40", 0, 40), ("40-49", 40, 50), ("<50", 0, 50), (">=50", 50, 200))
CLINICAL_FEATURES = ("age", "sex_female")
COMBINED_FEATURES = ("image_logit", "age", "sex_female")
EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def image_score(logits: np.ndarray, temperature: float) -> np.ndarray:
    return low_score(np.asarray(logits, dtype=np.float64) / float(temperature), LOW_IDX)


def sex_female(sex: Sequence[str]) -> np.ndarray:
    """1 female, 0 male, nan unknown."""
    out = []
    for s in sex:
        v = (s or "").strip().lower()
        out.append(1.0 if v in ("f", "female", "w") else 0.0 if v in ("m", "male") else math.nan)
    return np.array(out)


class RawLogistic:
    """Logistic regression on standardised inputs, reported on the raw scale (coef . x + intercept)."""

    def __init__(self, C: float = 1.0):
        self.C = C
        self.coef = np.zeros(0)
        self.intercept = 0.0

    def fit(self, X: np.ndarray, yb: np.ndarray) -> RawLogistic:
        X = np.asarray(X, dtype=np.float64)
        mu, sd = X.mean(axis=0), X.std(axis=0)
        sd = np.where(sd > 1e-12, sd, 1.0)
        lr = LogisticRegression(C=self.C, max_iter=1000).fit((X - mu) / sd, yb)
        self.coef = lr.coef_[0] / sd
        self.intercept = float(lr.intercept_[0] - (lr.coef_[0] * mu / sd).sum())
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(X, dtype=np.float64) @ self.coef + self.intercept)

    def to_dict(self, features: Sequence[str]) -> dict:
        return {"features": list(features), "coef": [float(c) for c in self.coef], "intercept": float(self.intercept),
                "probability": "sigmoid(coef . x + intercept)"}


def calibration(yb: np.ndarray, p: np.ndarray) -> dict:
    """ECE (10 bins) and the logistic calibration slope/intercept of logit(p)."""
    z = logit(p)[:, None]
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(z, yb)
    return {"ece": ece(yb, p), "slope": float(lr.coef_[0, 0]), "intercept": float(lr.intercept_[0]),
            "mean_predicted": float(np.mean(p)), "observed_rate": float(np.mean(yb))}


def score_metrics(yb: np.ndarray, score: np.ndarray, groups: np.ndarray, n_boot: int, seed: int,
                  threshold: float | None = None) -> dict[str, Any]:
    """AUC, threshold (sens >= 0.90 on these scores unless given), sens/spec, with patient-bootstrap CIs."""
    yb = np.asarray(yb).astype(int)
    score = np.asarray(score, dtype=np.float64)
    thr = select_threshold(yb, score, GOAL) if threshold is None else {"threshold": float(threshold)}
    t = float(thr["threshold"])

    def stats(idx: np.ndarray) -> dict[str, float]:
        s, f = sens_spec(yb[idx], score[idx], t)
        return {"auc": fast_auc(yb[idx], score[idx]), "sensitivity": s, "specificity": f}

    boot = bootstrap(stats, groups, n_boot, seed) if n_boot else {}
    sens, spec = sens_spec(yb, score, t)
    return {
        "auc": fast_auc(yb, score), "auc_ci95": ci(boot.get("auc", [])),
        "threshold": t, "goal": f"sensitivity >= {GOAL:.2f} on out-of-fold predictions",
        "sensitivity": sens, "sensitivity_ci95": ci(boot.get("sensitivity", [])),
        "specificity": spec, "specificity_ci95": ci(boot.get("specificity", [])),
        "n_images": int(len(yb)), "n_patients": int(len(np.unique(groups))), "n_low_bmd": int(yb.sum()),
        "calibration": calibration(yb, np.clip(score, EPS, 1 - EPS)) if 0 < yb.sum() < len(yb) else None,
    }


def paired_difference(yb: np.ndarray, a: np.ndarray, b: np.ndarray, groups: np.ndarray, n_boot: int, seed: int) -> dict:
    """AUC(a) - AUC(b) on the same films, with a paired patient-bootstrap CI."""
    boot = bootstrap(lambda idx: {"d": fast_auc(yb[idx], a[idx]) - fast_auc(yb[idx], b[idx])}, groups, n_boot, seed) if n_boot else {}
    return {"value": fast_auc(yb, a) - fast_auc(yb, b), "ci95": ci(boot.get("d", []))}


def age_band_auc(yb: np.ndarray, score: np.ndarray, ages: np.ndarray, groups: np.ndarray, n_boot: int, seed: int) -> dict:
    out = {}
    for name, lo, hi in AGE_BANDS:
        m = (ages >= lo) & (ages < hi)
        n_pos, n_neg = int(yb[m].sum()), int((1 - yb[m]).sum())
        d: dict[str, Any] = {"n_images": int(m.sum()), "n_low_bmd": n_pos, "n_normal": n_neg}
        if n_pos and n_neg:
            yy, ss = yb[m], score[m]
            boot = bootstrap(lambda j, yy=yy, ss=ss: {"auc": fast_auc(yy[j], ss[j])}, groups[m], n_boot, seed) if n_boot else {}
            d.update(auc=fast_auc(yb[m], score[m]), auc_ci95=ci(boot.get("auc", [])))
        else:
            d.update(auc=None, auc_ci95=None, note="AUC undefined: only one class in this band")
        out[name] = d
    return out


def nested_combined(X: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: np.ndarray, outer_logits: np.ndarray,
                    clinical: np.ndarray, rows: np.ndarray, seed: int, Cs: Sequence[float], inner_k: int = 5,
                    use_ensemble: bool = False, joint: bool = False) -> dict:
    """Out-of-fold combined and clinical probabilities of the films `rows` (a boolean mask) with proper nesting.

    `X, y, groups, folds, outer_logits` cover every screening film; `clinical` holds [age, sex_female]
    of the `rows` films. The image head is trained on the rows' anatomy only, or on all films (`joint`).
    """
    from .linear import group_folds

    rows = np.asarray(rows, bool)
    yb_all = np.isin(y, LOW_IDX).astype(int)
    pos = np.full(len(y), -1)
    pos[rows] = np.arange(int(rows.sum()))
    comb = np.zeros(int(rows.sum()))
    clin = np.zeros(int(rows.sum()))
    crit = auc_criterion(LOW_IDX)
    per_fold = []
    train_pool = np.ones(len(y), bool) if joint else rows
    for k in sorted(set(folds[rows].tolist())):
        tr = (folds != k) & train_pool
        te = (folds == k) & rows
        idx = np.flatnonzero(tr)
        ifolds = group_folds(y[idx], groups[idx], inner_k, seed + 31 * (k + 1))
        inner = outer_cv(X[idx], y[idx], groups[idx], ifolds, 3, crit, Cs, inner_k, seed + 101 * (k + 1))
        inner_logits = inner["oof_ensemble" if use_ensemble else "oof"]
        keep = rows[idx]  # fusion is fitted on the rows' anatomy only
        T = fit_temperature(inner_logits[keep], y[idx][keep])
        ctr = clinical[pos[idx[keep]]]
        cte = clinical[pos[te]]
        z_tr = np.column_stack([logit(image_score(inner_logits[keep], T)), ctr])
        z_te = np.column_stack([logit(image_score(outer_logits[te], T)), cte])
        fm = RawLogistic().fit(z_tr, yb_all[idx][keep])
        comb[pos[te]] = fm.predict(z_te)
        cm = RawLogistic().fit(ctr, yb_all[idx][keep])
        clin[pos[te]] = cm.predict(cte)
        per_fold.append({"fold": int(k), "temperature": T, "combined": fm.to_dict(COMBINED_FEATURES),
                         "clinical": cm.to_dict(CLINICAL_FEATURES)})
    return {"combined": comb, "clinical": clin, "per_fold": per_fold}
