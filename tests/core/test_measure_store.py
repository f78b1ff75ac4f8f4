"""Keeping measurements: GSPS for DICOM films (read back with highdicom and pydicom), sidecar JSON
for PNG/JPEG, never replacing a file the program did not write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from osteo_desktop.core.film import Window
from osteo_desktop.core.loading import load_film
from osteo_desktop.core.measure import Calibration, Kind, Measurement
from osteo_desktop.core.measure_store import SIDECAR_SUFFIX, MeasurementStore, MeasureStoreError
from osteo_desktop.core.presentation_state import FilmMeasurements, PresentationStateError, build_gsps, read_gsps
from tests.dicom_factory import write_film

ITEMS = [
    Measurement(Kind.DISTANCE, ((10.0, 20.0), (60.0, 20.0))),
    Measurement(Kind.ANGLE, ((10.0, 10.0), (30.0, 30.0), (50.0, 10.0))),
    Measurement(Kind.COBB, ((5.0, 40.0), (70.0, 35.0), (5.0, 80.0), (70.0, 90.0))),
    Measurement(Kind.ELLIPSE, ((20.0, 30.0), (60.0, 50.0))),
    Measurement(Kind.RECTANGLE, ((15.0, 55.0), (45.0, 85.0))),
]
CAL = Calibration((10.0, 5.0), (60.0, 5.0), 25.0)


@pytest.fixture
def dicom_film(tmp_path):
    return load_film(write_film(tmp_path / "knee.dcm", PixelSpacing=[0.2, 0.2]))


@pytest.fixture
def png_film(tmp_path):
    p = tmp_path / "knee.png"
    assert cv2.imwrite(str(p), (np.arange(96 * 80).reshape(96, 80) % 251).astype(np.uint8))
    return load_film(p)


def test_gsps_holds_the_right_graphic_objects(dicom_film, tmp_path):
    fm = FilmMeasurements(list(ITEMS), CAL)
    ds = build_gsps(dicom_film, fm, window=Window(2000.0, 1000.0, "manual"))
    out = tmp_path / "pr.dcm"
    ds.save_as(str(out), enforce_file_format=True)
    pr = pydicom.dcmread(str(out))  # written by highdicom, read by pydicom
    assert pr.Modality == "PR" and pr.ContentLabel == "OSTEO_MEASURE"
    assert pr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1"  # Grayscale Softcopy Presentation State
    [ref] = pr.ReferencedSeriesSequence[0].ReferencedImageSequence
    assert ref.ReferencedSOPInstanceUID == dicom_film.ids.sop_instance_uid
    groups = {int(g.GraphicGroupID): g.GraphicGroupLabel for g in pr.GraphicGroupSequence}
    assert sorted(groups.values()) == sorted(["DISTANCE", "ANGLE", "COBB", "ELLIPSE", "RECTANGLE", "CALIBRATION"])
    [ann] = pr.GraphicAnnotationSequence
    assert ann.GraphicLayer == "MEASUREMENTS"
    shapes = [(groups[int(o.GraphicGroupID)], o.GraphicType, int(o.NumberOfGraphicPoints), o.GraphicAnnotationUnits)
              for o in ann.GraphicObjectSequence]
    assert sorted(shapes) == sorted([
        ("DISTANCE", "POLYLINE", 2, "PIXEL"), ("ANGLE", "POLYLINE", 3, "PIXEL"), ("COBB", "POLYLINE", 2, "PIXEL"),
        ("COBB", "POLYLINE", 2, "PIXEL"), ("ELLIPSE", "ELLIPSE", 4, "PIXEL"), ("RECTANGLE", "POLYLINE", 5, "PIXEL"),
        ("CALIBRATION", "POLYLINE", 2, "PIXEL")])
    distance = next(o for o in ann.GraphicObjectSequence if groups[int(o.GraphicGroupID)] == "DISTANCE")
    assert [float(v) for v in distance.GraphicData] == [10.0, 20.0, 60.0, 20.0]
    ellipse = next(o for o in ann.GraphicObjectSequence if o.GraphicType == "ELLIPSE")
    assert [float(v) for v in ellipse.GraphicData] == [20.0, 40.0, 60.0, 40.0, 40.0, 30.0, 40.0, 50.0]  # major axis first
    texts = {groups[int(t.GraphicGroupID)]: t.UnformattedTextValue for t in ann.TextObjectSequence}
    # calibrated by the user: 50 px = 25 mm, so the 50 px distance is 25 mm
    assert texts["DISTANCE"] == "25.0 mm (calibrated by user)"
    assert texts["CALIBRATION"] == "calibration: 25.0 mm (calibrated by user)"
    assert texts["COBB"].startswith("Cobb ") and texts["ANGLE"].endswith("°")
    assert "mean" in texts["ELLIPSE"] and "(stored values)" in texts["ELLIPSE"]
    [area] = pr.DisplayedAreaSelectionSequence
    assert [float(v) for v in area.PresentationPixelSpacing] == [pytest.approx(0.5), pytest.approx(0.5)]
    [voi] = pr.SoftcopyVOILUTSequence
    assert (float(voi.WindowCenter), float(voi.WindowWidth)) == (2000.0, 1000.0)
    # and back
    back, notes = read_gsps(pydicom.dcmread(str(out)), dicom_film)
    assert back.items == ITEMS and back.calibration == CAL and notes == []


def test_gsps_for_another_image_is_refused(dicom_film, tmp_path):
    other = load_film(write_film(tmp_path / "other.dcm"))
    ds = build_gsps(other, FilmMeasurements(ITEMS[:1]))
    with pytest.raises(PresentationStateError, match="another image"):
        read_gsps(ds, dicom_film)


def test_gsps_needs_a_dicom_film(png_film):
    with pytest.raises(PresentationStateError, match="sidecar"):
        build_gsps(png_film, FilmMeasurements(ITEMS[:1]))


def test_dicom_measurements_go_to_the_data_folder_never_beside_the_film(dicom_film, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    store = MeasurementStore(data)
    before = sorted(os.listdir(dicom_film.path.parent))
    saved = store.save(dicom_film, FilmMeasurements(list(ITEMS), CAL))
    assert saved.path == data / "presentation-states" / f"{dicom_film.ids.sop_instance_uid}.dcm"
    assert sorted(os.listdir(dicom_film.path.parent)) == before
    again = load_film(dicom_film.path)
    loaded = MeasurementStore(data).load(again)
    assert loaded is not None and loaded.measurements.items == ITEMS and loaded.measurements.calibration == CAL
    # a second save keeps the series (revisions of the same film's measurements)
    series = pydicom.dcmread(str(saved.path)).SeriesInstanceUID
    store.save(dicom_film, FilmMeasurements(ITEMS[:2]))
    assert pydicom.dcmread(str(saved.path)).SeriesInstanceUID == series
    assert store.load(dicom_film).measurements.items == ITEMS[:2]
    # everything deleted: the file goes
    assert store.save(dicom_film, FilmMeasurements()).path is None and not saved.path.exists()
    assert store.load(dicom_film) is None


def test_png_sidecar_beside_the_film_round_trips(png_film, tmp_path):
    store = MeasurementStore(tmp_path / "data")
    saved = store.save(png_film, FilmMeasurements(list(ITEMS), CAL))
    assert saved.path == tmp_path / f"knee.png{SIDECAR_SUFFIX}"
    doc = json.loads(saved.path.read_text())
    assert doc["format"] == "osteo-desktop measurements" and doc["film"] == {"name": "knee.png", "rows": 96, "cols": 80}
    loaded = store.load(load_film(png_film.path))
    assert loaded.measurements.items == ITEMS and loaded.measurements.calibration == CAL


def test_sidecar_setting_off_keeps_the_film_folder_untouched(png_film, tmp_path):
    store = MeasurementStore(tmp_path / "data", beside_film=False)
    saved = store.save(png_film, FilmMeasurements(ITEMS[:1]))
    assert saved.path.parent == tmp_path / "data" / "sidecars"
    assert not (tmp_path / f"knee.png{SIDECAR_SUFFIX}").exists()
    assert store.load(png_film).measurements.items == ITEMS[:1]


def test_a_file_we_did_not_write_is_never_replaced(png_film, tmp_path):
    foreign = tmp_path / f"knee.png{SIDECAR_SUFFIX}"
    foreign.write_text('{"something": "else"}')
    store = MeasurementStore(tmp_path / "data")
    saved = store.save(png_film, FilmMeasurements(ITEMS[:1]))
    assert foreign.read_text() == '{"something": "else"}'
    assert saved.path.parent == tmp_path / "data" / "sidecars" and "not replaced" in saved.notes[0]
    assert store.load(png_film).measurements.items == ITEMS[:1]
    store.save(png_film, FilmMeasurements())  # deleting removes only our own copy
    assert foreign.exists() and not saved.path.exists()


def test_sidecar_for_another_picture_size_is_not_shown(png_film, tmp_path):
    store = MeasurementStore(tmp_path / "data")
    path = store.save(png_film, FilmMeasurements(ITEMS[:1])).path
    doc = json.loads(path.read_text())
    doc["film"]["rows"] = 500
    path.write_text(json.dumps(doc))
    loaded = store.load(png_film)
    assert loaded.measurements.empty and "not shown" in loaded.notes[0]


def test_unwritable_film_folder_falls_back_to_the_data_folder(png_film, tmp_path, monkeypatch):
    from osteo_desktop.core import measure_store

    real = measure_store.atomic_write_text

    def refuse_beside(path, text, **kw):
        if Path(path).parent == tmp_path:
            raise PermissionError(13, "Permission denied")
        return real(path, text, **kw)

    monkeypatch.setattr(measure_store, "atomic_write_text", refuse_beside)
    saved = MeasurementStore(tmp_path / "data").save(png_film, FilmMeasurements(ITEMS[:1]))
    assert saved.path.parent == tmp_path / "data" / "sidecars"


def test_export_gsps_never_replaces(dicom_film, tmp_path):
    store = MeasurementStore(tmp_path / "data")
    out = store.export_gsps(dicom_film, FilmMeasurements(ITEMS[:1]), tmp_path / "out" / "pr.dcm")
    assert pydicom.dcmread(str(out)).Modality == "PR"
    with pytest.raises(MeasureStoreError, match="already exists"):
        store.export_gsps(dicom_film, FilmMeasurements(ITEMS[:1]), out)
