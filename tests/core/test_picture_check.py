"""Finding 3 of issue 12: blank or saturated pictures must not get a normal-looking result.

Each case is a film that loads without error but shows nothing after the modality/VOI pipeline;
`picture_problem` must say why (naming the file), and must leave real pictures alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from osteo_desktop.core.display import render
from osteo_desktop.core.film import Film
from osteo_desktop.core.loading import load_film
from osteo_desktop.core.picture_check import picture_problem


def _float_dicom(path, values: np.ndarray):
    from tests.robustness.hostile import _base_dataset, save_dicom

    ds = _base_dataset(Rows=values.shape[0], Columns=values.shape[1], SamplesPerPixel=1,
                       PhotometricInterpretation="MONOCHROME2", BitsAllocated=32)
    ds.FloatPixelData = values.astype("<f4").tobytes()
    return save_dicom(path, ds)


def _voi_lut(table: np.ndarray, first: int = 0, bits: int = 12) -> Sequence:
    item = Dataset()
    item.LUTDescriptor = [len(table), first, bits]
    item.add_new("LUTData", "OW", table.astype("<u2").tobytes())
    item.LUTExplanation = "TEST LUT"
    return Sequence([item])


def test_all_nan_float_dicom_is_not_screened(tmp_path):
    film = load_film(_float_dicom(tmp_path / "nan.dcm", np.full((64, 64), np.nan, np.float32)))
    reason = picture_problem(film)
    assert reason is not None and reason.startswith("Every pixel value is NaN or infinite")


@pytest.mark.parametrize("slope, intercept, expect", [
    ("1e300", None, "NaN or infinite"),   # float32 overflow: every value infinite (or NaN for 0 * inf)
    ("1e-300", None, "same value"),       # underflow: every value is the intercept
    (None, "1e38", "same value"),         # float32 cannot tell stored values apart at 1e38
])
def test_extreme_rescale_is_not_screened(helpers, tmp_path, slope, intercept, expect):
    path = helpers.make_dicom(tmp_path / "rescale.dcm", helpers.ramp(), RescaleSlope=slope, RescaleIntercept=intercept)
    film = load_film(path)
    reason = picture_problem(film)
    assert reason is not None and expect in reason


def test_all_zero_voi_lut_is_not_screened(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "zero_lut.dcm", helpers.ramp(), VOILUTSequence=_voi_lut(np.zeros(4096)))
    reason = picture_problem(load_film(path))
    assert reason is not None and "uniform" in reason and "VOI LUT" in reason and "black" in reason


def test_mis_mapped_voi_lut_is_not_screened(helpers, tmp_path):
    """The LUT starts far above every stored value: every pixel maps to its first entry."""
    table = np.linspace(0, 4095, 1024)
    path = helpers.make_dicom(tmp_path / "far_lut.dcm", helpers.ramp(), VOILUTSequence=_voi_lut(table, first=30000))
    reason = picture_problem(load_film(path))
    assert reason is not None and "uniform" in reason


def test_near_uniform_picture_is_not_screened():
    pixels = np.full((200, 200), 1000.0, np.float32)
    pixels[:3, :3] = 4000.0  # nine bright pixels of 40,000: 0.02 % detail
    reason = picture_problem(Film(path=__import__("pathlib").Path("flat.png"), pixels=pixels))
    assert reason is not None and "uniform" in reason and "more than 99.9% of it is black" in reason


def test_uniform_modality_values():
    film = Film(path=__import__("pathlib").Path("flat.png"), pixels=np.full((64, 64), 7.0, np.float32))
    assert "same value" in picture_problem(film)


def test_real_pictures_pass(helpers, tmp_path):
    assert picture_problem(load_film(helpers.make_dicom(tmp_path / "ramp.dcm", helpers.ramp()))) is None
    # a spine film masked to black: 97 % background, 3 % bone; still a picture
    pixels = np.zeros((400, 300), np.float32)
    pixels[100:160, 120:180] = np.linspace(80, 250, 60)[None, :]
    film = Film(path=__import__("pathlib").Path("spine.png"), pixels=pixels)
    assert picture_problem(film, render(film)) is None


def test_a_working_voi_lut_passes(helpers, tmp_path):
    table = np.minimum(4095, 4 * np.arange(1024))
    path = helpers.make_dicom(tmp_path / "lut.dcm", helpers.ramp(maximum=1023), VOILUTSequence=_voi_lut(table))
    assert picture_problem(load_film(path)) is None
