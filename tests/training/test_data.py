from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.display import render
from osteo_desktop.core.loading import load_film
from osteo_desktop.core.preprocessing import PreprocessConfig, preprocess_image
from training.config import load_config
from training.data import ImageStore, load_dataset, load_display_image
from training.errors import ConfigError, ManifestError
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


def test_exif_rotated_grey_jpeg_reads_as_the_app_shows_it(tmp_path):
    """Training reads films only through the app's loader: EXIF orientation is applied, so an
    upright 40x60 film stored as 60x40 pixels comes out 40x60 in training as in the viewer."""
    from PIL import Image

    stored = np.zeros((60, 40), np.uint8)
    stored[:10, :] = 255  # a bright band along the stored top edge
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    p = tmp_path / "rotated.jpg"
    Image.fromarray(stored, "L").save(p, quality=95, exif=exif)

    app = render(load_film(p))
    train = load_display_image(p)
    assert app.shape == train.shape == (40, 60)
    np.testing.assert_array_equal(train, app)
    assert train[:, -10:].mean() > 0.9 and train[:, :10].mean() < 0.1  # the band is now on the right
    store = ImageStore(workers=1)
    cfg = PreprocessConfig(input_size=(32, 32))
    store.prepare([p], cfg)
    assert store.info[p].shape == (40, 60)
    np.testing.assert_allclose(preprocess_image(store.image(p, cfg), cfg)[0], preprocess_image(app, cfg)[0], atol=1e-6)


def test_removed_loader_option(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("data:\n  loader: auto\n", encoding="utf-8")
    assert "loader" not in load_config(old)["data"]  # earlier runs' configs still load
    old.write_text("data:\n  loader: cv2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="data.loader 'cv2' was removed"):
        load_config(old)
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(None, ["data.loader=cv2"])


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
