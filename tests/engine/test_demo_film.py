import cv2
import numpy as np
import pytest

from osteo_desktop.core.anatomy import anatomy_of
from osteo_desktop.core.display import choose_display, render
from osteo_desktop.core.loading import load_film
from osteo_desktop.resources_path import demo_film_path
from tests.conftest import DATA


def test_demo_film_is_a_deidentified_knee_with_attribution():
    film = load_film(demo_film_path())
    assert anatomy_of(film) == "knee"
    assert film.ids.patient_name == "DEMO^KNEE" and film.ids.patient_id == "OSTEO-DEMO-001"
    assert film.ids.patient_birth_date == ""
    assert "Wani" in (demo_film_path().parent / "ATTRIBUTION.md").read_text()


def test_demo_film_looks_to_the_model_as_its_training_jpeg_did():
    src = DATA / "knee" / "images" / "K002.jpg"
    if not src.exists():
        pytest.skip("shared data not available")
    film = load_film(demo_film_path())
    assert choose_display(film).window.name == "FULL 8-BIT RANGE"
    jpeg = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    diff = np.abs(render(film) - jpeg)
    assert diff.max() <= 2 / 255 and diff.mean() < 0.5 / 255  # decoders may differ by one level
