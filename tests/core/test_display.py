"""Display pipeline on loaded films: bone bright (one inversion for MONOCHROME1 / INVERSE), window
fallback when the file's window does not fit, VOI LUT first, and the same picture whatever the
transfer syntax."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from osteo_desktop.core.display import auto_window, choose_display, full_range_window, render, to_uint8
from osteo_desktop.core.film import Film, VoiLut, Window
from osteo_desktop.core.loading import load_film

CHEST_966 = "pylibjpeg-data/JPEG2000Lossless/966_fixed.dcm"  # DX chest, MONOCHROME1 + INVERSE
DX_8BIT = "highdicom/dx_image.dcm"  # DX, MONOCHROME1 + INVERSE, 8-bit
HIP_MONO2 = "pylibjpeg-data/JPEGLosslessSV1/RG2_JPLL.dcm"  # CR hip, MONOCHROME2
DX_16_BAD_WINDOW = "pylibjpeg-data/JPEG2000Lossless/JPEG2KLossless_1s_1f_u_16_16.dcm"


def _stored(path) -> np.ndarray:
    """The stored pixel values, decoded independently of our loader."""
    return pydicom.dcmread(path).pixel_array


@pytest.mark.parametrize(
    "rel, sign",
    [(CHEST_966, -1), (DX_8BIT, -1), (HIP_MONO2, +1), (DX_16_BAD_WINDOW, +1)],
    ids=["966_fixed-MONO1+INVERSE", "dx_image-MONO1+INVERSE", "RG2-MONO2", "16bit-MONO2+IDENTITY"],
)
def test_inversion_exactly_once(helpers, rel, sign):
    """Rendered vs stored values: anti-correlated for MONOCHROME1 (inverted once, not twice)."""
    path = helpers.sample(rel)
    film = helpers.cached_film(path)
    r = helpers.correlation(render(film), _stored(path))
    assert sign * r > 0.8, r
    # The reader's own inversion toggles on top of it.
    assert sign * helpers.correlation(render(film, invert=True), _stored(path)) < -0.8


@pytest.mark.parametrize("rel", [CHEST_966, "pylibjpeg-data/JPEGLS/RG1_JLSN.dcm"])
def test_chest_pa_mediastinum_brighter_than_lungs(helpers, rel):
    """Independent of the tags: on a PA chest film the mediastinum/spine column is brighter than the lungs."""
    img = render(helpers.cached_film(helpers.sample(rel)))
    h, w = img.shape
    rows = slice(int(0.3 * h), int(0.7 * h))
    centre = img[rows, int(0.45 * w) : int(0.55 * w)].mean()
    lungs = (img[rows, int(0.2 * w) : int(0.32 * w)].mean() + img[rows, int(0.68 * w) : int(0.8 * w)].mean()) / 2
    assert centre > lungs + 0.05, (centre, lungs)


@pytest.mark.parametrize(
    "photometric, shape, inverted",
    [
        ("MONOCHROME2", "", False),
        ("MONOCHROME2", "IDENTITY", False),
        ("MONOCHROME2", "INVERSE", True),
        ("MONOCHROME1", "", True),
        ("MONOCHROME1", "INVERSE", True),  # says the same thing twice: still one inversion
    ],
)
def test_synthetic_photometric_and_presentation_lut(helpers, tmp_path, photometric, shape, inverted):
    stored = helpers.ramp()
    tags = {"PhotometricInterpretation": photometric, "WindowCenter": "2048", "WindowWidth": "4096"}
    if shape:
        tags["PresentationLUTShape"] = shape
    film = load_film(helpers.make_dicom(tmp_path / "p.dcm", stored, **tags))
    expected = np.clip((stored - 2047.5) / 4095 + 0.5, 0, 1)
    np.testing.assert_allclose(render(film), 1 - expected if inverted else expected, atol=1e-5)


def test_non_fitting_16bit_window_falls_back(helpers):
    path = helpers.sample(DX_16_BAD_WINDOW)
    film = helpers.cached_film(path)
    file_window = film.windows[0]
    assert (file_window.center, file_window.width) == (2725.0, 5310.0)
    # The file's own window would show an all-white picture (all pixels are above it)...
    assert (render(film, window=file_window) >= 0.999).mean() > 0.99
    # ...so the default display uses an automatic window instead, and says so.
    choice = choose_display(film)
    assert choice.window is not None and choice.window.name == "auto"
    assert len(choice.warnings) == 1 and path.name in choice.warnings[0] and "does not fit" in choice.warnings[0]
    img = render(film)
    assert 0.05 < img.mean() < 0.95 and img.std() > 0.1
    assert (img >= 0.999).mean() < 0.05


def test_fitting_file_window_is_used(helpers):
    film = helpers.cached_film(helpers.sample(HIP_MONO2))
    choice = choose_display(film)
    assert choice.window == film.windows[0] and choice.warnings == ()


RG1_VARIANTS = [
    ("testdata", "RG1_J2KR.dcm"),
    ("shared", "pylibjpeg-data/JPEGLS/RG1_JLSN.dcm"),
    ("testdata", "RG1_UNCI.dcm"),
    ("testdata", "RG1_J2KI.dcm"),
]


@pytest.mark.parametrize("source, name", RG1_VARIANTS, ids=[n for _, n in RG1_VARIANTS])
def test_rg1_transfer_syntaxes_render_alike(helpers, source, name):
    reference = render(helpers.cached_film(helpers.testdata("RG1_UNCR.dcm")))
    path = helpers.testdata(name) if source == "testdata" else helpers.sample(name)
    other = render(helpers.cached_film(path))
    assert other.shape == reference.shape
    diff = np.abs(other[::2, ::2] - reference[::2, ::2])
    if name == "RG1_J2KR.dcm":  # lossless: identical
        assert diff.max() == 0.0
    assert diff.mean() < 0.01, diff.mean()
    assert helpers.correlation(other, reference) > 0.99


def test_voi_lut_takes_precedence_over_windows():
    pixels = np.tile(np.arange(100, 200, dtype=np.float32), (40, 1))
    table = np.linspace(4095, 0, 100)  # a decreasing LUT: unmistakable
    film = Film(
        path=Path("v.dcm"),
        pixels=pixels,
        windows=(Window(150, 100),),
        voi_lut=VoiLut(first_mapped=100, table=table, output_bits=12, name="L"),
    )
    choice = choose_display(film)
    assert choice.voi_lut is film.voi_lut and choice.window is None
    np.testing.assert_allclose(render(film)[0], table / 4095.0, atol=1e-6)


def test_real_voi_lut_file_renders(helpers):
    film = load_film(helpers.testdata("vlut_04.dcm"))
    img = render(film)
    assert choose_display(film).voi_lut is not None
    assert img.min() >= 0 and img.max() <= 1 and img.std() > 0.05


def test_auto_window_on_small_range_float_data():
    """Float data spanning < 1 must get a ramp, not a threshold (LINEAR's width - 1 collapses)."""
    pixels = np.tile(np.linspace(0.0, 0.001, 256, dtype=np.float32), (64, 1))
    film = Film(path=Path("f.tif"), pixels=pixels)
    for window in (auto_window(pixels), full_range_window(pixels)):
        assert window.function == "LINEAR_EXACT"
    img = render(film)
    assert len(np.unique(to_uint8(img))) > 200
    assert np.all(np.diff(img[0]) >= 0)


def test_8bit_raster_round_trips_through_display(tmp_path):
    from PIL import Image

    stored = np.tile(np.arange(256, dtype=np.uint8), (40, 1))
    Image.fromarray(stored).save(tmp_path / "r.png")
    film = load_film(tmp_path / "r.png")
    np.testing.assert_array_equal(to_uint8(render(film)), stored)
