"""The film view: a QWidget that paints the film (and the attention layer) through one transform.

One `QTransform` maps image coordinates (x = column, y = row; pixel (r, c) covers [c, c+1] x [r, r+1])
to widget coordinates: translate the pan centre to the origin, rotate by quarter turns, flip and zoom
in screen space, then move to the widget centre. The film, the Grad-CAM layer and the measurements
are all drawn through that transform, so the attention map follows zoom, pan, rotation and flips
exactly. Corner text, the colour bar and the cursor readout are drawn afterwards in widget space.

(About 550 lines: one widget's film, window, geometry, mouse and painting state. What it draws over
the film lives in its own modules: the attention layer, the overlays, the measurement tools, the
loupe.)

HiDPI: `zoom` is in image pixels per *logical* pixel; the device scale is zoom * devicePixelRatio.
"1:1" means one image pixel per device (physical) pixel, and the zoom percentage shown is the device
scale. When minifying, the film is pre-scaled (area filter) to the device-pixel size it is drawn at,
so a big film stays sharp and un-aliased at "fit" on any display.

Why a little over 500 lines: one widget whose painting and mouse interaction share one transform
and its state (zoom, pan, rotation, flips, window, measurements); what is drawn over the film in
widget space is already in `view_overlays`.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QTransform, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..core.display import full_range_window
from ..core.film import Film, Window
from ..core.measure import Kind, Measurement
from ..core.orientation import Orientation, edge_labels, film_orientation
from .attention_layer import AttentionLayer
from .imaging import LoadedFilm, ScaledCache, gray_qimage, qimage_to_rgb
from .loupe import paint_loupe
from .tools.measure_tool import MeasureTool
from .tools.paint import paint_measurements
from .view_overlays import fmt_value, orientation_boxes, overlay_font, paint_colorbar, paint_view_text

log = logging.getLogger(__name__)

ZOOM_MIN, ZOOM_MAX = 0.02, 32.0
WHEEL_STEP = 1.15


class FilmView(QWidget):
    """Shows one film. Mouse: right-drag W/L, wheel zoom at the cursor, left/middle-drag pan; with a
    measuring tool on (`set_tool`), the left button measures (`tools.measure_tool`). Keyboard
    handling lives in the main window's actions."""

    view_changed = Signal()  # zoom, pan, rotation, flips
    window_changed = Signal()  # window/level or inversion
    cursor_moved = Signal(object)  # (row, col, value) or None when the cursor leaves the film
    measured = Signal(str)  # text of a finished measurement
    mode_changed = Signal(str)  # "view" or "measure"
    wheel_step = Signal(int)  # with `wheel_steps_films`: +1 next film (wheel down), -1 previous
    tool_changed = Signal(object)  # the measuring tool (core.measure.Kind) or None
    film_replaced = Signal()  # another frame of the same film is shown
    film_changed = Signal()  # set_film: another film (or none)
    resized = Signal()
    double_clicked = Signal()  # a left double-click while no measuring tool is on

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 200)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.wheel_steps_films = False  # the wheel steps through films, Ctrl+wheel zooms (an option)
        self._wheel_rest = 0
        self._lf: LoadedFilm | None = None
        self._presets: list[Window | None] = []
        self._window: Window | None = None  # None: the file's VOI LUT
        self._invert = False
        self._u8: np.ndarray | None = None
        self._image = QImage()
        self._scaled = ScaledCache()
        self.cam = AttentionLayer()
        self.overlays_visible = True
        self._zoom = 1.0
        self._cx = self._cy = 0.0
        self._rot = 0  # quarter turns clockwise
        self._flip_h = self._flip_v = False
        self._fit = True
        self.tools = MeasureTool(self)
        self.tools.finished.connect(self.measured)
        self.tools.changed.connect(self.update)
        self._drag: tuple[str, QPointF, object] | None = None
        self._cursor: tuple[int, int, float] | None = None
        self._mouse: QPointF | None = None  # last cursor position over the view (the loupe follows it)
        self._orientation: Orientation | None = None
        self.loupe_on = False
        self.frame_text = ""  # "frame 3 / 24" for a multi-frame film (set by the frame player)
        self._wl_range = 1.0
        self._full = Window(0.5, 1.0, "full range")
        self.placeholder = "Open a film: File > Open (Ctrl+O), or drop files or a folder here"

    # -- film ----------------------------------------------------------------------------------
    @property
    def loaded(self) -> LoadedFilm | None:
        return self._lf

    @property
    def film(self) -> Film | None:
        return self._lf.film if self._lf else None

    def set_film(self, lf: LoadedFilm | None) -> None:
        self._lf = lf
        self.cam.set(None, "off", None)
        self.tools.set_film(lf.film if lf else None)
        self._orientation = film_orientation(lf.film) if lf else None
        self.frame_text = ""
        self._cursor = None
        if lf is None:
            self._presets, self._window, self._u8, self._image = [], None, None, QImage()
            self._scaled.clear()
            self.update()
            self.film_changed.emit()
            return
        self._presets = ([None] if lf.choice.voi_lut is not None else []) + list(lf.presets)
        full = lf.presets[-1] if lf.presets else full_range_window(lf.film.pixels)  # presets end with full range
        self._wl_range = full.width
        self._full = full
        self._rot, self._flip_h, self._flip_v, self._invert = 0, False, False, False
        self._window = lf.choice.window
        self._rerender()
        self.fit()
        self.film_changed.emit()

    def replace_pixels(self, lf: LoadedFilm) -> None:
        """Show another frame of the film on display: window, zoom, orientation and measurements stay."""
        if self._lf is None or lf.film.shape != self._lf.film.shape:
            self.set_film(lf)
            return
        self._lf = lf
        self.tools.set_film(lf.film, keep=True)
        self._cursor = None
        self._rerender()
        self.film_replaced.emit()

    def preset_names(self) -> list[str]:
        out = []
        for w in self._presets:
            if w is None:
                lut = self._lf.film.voi_lut if self._lf else None
                out.append(f"file VOI LUT {lut.name if lut else ''}".strip())
            else:
                out.append(f"{w.name or 'window'}: W {w.width:.0f} / L {w.center:.0f}")
        return out

    # -- window / level --------------------------------------------------------------------------
    @property
    def display_window(self) -> Window | None:
        """The window/level on display (named so as not to hide QWidget.window())."""
        return self._window

    @property
    def inverted(self) -> bool:
        return self._invert

    def window_text(self) -> str:
        if self._lf is None:
            return ""
        if self._window is None:
            lut = self._lf.film.voi_lut
            text = f"VOI LUT {lut.name}".strip() if lut else "VOI LUT"
        else:
            name = f" ({self._window.name})" if self._window.name else ""
            text = f"W {self._window.width:.0f} / L {self._window.center:.0f}{name}"
        return text + ("  inverted" if self._invert else "")

    def set_window(self, window: Window | None, invert: bool | None = None) -> None:
        if self._lf is None:
            return
        self._window = window
        if invert is not None:
            self._invert = invert
        self._rerender()

    def apply_preset(self, index: int) -> bool:
        """Preset `index` (0-based) if this film has it."""
        if self._lf is None or not 0 <= index < len(self._presets):
            return False
        self.set_window(self._presets[index])
        return True

    def toggle_invert(self) -> None:
        if self._lf is None:
            return
        self._invert = not self._invert
        self._rerender()

    def _current_or_default_window(self) -> Window:
        if self._window is not None:
            return self._window
        fitting = [w for w in self._presets if w is not None]
        return fitting[0] if fitting else Window(0.5, 1.0, "auto")

    def _rerender(self) -> None:
        assert self._lf is not None
        self._u8 = self._lf.renderer.render_u8(self._window, self._invert)
        self._image = gray_qimage(self._u8)
        self._scaled.clear()
        self.window_changed.emit()
        self.update()

    # -- attention layer (gui/attention_layer.py) ----------------------------------------------------
    @property
    def cam_status(self) -> str:
        return self.cam.status

    @property
    def cam_opacity(self) -> float:
        return self.cam.opacity

    @property
    def cam_visible(self) -> bool:
        return self.cam.visible

    def set_cam(self, cam: np.ndarray | None, status: str) -> None:
        """Attention map on the film's pixel grid (or None) and the core's cam_status."""
        self.cam.set(cam, status, self._lf.film.shape if self._lf is not None else None)
        self.update()

    def set_cam_visible(self, visible: bool) -> None:
        self.cam.visible = bool(visible)
        self.update()

    def set_cam_opacity(self, opacity: float) -> None:
        self.cam.opacity = float(min(1.0, max(0.0, opacity)))
        self.update()

    def cam_drawn(self) -> bool:
        return self.cam.drawn

    # -- geometry -----------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    @property
    def rotation(self) -> int:
        return 90 * self._rot

    @property
    def flips(self) -> tuple[bool, bool]:
        return self._flip_h, self._flip_v

    @property
    def center(self) -> tuple[float, float]:
        """Image point (x = col, y = row) shown at the widget centre."""
        return self._cx, self._cy

    def dpr(self) -> float:
        return float(self.devicePixelRatioF()) or 1.0

    def zoom_percent(self) -> float:
        """Image pixels per device pixel, in percent."""
        return self._zoom * self.dpr() * 100.0

    def image_to_widget(self) -> QTransform:
        t = QTransform.fromTranslate(-self._cx, -self._cy)
        t *= QTransform().rotate(90.0 * self._rot)
        t *= QTransform.fromScale(-self._zoom if self._flip_h else self._zoom, -self._zoom if self._flip_v else self._zoom)
        t *= QTransform.fromTranslate(self.width() / 2.0, self.height() / 2.0)
        return t

    def widget_to_image(self, pos: QPointF) -> QPointF:
        inv, ok = self.image_to_widget().inverted()
        return inv.map(QPointF(pos)) if ok else QPointF()

    def _rotated_size(self) -> tuple[int, int]:
        rows, cols = self._lf.film.shape if self._lf else (1, 1)
        return (rows, cols) if self._rot % 2 else (cols, rows)  # (width, height) on screen

    @property
    def full_range(self) -> Window:
        """The window spanning the film's values (what synchronised windows are relative to)."""
        return self._full

    def set_geometry(self, zoom: float, cx: float, cy: float, fit: bool = False) -> None:
        """Zoom (image pixels per logical pixel) and the image point at the centre (synchronised viewports)."""
        if self._lf is None:
            return
        self._zoom = max(ZOOM_MIN, min(ZOOM_MAX, zoom))
        self._cx, self._cy, self._fit = cx, cy, fit
        self._view_changed()

    def fit_zoom(self) -> float:
        w, h = self._rotated_size()
        return max(ZOOM_MIN, min(ZOOM_MAX, min(self.width() / w, self.height() / h)))

    def fit(self) -> None:
        if self._lf is None:
            return
        self._zoom = self.fit_zoom()
        rows, cols = self._lf.film.shape
        self._cx, self._cy = cols / 2.0, rows / 2.0
        self._fit = True
        self._view_changed()

    def actual_size(self) -> None:
        """1:1 — one image pixel per device pixel, keeping the centre."""
        if self._lf is None:
            return
        self._set_zoom(1.0 / self.dpr())

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        if self._lf is None:
            return
        self._set_zoom(self._zoom * factor, anchor)

    def _set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        zoom = max(ZOOM_MIN, min(ZOOM_MAX, zoom))
        if anchor is not None:
            fixed = self.widget_to_image(anchor)
            self._zoom = zoom
            moved = self.image_to_widget().map(fixed)
            self._pan_widget(moved.x() - anchor.x(), moved.y() - anchor.y())
        else:
            self._zoom = zoom
        self._fit = False
        self._view_changed()

    def pan(self, dx: float, dy: float) -> None:
        """Move the picture by (dx, dy) logical pixels on screen."""
        self._pan_widget(-dx, -dy)
        self._fit = False
        self._view_changed()

    def _pan_widget(self, dx: float, dy: float) -> None:
        """Move the view centre by a widget-space offset (the picture moves the other way)."""
        t = self.image_to_widget()
        lin = QTransform(t.m11(), t.m12(), t.m21(), t.m22(), 0.0, 0.0)
        inv, ok = lin.inverted()
        if ok:
            d = inv.map(QPointF(dx, dy))
            self._cx += d.x()
            self._cy += d.y()

    def rotate(self, quarter_turns: int) -> None:
        if self._lf is None:
            return
        self._rot = (self._rot + quarter_turns) % 4
        self._after_orientation_change()

    def flip(self, horizontal: bool) -> None:
        if self._lf is None:
            return
        if horizontal:
            self._flip_h = not self._flip_h
        else:
            self._flip_v = not self._flip_v
        self._after_orientation_change()

    def _after_orientation_change(self) -> None:
        if self._fit:
            self.fit()
        else:
            self._view_changed()

    def reset(self) -> None:
        """Esc / 0: orientation, inversion, window and zoom back to how the film opened."""
        if self._lf is None:
            return
        self._rot, self._flip_h, self._flip_v, self._invert = 0, False, False, False
        self._window = self._lf.choice.window
        self.tools.cancel()
        self._drag = None
        self._rerender()
        self.fit()

    def _view_changed(self) -> None:
        self.view_changed.emit()
        self.update()

    def resizeEvent(self, event) -> None:
        if self._fit:
            self.fit()
        super().resizeEvent(event)
        self.resized.emit()

    def sizeHint(self) -> QSize:
        return QSize(800, 700)

    # -- measurements --------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """"measure" while a measuring tool is on, else "view"."""
        return "view" if self.tools.kind is None else "measure"

    @property
    def tool(self) -> Kind | None:
        return self.tools.kind

    def set_tool(self, kind: Kind | None) -> None:
        """Turn a measuring tool on (None: off, the left button pans again)."""
        was = self.mode
        self.tools.set_kind(kind)
        self.setCursor(Qt.CursorShape.CrossCursor if kind is not None else Qt.CursorShape.ArrowCursor)
        self.tool_changed.emit(kind)
        if self.mode != was:
            self.mode_changed.emit(self.mode)
        self.update()

    def set_measure_mode(self, on: bool) -> None:
        """The distance tool on or off."""
        self.set_tool(Kind.DISTANCE if on else None)

    @property
    def measurements(self) -> list[Measurement]:
        return list(self.tools.items)

    def clear_measurements(self) -> None:
        self.tools.clear()
        self.update()

    # -- mouse ------------------------------------------------------------------------------------------
    def mousePressEvent(self, e: QMouseEvent) -> None:
        if self._lf is None:
            return super().mousePressEvent(e)
        pos = e.position()
        b = e.button()
        if b == Qt.MouseButton.RightButton:
            self._drag = ("wl", pos, self._current_or_default_window())
        elif b == Qt.MouseButton.MiddleButton or (b == Qt.MouseButton.LeftButton and self.mode == "view"):
            self._drag = ("pan", pos, None)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif b == Qt.MouseButton.LeftButton and self.tools.press(self.widget_to_image(pos), pos, self.image_to_widget()):
            self._drag = ("measure", pos, None)
            self.update()
        e.accept()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        pos = e.position()
        if self._drag is not None and self._lf is not None:
            kind, start, data = self._drag
            if kind == "wl":
                assert isinstance(data, Window)
                k = max(self._wl_range, 1.0) / 512.0  # modality units per logical pixel
                dx, dy = pos.x() - start.x(), pos.y() - start.y()
                width = max(1.0, data.width + dx * k)
                self._window = Window(data.center + dy * k, width, "manual", data.function)
                self._rerender()
            elif kind == "pan":
                self.pan(pos.x() - start.x(), pos.y() - start.y())
                self._drag = ("pan", pos, None)
            elif kind == "measure" and self.tools.move(self.widget_to_image(pos)):
                self.update()
        elif self.tools.drawing and self.tools.move(self.widget_to_image(pos)):  # click-click: the rubber band follows
            self.update()
        self._update_cursor(pos)
        e.accept()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if self._drag is not None:
            kind = self._drag[0]
            if kind == "measure":
                self.tools.release(self.widget_to_image(e.position()), e.position())
                self.update()
            if kind == "pan":
                self.setCursor(Qt.CursorShape.CrossCursor if self.mode == "measure" else Qt.CursorShape.ArrowCursor)
        self._drag = None
        e.accept()

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        if self.mode == "view" and e.button() == Qt.MouseButton.LeftButton:
            self.double_clicked.emit()
            e.accept()
            return
        super().mouseDoubleClickEvent(e)  # a quick second click of a measurement: a press

    def wheelEvent(self, e: QWheelEvent) -> None:
        """Zoom at the cursor; with `wheel_steps_films` on (Weasis' habit), the wheel steps through
        the films and Ctrl+wheel zooms."""
        steps = e.angleDelta().y() / 120.0
        zoom = not self.wheel_steps_films or bool(e.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if zoom:
            if steps and self._lf is not None:
                self.zoom_by(WHEEL_STEP**steps, e.position())
        else:
            self._wheel_rest += e.angleDelta().y()  # touchpads send small deltas: step once per notch
            while abs(self._wheel_rest) >= 120:
                down = self._wheel_rest < 0
                self._wheel_rest += 120 if down else -120
                self.wheel_step.emit(1 if down else -1)
        e.accept()

    def leaveEvent(self, e) -> None:
        self._mouse = None
        if self._cursor is not None or self.loupe_on:
            self._cursor = None
            self.cursor_moved.emit(None)
            self.update()
        super().leaveEvent(e)

    def set_loupe(self, on: bool) -> None:
        self.loupe_on = bool(on)
        self.update()

    def _update_cursor(self, pos: QPointF) -> None:
        if self._lf is None:
            return
        self._mouse = QPointF(pos)
        if self.loupe_on:
            self.update()
        p = self.widget_to_image(pos)
        rows, cols = self._lf.film.shape
        r, c = math.floor(p.y()), math.floor(p.x())
        cur = (r, c, float(self._lf.film.pixels[r, c])) if 0 <= r < rows and 0 <= c < cols else None
        if cur != self._cursor:
            self._cursor = cur
            self.cursor_moved.emit(cur)
            if self.overlays_visible:
                self.update()

    def cursor_text(self) -> str:
        if self._cursor is None:
            return ""
        r, c, v = self._cursor
        return f"row {r}, col {c}: {fmt_value(v)}"

    # -- painting -----------------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(0, 0, 0))
        if self._lf is None or self._image.isNull():
            p.setPen(QColor(150, 150, 155))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        rows, cols = self._lf.film.shape
        scale = self._zoom * self.dpr()
        target = QRectF(0, 0, cols, rows)
        p.setTransform(self.image_to_widget())
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 3.0)
        img = self._scaled.get(self._image, self._u8, scale)
        p.drawImage(target, img, QRectF(img.rect()))
        if self.cam.drawn:
            cam = self.cam.scaled.get(self.cam.image, self.cam.rgba, scale)
            p.setOpacity(self.cam.opacity)
            p.drawImage(target, cam, QRectF(cam.rect()))
            p.setOpacity(1.0)
        p.resetTransform()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        t = self.tools
        if t.items or t.calibration is not None or t.drawing:
            p.setFont(overlay_font(self.font()))
            paint_measurements(p, self.image_to_widget(), t.items, t.lines, self.width(), self.height(), selected=t.selected,
                               live=t.live(), calibration=t.calibration_measurement(), handles=self.mode == "measure",
                               reserved=orientation_boxes(self, overlay_font(self.font())))
        if self.loupe_on and self._mouse is not None:
            paint_loupe(p, self, self._mouse, self._image, self.cam_layer(), self.cam.opacity)
        if self.overlays_visible:
            p.setFont(overlay_font(self.font()))
            paint_view_text(p, self)
        empty = self.cam.colorbar()
        if empty is not None:
            paint_colorbar(p, self.width(), self.height(), overlay_font(self.font()), empty=empty)
        p.end()

    @property
    def orientation(self) -> Orientation | None:
        return self._orientation

    def edge_labels(self) -> dict[str, str]:
        """Orientation letters on the screen's edges as displayed now ({} when unknown)."""
        if self._orientation is None:
            return {}
        return edge_labels(self._orientation, self._rot, self._flip_h, self._flip_v)

    # -- export ------------------------------------------------------------------------------------------
    def display_u8(self) -> np.ndarray | None:
        """The film as displayed now (window, inversion), full resolution, stored orientation."""
        return self._u8

    def cam_layer(self) -> QImage | None:
        """The attention layer (RGBA, the film's pixel grid) when it is drawn, else None."""
        return self.cam.image if self.cam.drawn else None

    def snapshot_rgb(self) -> np.ndarray:
        """The view as shown (device pixels), as an RGB array."""
        return qimage_to_rgb(self.grab().toImage())
