"""Patient-level stratified K-fold splits (sklearn StratifiedGroupKFold) and inner validation splits.

Every image of a patient lands in one fold. Stratification is on anatomy x label where every such
stratum has at least K patients (else on label). The inner validation split used for model
selection / early stopping is drawn from the TRAINING folds only, again by patient.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from .data import Dataset
from .errors import ManifestError

log = logging.getLogger(__name__)


def patient_label(ds: Dataset, idx: np.ndarray | None = None) -> dict[str, str]:
    """One label per patient (the most severe when a patient's images disagree)."""
    idx = np.arange(len(ds)) if idx is None else idx
    out: dict[str, int] = {}
    for i in idx:
        s = ds.samples[i]
        out[s.patient_id] = max(out.get(s.patient_id, -1), s.y)
    return {p: ds.classes[y] for p, y in out.items()}


def check_enough_patients(ds: Dataset, k: int) -> None:
    per_class = Counter(patient_label(ds).values())
    short = {c: per_class.get(c, 0) for c in ds.classes if per_class.get(c, 0) < k}
    if short:
        raise ManifestError(
            f"too few patients for {k}-fold patient-level cross-validation: " +
            ", ".join(f"class {c!r} has {n} patient(s)" for c, n in short.items()) +
            f" (each class needs >= {k}). Add data, drop the class, or use fewer folds (--set cv.folds=N)."
        )


def strata(ds: Dataset, k: int, by_anatomy: bool = True) -> np.ndarray:
    labels = np.array([s.label for s in ds.samples])
    if by_anatomy:
        combo = np.array([f"{s.anatomy}|{s.label}" for s in ds.samples])
        pats = {}
        for s, c in zip(ds.samples, combo, strict=True):
            pats.setdefault(c, set()).add(s.patient_id)
        if all(len(v) >= k for v in pats.values()):
            return combo
        log.info("stratifying on label only (some anatomy x label strata have < %d patients)", k)
    return labels


def make_folds(ds: Dataset, k: int, seed: int, by_anatomy: bool = True) -> np.ndarray:
    """Fold index per sample (0..k-1). Uses the manifest's `fold` column when every sample has one."""
    folds = [s.fold for s in ds.samples]
    if all(f is not None for f in folds):
        given = np.array([int(f) for f in folds if f is not None])
        uniq = sorted(set(given.tolist()))
        log.info("using the manifests' predefined folds %s", uniq)
        remap = {f: i for i, f in enumerate(uniq)}
        return np.array([remap[f] for f in given])
    check_enough_patients(ds, k)
    y = strata(ds, k, by_anatomy)
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = np.full(len(ds), -1, dtype=np.int64)
    for f, (_, test) in enumerate(sgkf.split(np.zeros(len(ds)), y, ds.groups)):
        folds[test] = f
    assert (folds >= 0).all()
    assert_patient_disjoint(ds, folds)
    return folds


def assert_patient_disjoint(ds: Dataset, folds: np.ndarray) -> None:
    by_pat: dict[str, set[int]] = {}
    for s, f in zip(ds.samples, folds, strict=True):
        by_pat.setdefault(s.patient_id, set()).add(int(f))
    bad = [p for p, fs in by_pat.items() if len(fs) > 1]
    if bad:
        raise AssertionError(f"patients in several folds: {bad[:5]}")


def inner_split(ds: Dataset, train_idx: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (fit, val) by patient, stratified by label; fraction of patients to val."""
    if fraction <= 0:
        return train_idx, np.array([], dtype=np.int64)
    sub = ds.subset(train_idx)
    n_splits = max(2, int(round(1.0 / fraction)))
    y = np.array([s.y for s in sub.samples])
    groups = sub.groups
    per_class = Counter(patient_label(sub).values())
    if min(per_class.get(c, 0) for c in set(patient_label(sub).values())) >= n_splits:
        sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        fit, val = next(sgkf.split(np.zeros(len(sub)), y, groups))
    else:
        log.warning("inner validation split: too few patients per class to stratify; using a random patient split")
        gss = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        fit, val = next(gss.split(np.zeros(len(sub)), y, groups))
    return train_idx[np.sort(fit)], train_idx[np.sort(val)]
