from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.audit import audit, enforce
from training.config import load_config
from training.data import ImageStore, load_dataset
from training.errors import LeakageError
from training.run import train_run

from .conftest import tiny_overrides


def _load(*manifests):
    cfg = load_config(None, ["data.manifests=[" + ",".join(str(m) for m in manifests) + "]"])
    return load_dataset(cfg["data"])


def _append(manifest: Path, line: str) -> None:
    with open(manifest, "a") as f:
        f.write(line + "\n")


def _structured(rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """A film-like picture (overlapping blurred ellipses): rich low-frequency structure like a radiograph."""
    img = np.full((size, size), 30, np.float32)
    for _ in range(12):
        c = tuple(int(v) for v in rng.integers(0, size, 2))
        ax = tuple(int(v) for v in rng.integers(4, size // 3, 2))
        cv2.ellipse(img, c, ax, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(40, 220)), -1)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def test_clean_synthetic_data_has_no_findings(synth_data):
    rep = audit(_load(*synth_data), ImageStore(workers=1))
    assert rep.ok and not rep.findings
    assert min(rep.nearest_other_patient) > rep.phash_threshold


def test_planted_leaks_are_found_and_refused(synth_data, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(synth_data[0].parent.parent, root)
    knee = root / "knee"
    img = knee / "images"
    # exact duplicate under another patient (same label)
    shutil.copy(img / "K001.png", img / "X_dup.png")
    _append(knee / "manifest.csv", "images/X_dup.png,X_dup,X900,normal,,,,")
    # near duplicate: brighter, re-encoded as JPEG, slightly resized, mirrored - another patient
    src = _structured(np.random.default_rng(5))
    cv2.imwrite(str(img / "X_orig.png"), src.astype(np.uint8))
    _append(knee / "manifest.csv", "images/X_orig.png,X_orig,X903,normal,,,,")
    near = cv2.resize(np.clip(src * 1.08, 0, 255), (90, 90))[:, ::-1]
    cv2.imwrite(str(img / "X_near.jpg"), near.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 80])
    _append(knee / "manifest.csv", "images/X_near.jpg,X_near,X901,normal,,,,")
    # the same image under two labels
    shutil.copy(img / "K005.png", img / "X_conflict.png")
    k5_label = [ln for ln in (knee / "manifest.csv").read_text().splitlines() if ln.startswith("images/K005.png")][0].split(",")[3]
    other = "osteoporosis" if k5_label != "osteoporosis" else "normal"
    _append(knee / "manifest.csv", f"images/X_conflict.png,X_conflict,X902,{other},,,,")

    ds = _load(knee / "manifest.csv")
    rep = audit(ds, ImageStore(workers=1))
    kinds = {(f.kind, f.leak) for f in rep.findings}
    assert ("exact_duplicate", True) in kinds
    assert ("near_duplicate", True) in kinds
    assert ("label_conflict", True) in kinds
    exact = next(f for f in rep.findings if f.kind == "exact_duplicate" and "knee/X_dup" in f.images)
    assert "knee/K001" in exact.images
    near_f = next(f for f in rep.findings if f.kind == "near_duplicate")
    assert set(near_f.images) == {"knee/X_orig", "knee/X_near"}
    conflict = next(f for f in rep.findings if f.kind == "label_conflict")
    assert "knee/X_conflict" in conflict.images
    assert not rep.ok
    with pytest.raises(LeakageError, match="leak"):
        enforce(rep, allow_leaks=False)
    enforce(rep, allow_leaks=True)  # only warns
    md = rep.to_markdown()
    assert "exact_duplicate" in md and "label_conflict" in md

    # a training run refuses to start, and --allow-leaks lets it through the audit
    cfg = load_config(None, tiny_overrides([knee / "manifest.csv"]))
    with pytest.raises(LeakageError):
        train_run(cfg, tmp_path / "run", device="cpu")
    assert (tmp_path / "run" / "audit.md").is_file()
    assert not (tmp_path / "run" / "folds").exists()


def test_same_patient_in_two_folds(synth_data, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(synth_data[1].parent.parent, root)
    m = root / "spine" / "manifest.csv"
    lines = m.read_text().splitlines()
    lines[0] += ",fold"
    for i in range(1, len(lines)):
        lines[i] += f",{i % 2}"  # the two images of a patient land in different folds
    m.write_text("\n".join(lines) + "\n")
    rep = audit(_load(m), ImageStore(workers=1))
    two = [f for f in rep.findings if f.kind == "patient_in_two_folds"]
    assert two and all(f.leak for f in two)
    with pytest.raises(LeakageError, match="patient_in_two_folds"):
        enforce(rep, allow_leaks=False)


def test_within_patient_duplicate_is_reported_not_a_leak(synth_data, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(synth_data[1].parent.parent, root)
    spine = root / "spine"
    shutil.copy(spine / "images" / "S001_1.png", spine / "images" / "S001_3.png")
    line = [ln for ln in (spine / "manifest.csv").read_text().splitlines() if ln.startswith("images/S001_1.png")][0]
    _append(spine / "manifest.csv", line.replace("S001_1", "S001_3"))
    rep = audit(_load(spine / "manifest.csv"), ImageStore(workers=1))
    dup = [f for f in rep.findings if f.kind == "exact_duplicate"]
    assert dup and not dup[0].leak and rep.ok
