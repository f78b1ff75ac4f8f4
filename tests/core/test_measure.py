"""core.measure: distances, angles, Cobb angles, ROI statistics and areas, user calibration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from osteo_desktop.core.film import Film, Spacing, SpacingSource
from osteo_desktop.core.measure import (
    Calibration,
    Kind,
    MeasureError,
    Measurement,
    Scale,
    ScaleSource,
    angle_deg,
    cobb_deg,
    film_scale,
    measurement_lines,
    roi_stats,
    value_unit,
)

PS = Spacing(0.5, 0.5, SpacingSource.PIXEL_SPACING)


def _film(spacing: Spacing = PS, pixels: np.ndarray | None = None, fmt: str = "DICOM", header=None) -> Film:
    px = np.zeros((100, 120), np.float32) if pixels is None else pixels
    return Film(path=Path("/x/film.dcm"), pixels=px, spacing=spacing, source_format=fmt, header=header)


def test_distance_text_names_its_calibration_source():
    a, b = (10.0, 10.0), (110.0, 10.0)  # 100 px
    m = Measurement(Kind.DISTANCE, (a, b))
    px = np.zeros((5, 5), np.float32)
    assert measurement_lines(m, px, film_scale(_film(PS)), "") == ["50.0 mm (PixelSpacing)"]
    imager = Spacing(0.5, 0.5, SpacingSource.IMAGER_PIXEL_SPACING)
    assert measurement_lines(m, px, film_scale(_film(imager)), "") == ["50.0 mm at detector (ImagerPixelSpacing)"]
    assert measurement_lines(m, px, film_scale(_film(Spacing())), "") == ["100 px (no calibration)"]


def test_anisotropic_pixels_measure_in_millimetres():
    s = Scale(row_mm=0.2, col_mm=0.1, source=ScaleSource.PIXEL_SPACING)
    assert s.length((0, 0), (30, 40)) == pytest.approx(math.hypot(3.0, 8.0))
    # 45 degrees in pixels is not 45 degrees in millimetres when rows are twice as tall
    assert angle_deg((10, 0), (0, 0), (10, 10), s) == pytest.approx(math.degrees(math.atan2(2.0, 1.0)))


@pytest.mark.parametrize("deg", [0.0, 12.5, 45.0, 89.0, 90.0])
def test_angle_between_arms(deg):
    r = math.radians(deg)
    assert angle_deg((100.0, 50.0), (50.0, 50.0), (50 + 50 * math.cos(r), 50 - 50 * math.sin(r))) == pytest.approx(deg, abs=1e-9)


def test_cobb_angle_is_acute_and_independent_of_drawing_direction():
    # endplate lines at +10 and -15 degrees from the horizontal: Cobb = 25
    def line(deg, cx, cy, half=40.0):
        r = math.radians(deg)
        return (cx - half * math.cos(r), cy + half * math.sin(r)), (cx + half * math.cos(r), cy - half * math.sin(r))

    a, b = line(10, 100, 50)
    c, d = line(-15, 100, 300)
    assert cobb_deg(a, b, c, d) == pytest.approx(25.0, abs=1e-9)
    assert cobb_deg(b, a, c, d) == pytest.approx(25.0, abs=1e-9)  # one line drawn the other way
    assert cobb_deg(a, b, d, c) == pytest.approx(25.0, abs=1e-9)
    e, f = line(80, 0, 0)
    assert cobb_deg(a, b, e, f) == pytest.approx(70.0, abs=1e-9)  # 110 between directions -> 70
    m = Measurement(Kind.COBB, (a, b, c, d))
    assert measurement_lines(m, np.zeros((1, 1)), Scale(), "") == ["Cobb 25.0°"]


def test_rectangle_roi_statistics_in_the_films_units():
    rng = np.random.default_rng(3)
    px = np.full((100, 120), 7.0, np.float32)
    block = rng.normal(1000.0, 25.0, size=(40, 50)).astype(np.float32)
    px[20:60, 30:80] = block
    m = Measurement(Kind.RECTANGLE, ((30.0, 20.0), (80.0, 60.0)))  # exactly the block
    st = roi_stats(m, px, Scale(0.5, 0.5, ScaleSource.PIXEL_SPACING), "stored values")
    assert st.n == 40 * 50
    assert st.mean == pytest.approx(float(block.astype(np.float64).mean()), rel=1e-9)
    assert st.sd == pytest.approx(float(block.astype(np.float64).std(ddof=1)), rel=1e-9)
    assert (st.minimum, st.maximum) == (pytest.approx(float(block.min())), pytest.approx(float(block.max())))
    assert st.area == pytest.approx(50 * 0.5 * 40 * 0.5)
    assert st.lines()[0].endswith("(stored values)") and st.lines()[2] == "area 500.0 mm² (PixelSpacing)"
    # drawn from the other corner: the same pixels
    assert roi_stats(Measurement(Kind.RECTANGLE, ((80.0, 60.0), (30.0, 20.0))), px).n == 2000


def test_ellipse_roi_covers_the_pixels_whose_centres_are_inside_and_reports_its_area():
    px = np.zeros((200, 200), np.float32)
    yy, xx = np.mgrid[0:200, 0:200] + 0.5
    inside = ((xx - 100) / 60) ** 2 + ((yy - 90) / 40) ** 2 <= 1
    px[inside] = 500.0
    px[~inside] = -100.0
    m = Measurement(Kind.ELLIPSE, ((40.0, 50.0), (160.0, 130.0)))
    st = roi_stats(m, px, Scale(0.1, 0.2, ScaleSource.PIXEL_SPACING))
    assert st.n == int(inside.sum())
    assert st.mean == 500.0 and st.sd == 0.0 and st.minimum == st.maximum == 500.0
    assert st.area == pytest.approx(math.pi * (60 * 0.2) * (40 * 0.1))
    assert st.n == pytest.approx(math.pi * 60 * 40, rel=0.01)


def test_roi_outside_the_film_has_no_pixels_and_says_so():
    st = roi_stats(Measurement(Kind.RECTANGLE, ((-50.0, -50.0), (-10.0, -10.0))), np.ones((10, 10), np.float32))
    assert st.n == 0 and math.isnan(st.mean) and "—" in st.lines()[0]


def test_user_calibration_from_a_known_object_labels_every_number():
    # a 25 mm ball is 125 px across on a film without calibration: 0.2 mm per pixel
    cal = Calibration((10.0, 50.0), (135.0, 50.0), 25.0)
    film = _film(Spacing())
    s = film_scale(film, cal)
    assert s.source is ScaleSource.USER and s.col_mm == pytest.approx(0.2) and s.row_mm == pytest.approx(0.2)
    m = Measurement(Kind.DISTANCE, ((0.0, 0.0), (0.0, 250.0)))
    assert measurement_lines(m, film.pixels, s, "") == ["50.0 mm (calibrated by user)"]
    roi = Measurement(Kind.RECTANGLE, ((0.0, 0.0), (50.0, 50.0)))
    assert measurement_lines(roi, film.pixels, s, "x")[2] == "area 100.0 mm² (calibrated by user)"


def test_user_calibration_over_imager_spacing_keeps_the_pixel_aspect():
    film = _film(Spacing(0.2, 0.1, SpacingSource.IMAGER_PIXEL_SPACING))
    cal = Calibration((0.0, 0.0), (100.0, 0.0), 8.0)  # 10 mm by ImagerPixelSpacing, really 8 mm (magnification 1.25)
    s = film_scale(film, cal)
    assert (s.col_mm, s.row_mm) == (pytest.approx(0.08), pytest.approx(0.16))
    assert s.label == "(calibrated by user)"


@pytest.mark.parametrize("bad", [0.0, -3.0, float("nan"), float("inf")])
def test_calibration_needs_a_positive_length(bad):
    with pytest.raises(MeasureError, match="positive"):
        Calibration((0.0, 0.0), (10.0, 0.0), bad)


def test_calibration_line_must_have_a_length():
    with pytest.raises(MeasureError, match="shorter than a pixel"):
        Calibration((5.0, 5.0), (5.2, 5.0), 25.0)


def test_round_trip_through_dicts():
    items = [
        Measurement(Kind.DISTANCE, ((1.25, 2.5), (3.0, 4.0))),
        Measurement(Kind.ANGLE, ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0))),
        Measurement(Kind.COBB, ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0), (7.0, 8.0))),
        Measurement(Kind.ELLIPSE, ((1.0, 2.0), (30.0, 40.0))),
    ]
    assert [Measurement.from_dict(m.to_dict()) for m in items] == items
    cal = Calibration((1.0, 2.0), (30.0, 2.0), 25.0)
    assert Calibration.from_dict(cal.to_dict()) == cal
    with pytest.raises(MeasureError):
        Measurement.from_dict({"kind": "angle", "points": [[0, 0], [1, 1]]})  # needs three points
    with pytest.raises(MeasureError):
        Measurement.from_dict({"kind": "volume", "points": []})


def test_degenerate_measurements_are_clicks():
    assert Measurement(Kind.DISTANCE, ((1.0, 1.0), (1.5, 1.2))).is_degenerate()
    assert Measurement(Kind.ELLIPSE, ((1.0, 1.0), (40.0, 1.4))).is_degenerate()
    assert not Measurement(Kind.COBB, ((0.0, 0.0), (10.0, 0.0), (0.0, 5.0), (10.0, 7.0))).is_degenerate()


def test_value_unit_says_stored_or_modality_values():
    assert value_unit(_film(fmt="PNG")) == "pixel values"
    ds = Dataset()
    assert value_unit(_film(header=ds)) == "stored values"
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    assert value_unit(_film(header=ds)) == "stored values"
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 2, -1024, "HU"
    assert value_unit(_film(header=ds)) == "modality values, HU"
