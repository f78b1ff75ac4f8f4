"""Leakage audit, run before any split.

Findings, and which of them are leaks (a run refuses to start on a leak unless --allow-leaks):

* exact duplicates (same file sha256) under different patients - LEAK (the copy lands in another fold)
* near duplicates (256-bit perceptual hash within the Hamming threshold, also against the mirror
  image: catches re-encoded, resized, brightened and mirrored copies, not crops or rotations)
  under different patients - LEAK
* the same image (exact or near) under two labels - LEAK (label conflict), even for one patient
* the same patient in two folds of a given split (manifest column `fold`, or our own split) - LEAK
* duplicates within one patient and label, and patients with several labels - reported, not leaks
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .data import Dataset, ImageStore
from .errors import LeakageError

log = logging.getLogger(__name__)


@dataclass
class Finding:
    kind: str  # exact_duplicate | near_duplicate | label_conflict | patient_in_two_folds | ...
    leak: bool
    images: list[str]
    patients: list[str]
    labels: list[str]
    detail: str = ""


@dataclass
class AuditReport:
    n_images: int
    n_patients: int
    phash_threshold: int
    findings: list[Finding] = field(default_factory=list)
    nearest_other_patient: list[int] = field(default_factory=list)  # hash distance histogram input

    @property
    def leaks(self) -> list[Finding]:
        return [f for f in self.findings if f.leak]

    @property
    def ok(self) -> bool:
        return not self.leaks

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            k = f"{f.kind}{'' if f.leak else ' (not a leak)'}"
            out[k] = out.get(k, 0) + 1
        return out

    def to_dict(self) -> dict:
        d = {
            "n_images": self.n_images,
            "n_patients": self.n_patients,
            "phash_threshold": self.phash_threshold,
            "ok": self.ok,
            "counts": self.counts(),
            "findings": [asdict(f) for f in self.findings],
        }
        if self.nearest_other_patient:
            arr = np.array(self.nearest_other_patient)
            d["nearest_other_patient_distance"] = {
                "min": int(arr.min()), "p1": float(np.percentile(arr, 1)), "median": float(np.median(arr)),
            }
        return d

    def to_markdown(self) -> str:
        lines = ["# Leakage audit", "",
                 f"{self.n_images} images, {self.n_patients} patients; near-duplicate threshold: "
                 f"pHash Hamming distance <= {self.phash_threshold} of 256 bits (mirror images included).", ""]
        if self.nearest_other_patient:
            arr = np.array(self.nearest_other_patient)
            lines.append(f"Distance from each image to its nearest image of ANOTHER patient: min {arr.min()}, "
                         f"1st percentile {np.percentile(arr, 1):.0f}, median {np.median(arr):.0f}.")
            lines.append("")
        if not self.findings:
            lines.append("No findings: no duplicates, no label conflicts, no patient in two folds.")
        else:
            verdict = "NO LEAKS" if self.ok else f"{len(self.leaks)} LEAK(S)"
            lines.append(f"**{verdict}** - " + ", ".join(f"{k}: {v}" for k, v in self.counts().items()))
            lines += ["", "| kind | leak | images | patients | labels | detail |", "|---|---|---|---|---|---|"]
            for f in self.findings:
                lines.append(f"| {f.kind} | {'yes' if f.leak else 'no'} | {', '.join(f.images[:6])}{' ...' if len(f.images) > 6 else ''} | "
                             f"{', '.join(sorted(set(f.patients))[:6])} | {', '.join(sorted(set(f.labels)))} | {f.detail} |")
        return "\n".join(lines) + "\n"

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "audit.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        (folder / "audit.md").write_text(self.to_markdown(), encoding="utf-8")


_POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.int32)


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between two arrays of packed hashes, shapes (n, B) and (m, B)."""
    out = np.empty((len(a), len(b)), dtype=np.int32)
    for start in range(0, len(a), 256):
        x = np.bitwise_xor(a[start:start + 256, None, :], b[None, :, :])
        out[start:start + 256] = _POP[x].sum(axis=-1)
    return out


class _UnionFind:
    def __init__(self, n: int):
        self.p = list(range(n))

    def find(self, i: int) -> int:
        while self.p[i] != i:
            self.p[i] = self.p[self.p[i]]
            i = self.p[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.p[self.find(i)] = self.find(j)

    def groups(self) -> list[list[int]]:
        g: dict[int, list[int]] = {}
        for i in range(len(self.p)):
            g.setdefault(self.find(i), []).append(i)
        return [v for v in g.values() if len(v) > 1]


def audit(ds: Dataset, store: ImageStore, phash_threshold: int = 20, check_flips: bool = True,
          folds: Sequence[int] | None = None) -> AuditReport:
    """Run every check; `folds` (one per sample) checks a split, else the manifest's `fold` column."""
    samples = ds.samples
    n = len(samples)
    info = store.hashes([s.path for s in samples])
    rep = AuditReport(n, len(set(ds.groups)), int(phash_threshold))
    ids = [f"{s.anatomy}/{s.image_id}" for s in samples]

    def finding(kind: str, idx: list[int], detail: str = "") -> None:
        pats = [samples[i].patient_id for i in idx]
        labs = [samples[i].label for i in idx]
        conflict = len(set(labs)) > 1
        cross_patient = len(set(pats)) > 1
        if conflict:
            rep.findings.append(Finding("label_conflict", True, [ids[i] for i in idx], pats, labs,
                                        f"{kind.replace('_', ' ')} under labels {sorted(set(labs))}{'; ' + detail if detail else ''}"))
        rep.findings.append(Finding(kind, cross_patient, [ids[i] for i in idx], pats, labs,
                                    (detail + "; " if detail else "") + ("different patients" if cross_patient else "same patient")))

    # exact duplicates
    by_sha: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_sha.setdefault(info[s.path].sha256, []).append(i)
    exact_groups = [g for g in by_sha.values() if len(g) > 1]
    exact_pairs = {frozenset((a, b)) for g in exact_groups for a in g for b in g if a != b}
    for g in exact_groups:
        finding("exact_duplicate", g, f"sha256 {info[samples[g[0]].path].sha256[:12]}")

    # near duplicates (perceptual hash), grouped transitively; exact pairs left out
    if n > 1:
        h = np.stack([info[s.path].phash for s in samples])
        d = hamming_matrix(h, h)
        if check_flips:
            hf = np.stack([info[s.path].phash_flip for s in samples])
            d = np.minimum(d, hamming_matrix(h, hf))
        np.fill_diagonal(d, 9999)
        pats = ds.groups
        other = pats[:, None] != pats[None, :]
        dm = np.where(other, d, 9999)
        rep.nearest_other_patient = [int(v) for v in dm.min(axis=1) if v < 9999]
        uf = _UnionFind(n)
        close = np.argwhere(np.triu(d <= phash_threshold, 1))
        for a, b in close:
            if frozenset((int(a), int(b))) not in exact_pairs:
                uf.union(int(a), int(b))
        for g in uf.groups():
            dist = (max(int(d[a, b]) for a in g for b in g if a != b and d[a, b] < 9999 and frozenset((a, b)) not in exact_pairs)
                    if len(g) > 1 else 0)
            finding("near_duplicate", g, f"pHash distance <= {dist}")

    # patients with several labels (legitimate over time, but worth a look)
    labels_of: dict[str, set[str]] = {}
    for s in samples:
        labels_of.setdefault(s.patient_id, set()).add(s.label)
    for pid, labs in sorted(labels_of.items()):
        if len(labs) > 1:
            idx = [i for i, s in enumerate(samples) if s.patient_id == pid]
            rep.findings.append(Finding("patient_with_several_labels", False, [ids[i] for i in idx], [pid] * len(idx),
                                        [samples[i].label for i in idx], "labels differ between images of one patient"))

    # patient in two folds
    if folds is None and any(s.fold is not None for s in samples):
        folds = [s.fold if s.fold is not None else -1 for s in samples]
    if folds is not None:
        rep.findings += patient_fold_findings(ds, folds)
    return rep


def patient_fold_findings(ds: Dataset, folds: Sequence[int]) -> list[Finding]:
    out = []
    by_pat: dict[str, set[int]] = {}
    for s, f in zip(ds.samples, folds, strict=True):
        by_pat.setdefault(s.patient_id, set()).add(int(f))
    for pid, fs in sorted(by_pat.items()):
        if len(fs) > 1:
            idx = [i for i, s in enumerate(ds.samples) if s.patient_id == pid]
            out.append(Finding("patient_in_two_folds", True, [f"{ds.samples[i].anatomy}/{ds.samples[i].image_id}" for i in idx],
                               [pid] * len(idx), [ds.samples[i].label for i in idx], f"folds {sorted(fs)}"))
    return out


def enforce(rep: AuditReport, allow_leaks: bool) -> None:
    if rep.ok:
        log.info("leakage audit: no leaks (%s)", rep.counts() or "no findings")
        return
    head = "; ".join(f"{f.kind}: {', '.join(f.images[:4])} ({f.detail})" for f in rep.leaks[:5])
    msg = (f"leakage audit found {len(rep.leaks)} leak(s): {head}{' ...' if len(rep.leaks) > 5 else ''}. "
           "Remove the duplicates / fix the labels or patient IDs, or pass --allow-leaks to run anyway (results will be optimistic).")
    if allow_leaks:
        log.warning("%s [--allow-leaks given: continuing]", msg)
        return
    raise LeakageError(msg)
