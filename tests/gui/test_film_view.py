"""FilmView: window/level by right-drag, zoom at the cursor, pan, rotate/flip with the attention
layer following, cursor readout, distance tool with its calibration source."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from osteo_desktop.core.film import Spacing, SpacingSource, Window
from osteo_desktop.core.measure import Scale
from osteo_desktop.gui.film_view import FilmView
from osteo_desktop.gui.imaging import prepare, qimage_to_rgb

from .conftest import drag, make_film, send_mouse


@pytest.fixture
def view(qtbot):
    v = FilmView()
    qtbot.addWidget(v)
    v.resize(600, 500)
    v.show()
    qtbot.waitExposed(v)
    return v


def _load(view, **kw):
    lf = prepare(make_film(**kw))
    view.set_film(lf)
    return lf


def test_placeholder_without_film(view):
    img = qimage_to_rgb(view.grab().toImage())
    assert view.film is None
    assert img.max() > 100  # the hint text is drawn


def test_right_drag_changes_window_level_live(view, qtbot):
    _load(view, windows=(Window(2000, 3000, "file"),))
    before = view.display_window
    assert before is not None and before.name == "file"
    seen = []
    view.window_changed.connect(lambda: seen.append(view.display_window))
    img_before = qimage_to_rgb(view.grab().toImage())
    drag(view, QPointF(300, 250), QPointF(400, 200), Qt.MouseButton.RightButton)
    after = view.display_window
    assert after.name == "manual"
    assert after.width > before.width  # dragged right: wider
    assert after.center < before.center  # dragged up: lower level
    assert len(seen) >= 3  # updated while dragging, not only at the end
    assert "W " in view.window_text() and f"{after.width:.0f}" in view.window_text()
    assert not np.array_equal(img_before, qimage_to_rgb(view.grab().toImage()))


def test_presets_invert_and_reset(view):
    lf = _load(view, windows=(Window(2000, 3000, "file"),))
    names = view.preset_names()
    assert names[0].startswith("file") and any(n.startswith("auto") for n in names)
    assert view.apply_preset(len(names) - 1) and view.display_window.name == "full range"
    assert not view.apply_preset(8)
    u8 = view._u8.copy()
    view.toggle_invert()
    assert view.inverted
    np.testing.assert_array_equal(view._u8, 255 - u8)
    view.rotate(1)
    view.flip(True)
    view.reset()
    assert (view.rotation, view.flips, view.inverted, view.display_window) == (0, (False, False), False, lf.choice.window)


def test_wheel_zoom_keeps_point_under_cursor(view):
    _load(view, rows=160, cols=200)
    z0 = view.zoom
    anchor = QPointF(150, 120)
    fixed = view.widget_to_image(anchor)
    ev = QWheelEvent(anchor, QPointF(view.mapToGlobal(QPoint(150, 120))), QPoint(0, 0), QPoint(0, 240),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, ev)
    assert view.zoom == pytest.approx(z0 * 1.15**2)
    back = view.image_to_widget().map(fixed)
    assert back.x() == pytest.approx(anchor.x(), abs=1e-6) and back.y() == pytest.approx(anchor.y(), abs=1e-6)
    view.actual_size()
    assert view.zoom_percent() == pytest.approx(100.0)
    view.fit()
    assert view.zoom == pytest.approx(min(600 / 200, 500 / 160))


def test_left_drag_pans(view):
    _load(view)
    cx, cy = view.center
    drag(view, QPointF(300, 250), QPointF(340, 230), Qt.MouseButton.LeftButton)
    z = view.zoom
    assert view.center[0] == pytest.approx(cx - 40 / z) and view.center[1] == pytest.approx(cy + 20 / z)
    drag(view, QPointF(300, 250), QPointF(260, 250), Qt.MouseButton.MiddleButton)
    assert view.center[0] == pytest.approx(cx, abs=1e-6)


def test_hidpi_one_to_one_means_device_pixels(view, monkeypatch):
    _load(view, rows=1500, cols=2000)
    monkeypatch.setattr(view, "dpr", lambda: 2.0)
    view.actual_size()
    assert view.zoom == pytest.approx(0.5)  # half a logical pixel = one device pixel
    assert view.zoom_percent() == pytest.approx(100.0)
    view.fit()
    img = view._scaled.get(view._image, view._u8, view.zoom * 2.0)
    # minified films are pre-scaled to the device-pixel size they are drawn at (no aliasing)
    assert view.zoom * 2.0 < 1.0
    assert img.width() == pytest.approx(2000 * view.zoom * 2.0, abs=1)


def _hot_mask(view) -> np.ndarray:
    """Strongly coloured (attention) pixels in the view's grab, the colour bar at the right excluded."""
    rgb = qimage_to_rgb(view.grab().toImage()).astype(int)
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    chroma[:, chroma.shape[1] - 30 :] = 0
    return chroma > 60


def _assert_spot_where_transform_says(view, spot: tuple[float, float, float, float]) -> None:
    """The coloured pixels cover the film rectangle `spot` (x0, y0, x1, y1) mapped through the view transform."""
    x0, y0, x1, y1 = spot
    r = view.image_to_widget().mapRect(QRectF(x0, y0, x1 - x0, y1 - y0))
    w, h = view.width(), view.height()
    r = r.intersected(QRectF(0, 0, w - 30, h))
    mask = _hot_mask(view)
    ys, xs = np.nonzero(mask)
    assert xs.size > 50, "no attention colours drawn"
    inside = (xs >= r.left() - 2) & (xs <= r.right() + 2) & (ys >= r.top() - 2) & (ys <= r.bottom() + 2)
    assert inside.mean() > 0.97, f"attention drawn outside {r}"
    covered = mask[int(r.top()) + 2 : int(r.bottom()) - 2, int(r.left()) + 2 : int(r.right()) - 2]
    assert covered.mean() > 0.9, f"attention missing inside {r}"


def test_attention_layer_follows_zoom_pan_rotation_and_flip(view):
    lf = _load(view, rows=200, cols=200)
    view.resize(500, 500)
    cam = np.zeros(lf.film.shape, np.float32)
    cam[:50, :50] = 1.0  # top-left corner of the film
    view.set_cam(cam, "ok")
    view.set_cam_opacity(1.0)
    view.overlays_visible = False
    spot = (0, 0, 50, 50)
    _assert_spot_where_transform_says(view, spot)
    ys, xs = np.nonzero(_hot_mask(view))
    assert xs.mean() < 250 and ys.mean() < 250  # top-left on screen
    view.rotate(1)  # clockwise: top-left goes to top-right
    ys, xs = np.nonzero(_hot_mask(view))
    assert xs.mean() > 250 and ys.mean() < 250
    _assert_spot_where_transform_says(view, spot)
    view.flip(False)  # vertical flip on screen: now bottom-right
    ys, xs = np.nonzero(_hot_mask(view))
    assert xs.mean() > 250 and ys.mean() > 250
    _assert_spot_where_transform_says(view, spot)
    view.flip(True)
    view.zoom_by(1.6, QPointF(200, 300))
    view.pan(-35, 20)
    _assert_spot_where_transform_says(view, spot)


def test_attention_toggle_and_empty_signal(view):
    lf = _load(view, rows=200, cols=200)
    cam = np.zeros(lf.film.shape, np.float32)
    cam[:80, :80] = 1.0
    view.set_cam(cam, "ok")
    assert view.cam_drawn()
    view.set_cam_visible(False)
    assert not view.cam_drawn()
    rgb = qimage_to_rgb(view.grab().toImage()).astype(int)
    assert (rgb.max(axis=2) - rgb.min(axis=2)).max() < 30  # grey film only
    view.set_cam_visible(True)
    view.set_cam(None, "empty")
    assert view.cam_status == "empty" and not view.cam_drawn()
    # a map of the wrong shape is refused, never drawn misaligned
    view.set_cam(np.ones((10, 10), np.float32), "ok")
    assert not view.cam_drawn()


def test_cursor_readout_reports_modality_value(view, qtbot):
    lf = _load(view)
    p = view.image_to_widget().map(QPointF(50.5, 30.5))  # centre of pixel row 30, col 50
    with qtbot.waitSignal(view.cursor_moved) as sig:
        send_mouse(view, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    r, c, v = sig.args[0]
    assert (r, c) == (30, 50) and v == float(lf.film.pixels[30, 50])
    assert view.cursor_text().startswith("row 30, col 50:")


@pytest.mark.parametrize(
    "spacing, expect",
    [
        (Spacing(0.5, 0.5, SpacingSource.PIXEL_SPACING), "50.0 mm (PixelSpacing)"),
        (Spacing(0.5, 0.5, SpacingSource.IMAGER_PIXEL_SPACING), "50.0 mm at detector (ImagerPixelSpacing)"),
        (Spacing(), "100 px (no calibration)"),
    ],
)
def test_distance_tool_says_where_calibration_comes_from(view, qtbot, spacing, expect):
    _load(view, spacing=spacing)
    view.set_measure_mode(True)
    t = view.image_to_widget()
    a, b = t.map(QPointF(20, 40)), t.map(QPointF(120, 40))  # 100 columns apart
    with qtbot.waitSignal(view.measured) as sig:
        drag(view, a, b, Qt.MouseButton.LeftButton)
    assert sig.args[0] == expect
    assert len(view.measurements) == 1
    view.rotate(1)  # measurements live in image coordinates: unchanged by rotation
    assert Scale().length(*view.measurements[0].points) == pytest.approx(100, abs=0.01)
    view.clear_measurements()
    assert view.measurements == []
