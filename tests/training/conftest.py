"""Synthetic radiograph-like data for the training tests: small PNGs with a learnable signal.

Every image is a smooth random field (distinct perceptual hashes, so no accidental near
duplicates) plus a class-dependent brightness offset and texture that a tiny CNN learns in a few
epochs. Two anatomies (knee: one image per patient with age and T-score; spine: two images per
patient, no age), like the real development data.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

CLASSES = ("normal", "osteopenia", "osteoporosis")
OFFSET = {"normal": 0.22, "osteopenia": 0.0, "osteoporosis": -0.22}
AGE = {"normal": 35, "osteopenia": 52, "osteoporosis": 66}
TSCORE = {"normal": -0.3, "osteopenia": -1.8, "osteoporosis": -3.0}


def synth_image(rng: np.random.Generator, label: str, size: int = 48) -> np.ndarray:
    field = cv2.resize(rng.random((6, 6)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    img = 0.25 + 0.5 * field + OFFSET[label]
    stripes = (np.indices((size, size))[1] // 2 % 2).astype(np.float32)
    img = img + (0.08 if label == "normal" else -0.02) * stripes + rng.normal(0, 0.02, (size, size))
    return np.clip(img * 255, 0, 255).astype(np.uint8)


MANIFEST_COLUMNS = ("file", "image_id", "patient_id", "label", "t_score", "z_score", "sex", "age")


def write_manifest(path: Path, rows: list[dict], columns=MANIFEST_COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def make_synthetic(root: Path, per_class: int = 4, seed: int = 0, size: int = 48) -> list[Path]:
    """knee/ (one image per patient) and spine/ (two per patient); returns the two manifest paths."""
    rng = np.random.default_rng(seed)
    manifests = []
    for anat, per_patient, prefix in (("knee", 1, "K"), ("spine", 2, "S")):
        rows = []
        n = 0
        for label in CLASSES:
            for _ in range(per_class):
                n += 1
                pid = f"{prefix}{n:03d}"
                for j in range(per_patient):
                    iid = pid if per_patient == 1 else f"{pid}_{j + 1}"
                    f = root / anat / "images" / f"{iid}.png"
                    f.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(f), synth_image(rng, label, size))
                    row = {"file": f"images/{iid}.png", "image_id": iid, "patient_id": pid, "label": label}
                    if anat == "knee":
                        row.update(t_score=f"{TSCORE[label] + rng.normal(0, 0.2):.2f}",
                                   age=str(int(AGE[label] + rng.integers(-6, 7))), sex="female")
                    rows.append(row)
        manifests.append(write_manifest(root / anat / "manifest.csv", rows))
    return manifests


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> list[Path]:
    return make_synthetic(tmp_path_factory.mktemp("synth"))


def tiny_overrides(manifests: list[Path], *extra: str) -> list[str]:
    sets = [
        "data.manifests=[" + ",".join(str(m) for m in manifests) + "]",
        "model.architecture=osteo_cnn", "model.pretrained=none", "model.kwargs={widths: [6, 12], dense: 16}",
        "preprocessing.input_size=[32,32]", "preprocessing.mean=[0,0,0]", "preprocessing.std=[1,1,1]",
        "train.epochs=3", "train.batch_size=8", "train.lr=0.01", "cv.folds=2", "cv.bootstrap=50",
        "data.decode_workers=1", "export.name=test-bundle", "export.version=0.0.1",
    ]
    sets += list(extra)
    return sets
