"""The measurement kit driven with the mouse: Cobb angle, ROI statistics, calibration from a known
object, click-click and editing; measurements kept (GSPS for DICOM, sidecar for PNG) and restored
when the film is opened again; full-resolution image export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QImage

from osteo_desktop.core.film import Film, FilmIdentifiers, Spacing, SpacingSource
from osteo_desktop.core.measure import Kind
from osteo_desktop.gui import image_export, measure_controller
from osteo_desktop.gui.film_view import FilmView
from osteo_desktop.gui.imaging import prepare

from .conftest import FakeScreener, drag, send_mouse, write_dicom, write_png


@pytest.fixture
def view(qtbot):
    v = FilmView()
    qtbot.addWidget(v)
    v.resize(700, 600)
    v.show()
    qtbot.waitExposed(v)
    return v


PS = Spacing(0.5, 0.5, SpacingSource.PIXEL_SPACING)


def _film(pixels: np.ndarray, spacing: Spacing = PS) -> Film:
    return Film(path=Path("/tmp/synthetic.dcm"), pixels=pixels.astype(np.float32), spacing=spacing,
                ids=FilmIdentifiers(patient_id="P1"), source_format="DICOM", bits_stored=12)


def _click(view, x: float, y: float) -> None:
    q = view.image_to_widget().map(QPointF(x, y))
    send_mouse(view, QEvent.Type.MouseButtonPress, q, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
    send_mouse(view, QEvent.Type.MouseButtonRelease, q, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)


def _drag_img(view, a: tuple[float, float], b: tuple[float, float]) -> None:
    t = view.image_to_widget()
    drag(view, t.map(QPointF(*a)), t.map(QPointF(*b)))


def _line(deg: float, cx: float, cy: float, half: float = 60.0) -> tuple[tuple[float, float], tuple[float, float]]:
    r = math.radians(deg)
    return (cx - half * math.cos(r), cy + half * math.sin(r)), (cx + half * math.cos(r), cy - half * math.sin(r))


def test_cobb_angle_on_two_known_lines_by_drags_and_by_clicks(view, qtbot):
    view.set_film(prepare(_film(np.zeros((300, 400)))))
    view.set_tool(Kind.COBB)
    a, b = _line(12.0, 200, 80)  # upper endplate tilted 12 degrees one way
    c, d = _line(-20.0, 200, 220)  # lower endplate 20 degrees the other way: Cobb 32
    _drag_img(view, a, b)
    assert view.tools.drawing and view.measurements == []  # half a Cobb angle: still drawing
    with qtbot.waitSignal(view.measured) as sig:
        _drag_img(view, c, d)
    assert sig.args[0] == "Cobb 32.0°"
    [m] = view.measurements
    assert m.kind is Kind.COBB and m.points[0] == pytest.approx(a, abs=0.02)
    with qtbot.waitSignal(view.measured) as sig:  # the same with four clicks elsewhere, one line drawn the other way
        for x, y in (b, a, c, d):
            _click(view, x + 20, y + 30)
    assert sig.args[0] == "Cobb 32.0°" and len(view.measurements) == 2
    view.rotate(1)
    view.flip(True)  # the angle is a property of the film, not of the view
    assert view.tools.text(view.measurements[1]) == "Cobb 32.0°"


def test_roi_on_a_film_of_known_mean_and_sd(view, qtbot):
    rng = np.random.default_rng(7)
    px = np.full((300, 400), 100.0)
    block = rng.normal(2000.0, 50.0, size=(100, 160))
    px[100:200, 120:280] = np.rint(block)
    view.set_film(prepare(_film(px)))
    view.set_tool(Kind.RECTANGLE)
    with qtbot.waitSignal(view.measured) as sig:
        _drag_img(view, (120.0, 100.0), (280.0, 200.0))  # exactly the block
    inside = np.rint(block)
    assert sig.args[0] == (f"mean {inside.mean():.1f}, SD {inside.std(ddof=1):.1f} (stored values), "
                           f"min {inside.min():.1f}, max {inside.max():.1f}, n 16000, area 4000.0 mm² (PixelSpacing)")
    view.set_tool(Kind.ELLIPSE)
    with qtbot.waitSignal(view.measured) as sig:
        _drag_img(view, (140.0, 120.0), (260.0, 180.0))  # inside the block
    text = sig.args[0]
    mean = float(text.split("mean ")[1].split(",")[0])
    assert abs(mean - 2000.0) < 3 * 50.0 / math.sqrt(5000) + 0.1  # an unbiased sample of the block
    assert f"area {math.pi * 60 * 0.5 * 30 * 0.5:.1f} mm²" in text


def test_click_click_distance_and_dragging_a_point_edits_it(view, qtbot):
    view.set_film(prepare(_film(np.zeros((300, 400)))))
    view.set_tool(Kind.DISTANCE)
    _click(view, 50, 50)
    with qtbot.waitSignal(view.measured) as sig:
        _click(view, 150, 50)
    assert sig.args[0] == "50.0 mm (PixelSpacing)"
    with qtbot.waitSignal(view.tools.changed), qtbot.waitSignal(view.measured) as sig:
        _drag_img(view, (150, 50), (250, 50))  # grab the end point: move it, no new measurement
    assert sig.args[0] == "100.0 mm (PixelSpacing)" and len(view.measurements) == 1
    view.set_tool(Kind.ANGLE)
    for x, y in ((100, 200), (200, 200)):
        _click(view, x, y)
    assert view.tools.drawing
    view.tools.cancel()  # Esc
    assert not view.tools.drawing and len(view.measurements) == 1


def test_calibration_from_a_known_object_labels_measurements(qtbot, make_window, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(measure_controller, "ask_known_length", lambda parent, measured: asked.append(measured) or 25.0)
    w = make_window(FakeScreener(), auto_screen=False)
    png = write_png(tmp_path / "ball.png", rows=200, cols=300)  # a PNG: no calibration of its own
    with qtbot.waitSignal(w.film_shown, timeout=15000):
        w.open_paths([png])
    v = w.view
    qtbot.keyClick(w, Qt.Key.Key_K)
    assert v.tool is Kind.CALIBRATION and w.tool_actions[Kind.CALIBRATION].isChecked()
    _drag_img(v, (40.0, 100.0), (90.0, 100.0))  # a 25 mm ball, 50 px across
    assert asked == ["50 px (no calibration)"]
    assert v.tools.calibration is not None and v.tools.scale().col_mm == pytest.approx(0.5)
    qtbot.keyClick(w, Qt.Key.Key_D)
    assert v.tool is Kind.DISTANCE and not w.tool_actions[Kind.CALIBRATION].isChecked()
    with qtbot.waitSignal(v.measured) as sig:
        _drag_img(v, (100.0, 20.0), (100.0, 180.0))
    assert sig.args[0] == "80.0 mm (calibrated by user)"
    w.measure.clear_calibration()
    assert v.tools.text(v.measurements[0]) == "160 px (no calibration)"


def _measure_a_few(w, qtbot) -> None:
    v = w.view
    w.measure.set_tool(Kind.DISTANCE)
    _drag_img(v, (20.0, 20.0), (120.0, 20.0))
    w.measure.set_tool(Kind.COBB)
    for x, y in ((10, 40), (110, 50), (10, 120), (110, 100)):
        _click(v, x, y)
    w.measure.set_tool(Kind.ELLIPSE)
    _drag_img(v, (30.0, 60.0), (90.0, 110.0))
    assert [m.kind for m in v.measurements] == [Kind.DISTANCE, Kind.COBB, Kind.ELLIPSE]


def test_dicom_measurements_are_saved_as_gsps_and_restored_on_reopen(qtbot, make_window, settings, tmp_path):
    (tmp_path / "films").mkdir()
    d = write_dicom(tmp_path / "films" / "knee.dcm")
    w = make_window(FakeScreener(), auto_screen=False)
    with qtbot.waitSignal(w.film_shown, timeout=15000):
        w.open_paths([d])
    _measure_a_few(w, qtbot)
    kept = list(w.view.measurements)
    sop = w.view.film.ids.sop_instance_uid
    gsps = tmp_path / "appdata" / "presentation-states" / f"{sop}.dcm"
    assert gsps.is_file() and sorted(p.name for p in (tmp_path / "films").iterdir()) == ["knee.dcm"]  # the film's folder untouched
    ds = pydicom.dcmread(str(gsps))
    assert ds.Modality == "PR" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1"
    assert ds.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID == sop
    groups = {int(g.GraphicGroupID): g.GraphicGroupLabel for g in ds.GraphicGroupSequence}
    shapes = sorted((groups[int(o.GraphicGroupID)], o.GraphicType, int(o.NumberOfGraphicPoints))
                    for o in ds.GraphicAnnotationSequence[0].GraphicObjectSequence)
    assert shapes == [("COBB", "POLYLINE", 2), ("COBB", "POLYLINE", 2), ("DISTANCE", "POLYLINE", 2), ("ELLIPSE", "ELLIPSE", 4)]
    texts = {groups[int(t.GraphicGroupID)]: t.UnformattedTextValue for t in ds.GraphicAnnotationSequence[0].TextObjectSequence}
    assert texts["DISTANCE"] == "20.0 mm (PixelSpacing)"  # 100 px at 0.2 mm
    # and a GSPS exported where the user chooses
    out = w.measure.export_gsps(tmp_path / "out" / "knee_GSPS.dcm")
    assert out is not None and pydicom.dcmread(str(out)).ContentLabel == "OSTEO_MEASURE"
    w.close()

    w2 = make_window(FakeScreener(), auto_screen=False, settings=settings)
    with qtbot.waitSignal(w2.film_shown, timeout=15000):
        w2.open_paths([d])
    back = w2.view.measurements  # GSPS graphic data are 32-bit floats
    assert [m.kind for m in back] == [m.kind for m in kept]
    assert np.allclose([p for m in back for p in m.points], [p for m in kept for p in m.points], atol=1e-3)
    # deleting the selected one (Delete) and everything (Shift+Delete) is kept too
    w2.view.tools.selected = 0
    qtbot.keyClick(w2, Qt.Key.Key_Delete)
    assert [m.kind for m in w2.view.measurements] == [Kind.COBB, Kind.ELLIPSE]
    qtbot.keyClick(w2, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyRelease(w2, Qt.Key.Key_Shift)  # the application would otherwise think Shift is still held (later tests)
    assert w2.view.measurements == [] and not gsps.exists()


def test_png_measurements_go_to_a_sidecar_beside_the_film_and_come_back(qtbot, make_window, tmp_path):
    png = write_png(tmp_path / "knee.png")
    w = make_window(FakeScreener(), auto_screen=False)
    assert w.beside_action.isChecked()
    with qtbot.waitSignal(w.film_shown, timeout=15000):
        w.open_paths([png])
    _measure_a_few(w, qtbot)
    sidecar = tmp_path / "knee.png.osteo-measurements.json"
    assert [m["kind"] for m in json.loads(sidecar.read_text())["measurements"]] == ["distance", "cobb", "ellipse"]
    other = write_png(tmp_path / "other.png", seed=3)
    with qtbot.waitSignal(w.film_shown, timeout=15000):
        w.open_paths([other])
    assert w.view.measurements == []  # another film: its own (none)
    with qtbot.waitSignal(w.film_shown, timeout=15000):
        w.show_path(str(png))
    assert [m.kind for m in w.view.measurements] == [Kind.DISTANCE, Kind.COBB, Kind.ELLIPSE]


def test_sidecar_setting_off_never_writes_beside_the_film(qtbot, make_window, tmp_path):
    films = tmp_path / "films"
    films.mkdir()
    png = write_png(films / "knee.png")
    w = make_window(FakeScreener(), auto_screen=False)
    w.beside_action.trigger()
    assert not w.measure.store.beside_film and w.settings.value("measurements/beside_film", type=bool) is False
    with qtbot.waitSignal(w.film_shown, timeout=15000):
        w.open_paths([png])
    _measure_a_few(w, qtbot)
    assert [p.name for p in films.iterdir()] == ["knee.png"]
    assert len(list((tmp_path / "appdata" / "sidecars").iterdir())) == 1


def test_full_resolution_export_png_and_jpeg_by_name(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.screening_done, timeout=15000):
        w.open_paths([write_png(tmp_path / "a.png", rows=160, cols=200)])
    v = w.view
    w.measure.set_tool(Kind.DISTANCE)
    _drag_img(v, (20.0, 20.0), (180.0, 20.0))
    v.zoom_by(3.0)  # what the screen shows does not matter: the film's own pixels are written
    assert w.reading.export_image(tmp_path / "full.png", measurements=False)
    img = QImage(str(tmp_path / "full.png"))
    assert (img.width(), img.height()) == (200, 160)
    plain = image_export.render_full(v, attention=False, measurements=False)
    marked = image_export.render_full(v, attention=False, measurements=True)
    assert plain.size() == marked.size() and plain != marked  # the measurement is burned in
    v.rotate(1)
    assert w.reading.export_image(tmp_path / "turned.JPG", attention=True)
    jpg = QImage(str(tmp_path / "turned.JPG"))
    assert (jpg.width(), jpg.height()) == (160, 200) and (tmp_path / "turned.JPG").read_bytes()[:3] == b"\xff\xd8\xff"
    assert not w.reading.export_image(tmp_path / "what.bmp")
    assert ".png or .jpg" in w.messages.messages()[0].text


def test_image_export_dialog_follows_the_name(qtbot, tmp_path):
    d = image_export.ImageExportDialog(None, path=str(tmp_path / "x.png"), attention_available=False, has_measurements=True)
    qtbot.addWidget(d)
    assert d.options() == image_export.ImageOptions(tmp_path / "x.png", False, True)
    d.path_edit.setText(str(tmp_path / "x.jpeg"))
    assert image_export.image_format(d.options().path) == "JPEG" and d.export_button.isEnabled()
    d.path_edit.setText(str(tmp_path / "x.tif"))
    assert d.options() is None and not d.export_button.isEnabled() and ".png or .jpg" in d.note.text()
    assert not d.cam_check.isEnabled()


def test_a_label_stays_beside_its_shape_and_goes_when_the_shape_leaves_the_screen():
    from PySide6.QtCore import QRectF

    from osteo_desktop.gui.tools.paint import label_origin

    def at(shape: QRectF) -> tuple[QPointF, QPointF]:  # an ROI's anchors: its top right, its top left
        return shape.topRight(), shape.topLeft()

    W, H, tw, lh, asc = 400, 300, 120.0, 14.0, 11.0
    roi = QRectF(50, 100, 60, 40)
    assert label_origin(at(roi), roi, tw, lh, asc, 3, W, H) == QPointF(120, 94)  # right of it
    roi = QRectF(250, 100, 60, 40)
    assert label_origin(at(roi), roi, tw, lh, asc, 3, W, H) == QPointF(120, 94)  # no room right: left of it
    roi = QRectF(100, 100, 200, 40)
    o = label_origin(at(roi), roi, tw, lh, asc, 3, W, H)  # no room either side: under it, not over it
    assert o == QPointF(100, 155) and o.y() - asc > roi.bottom()
    low = QRectF(100, 240, 200, 40)
    o = label_origin(at(low), low, tw, lh, asc, 3, W, H)  # no room under it: over it
    assert o is not None and o.y() + 2 * lh < low.top()
    off = QRectF(-300, 100, 60, 40)  # panned out of sight: no label left floating at the edge
    assert label_origin(at(off), off, tw, lh, asc, 3, W, H) is None
    line = QRectF(-50, 99, 100, 2)  # a line half on screen keeps its label, on screen
    o = label_origin((QPointF(50, 100), QPointF(50, 100)), line, tw, lh, asc, 1, W, H)
    assert o is not None and o.x() >= 4
    # a place another label already holds is skipped: the next one that is free
    roi = QRectF(50, 100, 60, 40)
    held = QRectF(120, 83, 120, 42)  # the label right of this ROI
    assert label_origin(at(roi), roi, tw, lh, asc, 3, W, H, [held]) == QPointF(50, 155)  # under it
    full = [QRectF(0, 0, W, H)]  # nowhere free: still beside its shape, on screen
    assert label_origin(at(roi), roi, tw, lh, asc, 3, W, H, full) == QPointF(120, 94)
