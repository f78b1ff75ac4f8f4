"""The ablation of the frozen-feature model: feature sets x head modes, patient-level CV, selection, optimism.

Every row: the same patient-level 5-fold split (`training.splits.make_folds`, seed 42 = the split of
the shipped 1.1.0 run), repeated with further seeds; per outer fold a regularised logistic head whose
C is chosen by inner patient-level CV on the training folds only (`training.linear`). Rows differ in
the features (backbone start, input size, views at native resolution, test-time flip, pooling) and
in the head (one per anatomy, or one joint head for both). Fold ensembles (mean of the inner-fold
heads) are compared with the refit on the whole training part for the selected row.

Selection (on CV alone, written down before looking): the criterion is the mean over anatomies of the
low-BMD ROC-AUC of the out-of-fold image scores, averaged over the repeated splits; among rows within
`TOLERANCE` of the best, the cheapest (forward-pass cost) wins, then the higher criterion. How
optimistic the winner's own CV is: (1) nested selection - in each outer fold the same rule is applied
to an inner CV of the training part only, and the chosen row's prediction for the held-out fold is
kept; (2) the Tibshirani & Tibshirani (2009) estimate - the mean over folds of the best row's AUC in
that fold minus the winner's.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .data import Dataset
from .embeddings import EmbeddingCache, Job, ViewKey
from .linear import C_GRID, auc_criterion, fit_path, group_folds, low_score, outer_cv
from .metrics import bootstrap, ci, fast_auc
from .probe_data import ANATOMIES, screening_folds

log = logging.getLogger(__name__)

TOLERANCE = 0.01
PRIMARY_SEED = 42
REPEAT_SEEDS = (42, 7, 2024)
LOW_IDX = (1, 2)
#: forward-pass cost per pixel relative to Lite0 (FLOPs: Lite0 0.39 G at 224 px, Lite2 0.87 G at 260 px)
BACKBONE_COST = {"lite0-package": 1.0, "lite2-package": (0.87 / 260**2) / (0.39 / 224**2)}
VIEW_AREA = {"whole": 1.0, "half": 0.25, "centre": 0.25, "band": 0.5}


@dataclass(frozen=True)
class FeatureSet:
    name: str
    start: str  # lite0-package | lite2-package | random:SEED (tests)
    size: int  # preprocessing input size (square, letterboxed)
    views: tuple[str, ...] = ("whole",)
    tta: bool = False  # mean of the features of the film and of its mirror image
    pooling: tuple[str, ...] = ("avg", "max")
    architecture: str | None = None  # only for random starts (tests)
    note: str = ""

    @property
    def cost(self) -> float:
        """Forward-pass cost relative to one Lite0 pass at 512 x 512."""
        px = sum(VIEW_AREA[v] for v in self.views) * (self.size / 512) ** 2
        return round(BACKBONE_COST.get(self.start, 1.0) * px * (2 if self.tta else 1), 3)

    def view_keys(self) -> tuple[ViewKey, ...]:
        return tuple((v, f) for v in self.views for f in ((False, True) if self.tta else (False,)))

    def module_kwargs(self) -> dict:
        return {"views": list(self.views), "hflip_tta": self.tta, "pooling": list(self.pooling)}

    def matrix(self, cache: EmbeddingCache, paths: Sequence) -> np.ndarray:
        """The features `PooledLinearNet.features` computes, assembled from the cache."""
        parts = []
        for v in self.views:
            f = cache.load(paths, self.start, self.size, v, False, self.architecture)
            if self.tta:
                f = 0.5 * (f + cache.load(paths, self.start, self.size, v, True, self.architecture))
            nf = f.shape[1] // 2  # cached: [avg | max]
            cols = {"avg": f[:, :nf], "max": f[:, nf:]}
            parts.append(np.concatenate([cols[p] for p in self.pooling], axis=1))
        return np.concatenate(parts, axis=1)


def default_grid() -> list[FeatureSet]:
    L0, L2 = "lite0-package", "lite2-package"
    return [
        FeatureSet("L0-384", L0, 384),
        FeatureSet("L0-384-tta", L0, 384, tta=True),
        FeatureSet("L0-512", L0, 512),
        FeatureSet("L0-512-tta", L0, 512, tta=True),
        FeatureSet("L0-512-avgpool", L0, 512, pooling=("avg",), note="mean pooling only"),
        FeatureSet("L0-1024-half", L0, 1024, ("half",), note="whole film at native resolution, 2x2-averaged to 512"),
        FeatureSet("L0-1024-centre", L0, 1024, ("centre",), note="central 512 x 512 crop at native resolution"),
        FeatureSet("L0-1024-band", L0, 1024, ("band",), note="central horizontal band (512 x 1024) at native resolution"),
        FeatureSet("L0-1024-half+centre", L0, 1024, ("half", "centre"), note="whole film + centre crop"),
        FeatureSet("L0-1024-half+band", L0, 1024, ("half", "band"), note="whole film + joint band"),
        FeatureSet("L2-384", L2, 384),
        FeatureSet("L2-512", L2, 512),
        FeatureSet("L2-512-tta", L2, 512, tta=True),
    ]


def jobs_for(sets: Sequence[FeatureSet]) -> list[Job]:
    """Cache jobs covering the sets (one per backbone x size)."""
    by: dict[tuple, list[ViewKey]] = {}
    for s in sets:
        lst = by.setdefault((s.start, s.size, s.architecture), [])
        for vk in s.view_keys():
            if vk not in lst:
                lst.append(vk)
    return [Job(start, size, tuple(v), arch) for (start, size, arch), v in by.items()]


@dataclass
class RowResult:
    """One ablation row (feature set x head mode) over the repeated splits."""

    feature_set: FeatureSet
    mode: str  # per_anatomy | joint
    oof: dict[int, np.ndarray] = field(default_factory=dict)  # seed -> (N, 3) logits (refit heads)
    oof_ensemble: dict[int, np.ndarray] = field(default_factory=dict)  # seed -> (N, 3) logits (inner-fold ensembles)
    C: dict[int, dict[str, list[float]]] = field(default_factory=dict)  # seed -> head -> C per outer fold
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.feature_set.name} / {self.mode}"


def row_auc(oof: np.ndarray, y: np.ndarray, anat: np.ndarray) -> dict[str, float]:
    yb = np.isin(y, LOW_IDX).astype(int)
    s = low_score(oof, LOW_IDX)
    return {a: fast_auc(yb[anat == a], s[anat == a]) for a in ANATOMIES if (anat == a).any()}


def criterion_of(aucs: dict[str, float]) -> float:
    vals = [v for v in aucs.values() if math.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def head_parts(mode: str, anat: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(head name, films it is trained and evaluated on): one per anatomy, or one joint head."""
    if mode == "per_anatomy":
        return [(a, anat == a) for a in ANATOMIES if (anat == a).any()]
    if mode == "joint":
        return [("joint", np.ones(len(anat), bool))]
    raise ValueError(f"unknown head mode {mode!r}: per_anatomy or joint")


def run_row(fs: FeatureSet, mode: str, X: np.ndarray, ds: Dataset, folds_by_seed: dict[int, np.ndarray],
            Cs: Sequence[float] = C_GRID, inner_k: int = 5) -> RowResult:
    t0 = time.perf_counter()
    y, groups, anat = ds.y, ds.groups, ds.anatomies
    res = RowResult(fs, mode)
    crit = auc_criterion(LOW_IDX)
    for seed, folds in folds_by_seed.items():
        oof = np.zeros((len(y), 3))
        ens = np.zeros((len(y), 3))
        cs: dict[str, list[float]] = {}
        parts = head_parts(mode, anat)
        for name, m in parts:
            r = outer_cv(X[m], y[m], groups[m], folds[m], 3, crit, Cs, inner_k, seed)
            oof[m] = r["oof"]
            ens[m] = r["oof_ensemble"]
            cs[name] = r["C"]
        res.oof[seed], res.oof_ensemble[seed], res.C[seed] = oof, ens, cs
    res.seconds = time.perf_counter() - t0
    return res


def primary_ci(oof: np.ndarray, ds: Dataset, n_boot: int, seed: int = 5) -> dict[str, list[float] | None]:
    """Patient-bootstrap 95% CI of each anatomy's out-of-fold AUC."""
    yb = np.isin(ds.y, LOW_IDX).astype(int)
    s = low_score(oof, LOW_IDX)
    out: dict[str, list[float] | None] = {}
    for a in ANATOMIES:
        m = ds.anatomies == a
        if not m.any() or not n_boot:
            continue
        ya, sa = yb[m], s[m]
        boot = bootstrap(lambda i, ya=ya, sa=sa: {"auc": fast_auc(ya[i], sa[i])}, ds.groups[m], n_boot, seed)
        out[a] = ci(boot["auc"])
    return out


def summarise(rows: Sequence[RowResult], ds: Dataset, n_boot: int = 500) -> list[dict]:
    y, anat = ds.y, ds.anatomies
    out = []
    for r in rows:
        per_seed = {s: row_auc(o, y, anat) for s, o in r.oof.items()}
        ens_seed = {s: row_auc(o, y, anat) for s, o in r.oof_ensemble.items()}
        mean = {a: float(np.mean([d[a] for d in per_seed.values()])) for a in ANATOMIES}
        mean_ens = {a: float(np.mean([d[a] for d in ens_seed.values()])) for a in ANATOMIES}
        out.append({
            "row": r.name, "feature_set": r.feature_set.name, "mode": r.mode, "cost": r.feature_set.cost,
            "auc_primary": per_seed.get(PRIMARY_SEED, next(iter(per_seed.values()))),
            "auc_primary_ci95": primary_ci(r.oof.get(PRIMARY_SEED, next(iter(r.oof.values()))), ds, n_boot),
            "auc_mean_repeats": mean, "criterion": criterion_of(mean),
            "auc_ensemble_mean_repeats": mean_ens, "criterion_ensemble": criterion_of(mean_ens),
            "C_primary": r.C.get(PRIMARY_SEED), "seconds": round(r.seconds, 1), "note": r.feature_set.note,
            "feature_set_spec": {k: v for k, v in asdict(r.feature_set).items() if k != "note"},
        })
    return out


def select(candidates: Sequence[tuple[str, float, float]], tolerance: float = TOLERANCE) -> str:
    """(name, criterion, cost) -> the chosen name: within `tolerance` of the best, cheapest, then best."""
    ok = [c for c in candidates if math.isfinite(c[1])]
    if not ok:
        raise ValueError("no candidate has a finite criterion")
    best = max(c[1] for c in ok)
    near = [c for c in ok if c[1] >= best - tolerance]
    return min(near, key=lambda c: (c[2], -c[1]))[0]


def nested_optimism(rows: Sequence[RowResult], matrices: dict[str, np.ndarray], ds: Dataset, folds: np.ndarray, seed: int,
                    winner: str, tolerance: float = TOLERANCE, inner_k: int = 5) -> dict:
    """How optimistic the winner's CV is: nested selection and the Tibshirani-Tibshirani estimate.

    Nested: in outer fold k every row is re-evaluated by an inner patient-level CV of the training part
    (with the C that row's own inner CV chose on that training part), the selection rule picks a row,
    and that row's prediction for fold k (from the main CV: trained without fold k) is kept.
    """
    y, groups, anat = ds.y, ds.groups, ds.anatomies
    nested = np.zeros((len(y), 3))
    picks = []
    fold_ids = sorted(set(folds.tolist()))
    per_fold_auc: dict[str, list[float]] = {r.name: [] for r in rows}
    for k in fold_ids:
        tr = folds != k
        cands = []
        for r in rows:
            X = matrices[r.feature_set.name]
            inner = np.zeros((len(y), 3))
            parts = head_parts(r.mode, anat)
            for name, m in parts:
                C = r.C[seed][name][fold_ids.index(k)]
                idx = np.flatnonzero(tr & m)
                ifolds = group_folds(y[idx], groups[idx], inner_k, seed + 17 * (k + 1))
                for f in np.unique(ifolds):
                    a, b = idx[ifolds != f], idx[ifolds == f]
                    h = fit_path(X[a], y[a], 3, [C])[0]
                    inner[b] = h.logits(X[b])
            aucs = row_auc(inner[tr], y[tr], anat[tr])
            cands.append((r.name, criterion_of(aucs), r.feature_set.cost))
            te = folds == k
            per_fold_auc[r.name].append(criterion_of(row_auc(r.oof[seed][te], y[te], anat[te])))
        pick = select(cands, tolerance)
        picks.append(pick)
        te = folds == k
        nested[te] = next(r for r in rows if r.name == pick).oof[seed][te]
        log.info("nested selection, outer fold %d: picked %s", k, pick)
    nested_auc = row_auc(nested, y, anat)
    win_auc = row_auc(next(r for r in rows if r.name == winner).oof[seed], y, anat)
    best_per_fold = np.nanmax(np.array([per_fold_auc[r.name] for r in rows]), axis=0)
    tt = float(np.nanmean(best_per_fold - np.array(per_fold_auc[winner])))
    return {
        "seed": seed, "picks_per_outer_fold": picks, "nested_auc": nested_auc, "nested_criterion": criterion_of(nested_auc),
        "winner_auc": win_auc, "winner_criterion": criterion_of(win_auc),
        "optimism_nested": criterion_of(win_auc) - criterion_of(nested_auc),
        "optimism_nested_per_anatomy": {a: win_auc[a] - nested_auc[a] for a in win_auc},
        "optimism_tibshirani": tt,
        "nested_oof": nested,
    }


def folds_for_seeds(ds: Dataset, seeds: Sequence[int], k: int = 5) -> dict[int, np.ndarray]:
    return {s: screening_folds(ds, s, k) for s in seeds}
