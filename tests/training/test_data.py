from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.preprocessing import PreprocessConfig, preprocess_image
from training.config import load_config
from training.data import ImageStore, content_size, load_dataset, load_display_image, read_raster_8bit, resize_like_preprocessing
from training.errors import ManifestError
from training.splits import check_enough_patients

from .conftest import CLASSES, write_manifest


def _copy(synth_data, tmp_path) -> Path:
    root = tmp_path / "d"
    shutil.copytree(synth_data[0].parent.parent, root)
    return root


def _load(*manifests):
    cfg = load_config(None, ["data.manifests=[" + ",".join(str(m) for m in manifests) + "]"])
    return load_dataset(cfg["data"])


def test_manifests_load_with_anatomy_from_folder(synth_data):
    ds = _load(*synth_data)
    assert set(ds.anatomies) == {"knee", "spine"}
    knee = [s for s in ds.samples if s.anatomy == "knee"]
    assert all(np.isfinite(s.age) and np.isfinite(s.t_score) for s in knee)
    assert all(np.isnan(s.age) for s in ds.samples if s.anatomy == "spine")
    assert ds.summary()["by_anatomy"]["spine"]["patients"] * 2 == ds.summary()["by_anatomy"]["spine"]["images"]


def test_missing_column(tmp_path):
    m = write_manifest(tmp_path / "knee" / "manifest.csv", [{"file": "a.png", "label": "normal"}], columns=("file", "label"))
    with pytest.raises(ManifestError, match=r"missing column\(s\) \['patient_id'\]"):
        _load(m)


def test_unknown_label_and_missing_file(synth_data, tmp_path):
    root = _copy(synth_data, tmp_path)
    m = root / "knee" / "manifest.csv"
    text = m.read_text().replace(",normal,", ",healthy,", 1)
    m.write_text(text)
    with pytest.raises(ManifestError, match="unknown label.*'healthy'"):
        _load(m)
    m.write_text(text.replace(",healthy,", ",normal,"))
    (root / "knee" / "images" / "K002.png").unlink()
    with pytest.raises(ManifestError, match="not found.*K002.png"):
        _load(m)


def test_too_few_patients_for_k_folds(synth_data):
    ds = _load(synth_data[0])  # 4 patients per class
    check_enough_patients(ds, 4)
    with pytest.raises(ManifestError, match="class 'normal' has 4 patient"):
        check_enough_patients(ds, 5)


def test_cached_image_gives_identical_model_input(synth_data):
    ds = _load(*synth_data)
    store = ImageStore(workers=1)
    for size, mode in (((32, 32), "letterbox"), ((40, 24), "letterbox"), ((32, 32), "stretch"), ((96, 96), "letterbox")):
        cfg = PreprocessConfig(input_size=size, resize=mode, mean=(0.5,) * 3, std=(0.25,) * 3)
        store.prepare([s.path for s in ds.samples[:3]], cfg)
        for s in ds.samples[:3]:
            full = load_display_image(s.path)
            a, _ = preprocess_image(full, cfg)
            b, _ = preprocess_image(store.image(s.path, cfg), cfg)
            np.testing.assert_array_equal(a, b)


def test_non_square_image_content_size():
    img = np.random.default_rng(0).random((100, 50)).astype(np.float32)
    cfg = PreprocessConfig(input_size=(64, 64))
    assert content_size(img.shape, cfg) == (64, 32)
    small = resize_like_preprocessing(img, content_size(img.shape, cfg))
    np.testing.assert_array_equal(preprocess_image(img, cfg)[0], preprocess_image(small, cfg)[0])


def test_fallback_reader_equals_core_loader_for_8bit_jpeg(tmp_path):
    try:
        from osteo_desktop.core.display import render
        from osteo_desktop.core.loading import load_film  # type: ignore[attr-defined]
    except ImportError as e:
        pytest.skip(f"core film loader not importable here: {e}")
    import cv2

    img = (np.random.default_rng(1).random((48, 40)) * 255).astype(np.uint8)
    for suffix in (".jpg", ".png"):
        p = tmp_path / f"x{suffix}"
        cv2.imwrite(str(p), img)
        np.testing.assert_allclose(read_raster_8bit(p), render(load_film(p)), atol=1e-6)


def test_class_folders(tmp_path):
    import cv2

    for c in CLASSES:
        (tmp_path / "set" / c).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "set" / c / "a.png"), np.zeros((8, 8), np.uint8))
    cfg = load_config(None, [f"data.class_folders=[{tmp_path / 'set'}]"])
    ds = load_dataset(cfg["data"])
    assert len(ds) == 3 and len(set(ds.groups)) == 3
    (tmp_path / "set" / "weird").mkdir()
    with pytest.raises(ManifestError, match="weird"):
        load_dataset(cfg["data"])
