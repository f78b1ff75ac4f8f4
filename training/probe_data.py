"""Data of the frozen-feature model: screening films (knee, spine), guard films (those + other/), folds.

* Screening: the knee and spine manifests (`training.data.read_manifest`), patient-level folds from
  `training.splits.make_folds` (seed 42 is the split of the shipped 1.1.0 run, so its fine-tuned CV
  numbers are comparable).
* Guard: every screening film (class ``knee`` / ``spine``, same folds) plus ``other/manifest.csv``:
  ``spine_full`` -> ``spine_film``, ``nonradiograph`` -> ``not_radiograph``, every other anatomy ->
  ``other_radiograph``. Groups: the chest patient (``patient_id=`` in `notes`), merged with every film
  whose perceptual hash (or its mirror's) lies within the audit's threshold, so re-encoded, resized
  or mirrored copies never straddle folds. Other films get their own stratified group folds.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from osteo_desktop.core.probe import GUARD_CLASSES

from .data import Dataset, phash, read_manifest
from .errors import ManifestError
from .splits import make_folds

log = logging.getLogger(__name__)

SCREEN_CLASSES = ("normal", "osteopenia", "osteoporosis")
LOW_BMD_CLASSES = ("osteopenia", "osteoporosis")
ANATOMIES = ("knee", "spine")
OTHER_TO_GUARD = {"spine_full": "spine_film", "nonradiograph": "not_radiograph"}  # anything else: other_radiograph
PHASH_THRESHOLD = 20  # bits of 256, as the leakage audit
_PATIENT_RE = re.compile(r"patient_id=([^;\s]+)")


@dataclass(frozen=True)
class GuardFilm:
    path: Path
    group: str
    guard_class: str
    detail: str  # knee / spine / the other manifest's anatomy (chest, hand, ...)
    fold: int = -1


def load_screening(data_root: Path, anatomies: Sequence[str] = ANATOMIES) -> Dataset:
    samples = []
    sources = []
    for a in anatomies:
        m = Path(data_root) / a / "manifest.csv"
        samples += read_manifest(m, SCREEN_CLASSES)
        sources.append(str(m))
    return Dataset(samples, SCREEN_CLASSES, LOW_BMD_CLASSES, sources)


def screening_folds(ds: Dataset, seed: int, k: int = 5) -> np.ndarray:
    return make_folds(ds, k, seed, by_anatomy=True)


def read_other(manifest: Path) -> list[tuple[Path, str, str]]:
    """(path, guard class, anatomy detail + chest patient) rows of other/manifest.csv."""
    mpath = Path(manifest)
    if not mpath.is_file():
        raise ManifestError(f"{mpath}: other-films manifest not found (expected ../shared/data/other/manifest.csv)")
    with open(mpath, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    need = {"file", "anatomy"}
    if not rows or not need <= set(rows[0]):
        raise ManifestError(f"{mpath}: needs columns {sorted(need)} (and optionally notes with patient_id=...)")
    out = []
    missing = []
    for r in rows:
        p = (mpath.parent / r["file"]).resolve()
        if not p.is_file():
            missing.append(r["file"])
            continue
        anat = r["anatomy"].strip()
        gclass = OTHER_TO_GUARD.get(anat, "other_radiograph")
        m = _PATIENT_RE.search(r.get("notes", "") or "")
        out.append((p, gclass, f"{anat}|{m.group(1) if m else ''}"))
    if missing:
        raise ManifestError(f"{mpath}: {len(missing)} file(s) not found, e.g. {missing[:3]}")
    return out


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.unpackbits(np.bitwise_xor(a, b)).sum())


def group_other(rows: list[tuple[Path, str, str]], hashes: Sequence[tuple[np.ndarray, np.ndarray]],
                threshold: int = PHASH_THRESHOLD) -> list[str]:
    """Group id per other film: same chest patient, or near-duplicate pictures (also mirrored)."""
    n = len(rows)
    uf = _UnionFind(n)
    by_patient: dict[str, int] = {}
    for i, (_, _, detail) in enumerate(rows):
        pid = detail.split("|", 1)[1]
        if pid:
            if pid in by_patient:
                uf.union(i, by_patient[pid])
            else:
                by_patient[pid] = i
    for i in range(n):
        for j in range(i + 1, n):
            h, hf = hashes[i]
            g = hashes[j][0]
            if min(hamming(h, g), hamming(hf, g)) <= threshold:
                uf.union(i, j)
    return [f"other:{rows[uf.find(i)][0].stem}" for i in range(n)]


def phashes(paths: Sequence[Path], cache_file: Path | None, file_sha: Callable[[Path], str],
            display: Callable[[Path], np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(phash, phash of the mirror) per film, from the displayed image; cached by file sha256."""
    known: dict[str, list[str]] = {}
    if cache_file is not None and cache_file.is_file():
        known = json.loads(cache_file.read_text())
    out = []
    for p in paths:
        sha = file_sha(p)
        if sha not in known:
            img = display(p)
            known[sha] = [phash(img).tobytes().hex(), phash(img[:, ::-1]).tobytes().hex()]
        a, b = known[sha]
        out.append((np.frombuffer(bytes.fromhex(a), np.uint8), np.frombuffer(bytes.fromhex(b), np.uint8)))
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(known))
    return out


def guard_films(ds: Dataset, folds: np.ndarray, other_rows: list[tuple[Path, str, str]], other_groups: list[str],
                seed: int, k: int = 5) -> list[GuardFilm]:
    """Screening films keep their folds; other films get stratified group folds of their own."""
    films = [GuardFilm(s.path, f"{s.anatomy}:{s.patient_id}", s.anatomy, s.anatomy, int(f)) for s, f in zip(ds.samples, folds, strict=True)]
    if other_rows:
        y = np.array([GUARD_CLASSES.index(g) for _, g, _ in other_rows])
        groups = np.array(other_groups)
        ofolds = np.full(len(other_rows), -1)
        sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        for f, (_, te) in enumerate(sgkf.split(np.zeros(len(y)), y, groups)):
            ofolds[te] = f
        films += [GuardFilm(p, grp, g, d.split("|", 1)[0], int(f))
                  for (p, g, d), grp, f in zip(other_rows, other_groups, ofolds, strict=True)]
    return films
