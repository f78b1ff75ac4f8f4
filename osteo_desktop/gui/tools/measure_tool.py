"""The measurement kit of one film view: which tool is on, the film's measurements and calibration,
the measurement being drawn, and editing by dragging a point.

Every tool collects the points its kind needs (`core.measure.POINTS`), by clicks or drags in any
mix: a press fixes a point, a release after a drag fixes another. A distance is one drag or two
clicks; an angle is arm end, vertex, arm end (or a drag along the first arm, then a click); a Cobb
angle is two lines (two drags or four clicks); an ellipse or rectangle ROI is one drag (or two
clicks) between opposite corners. The calibration tool draws a line along an object of known size;
the window then asks for its length (`calibration_drawn`).

With a tool on, pressing on a point of an existing measurement drags that point instead. Points are
in image coordinates, so the measurements follow zoom, pan, rotation and flips.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtGui import QTransform

from ...core.film import Film
from ...core.measure import POINTS, Calibration, Kind, Measurement, Point, film_scale, measurement_lines, value_unit

DRAG_PX = 4.0  # a press and release further apart than this (logical pixels) is a drag
HIT_PX = 7.0  # how close to a point a press grabs it


class MeasureTool(QObject):
    changed = Signal()  # the film's measurements or calibration changed (keep them)
    finished = Signal(str)  # a measurement was made or edited: its value in words
    calibration_drawn = Signal(object)  # the calibration line (a Measurement): ask for its true length

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.kind: Kind | None = None
        self.items: list[Measurement] = []
        self.calibration: Calibration | None = None
        self.selected: int | None = None
        self._film: Film | None = None
        self._fixed: list[Point] = []
        self._cursor: Point | None = None
        self._press: QPointF | None = None
        self._edit: tuple[int, int] | None = None  # (item, point) being dragged
        self._lines: dict[Measurement, list[str]] = {}

    # -- state ---------------------------------------------------------------------------------
    def set_film(self, film: Film | None, *, keep: bool = False) -> None:
        """A new film (its measurements are cleared unless `keep`: another frame of the same film)."""
        self._film = film
        self._lines.clear()
        if not keep:
            self.items, self.calibration, self.selected = [], None, None
            self.cancel()

    def set_measurements(self, items: list[Measurement], calibration: Calibration | None) -> None:
        """Measurements read back for this film (no `changed`: nothing new to keep)."""
        self.items, self.calibration, self.selected = list(items), calibration, None
        self._lines.clear()

    def set_kind(self, kind: Kind | None) -> None:
        self.cancel()
        self.kind = kind

    def set_calibration(self, calibration: Calibration | None) -> None:
        self.calibration = calibration
        self._lines.clear()
        self.changed.emit()

    def cancel(self) -> bool:
        """Drop the measurement being drawn (Esc). True when there was one."""
        had = bool(self._fixed) or self._edit is not None
        self._fixed, self._cursor, self._press, self._edit = [], None, None, None
        return had

    @property
    def drawing(self) -> bool:
        return bool(self._fixed)

    def remove_selected(self) -> bool:
        """Delete the selected measurement (else the newest). True when one was removed."""
        if not self.items:
            return False
        i = self.selected if self.selected is not None and self.selected < len(self.items) else len(self.items) - 1
        del self.items[i]
        self.selected = None
        self.changed.emit()
        return True

    def clear(self) -> None:
        if self.items or self.calibration is not None:
            self.items, self.calibration, self.selected = [], None, None
            self._lines.clear()
            self.changed.emit()
        self.cancel()

    # -- numbers -------------------------------------------------------------------------------
    def scale(self):
        assert self._film is not None
        return film_scale(self._film, self.calibration)

    def lines(self, m: Measurement) -> list[str]:
        """The measurement's label on the film shown (ROI statistics remembered until it changes)."""
        hit = self._lines.get(m)
        if hit is None and self._film is not None:
            hit = measurement_lines(m, self._film.pixels, self.scale(), value_unit(self._film))
            if len(self._lines) > 256:
                self._lines.clear()
            self._lines[m] = hit
        return hit or []

    def text(self, m: Measurement) -> str:
        return ", ".join(self.lines(m))

    def live(self) -> Measurement | None:
        """The measurement being drawn (points not placed yet sit under the cursor)."""
        if not self._fixed or self.kind is None or self._cursor is None:
            return None
        need = POINTS[self.kind]
        pts = (self._fixed + [self._cursor] * need)[:need]
        return Measurement(self.kind, tuple(pts))

    def calibration_measurement(self) -> Measurement | None:
        c = self.calibration
        return Measurement(Kind.CALIBRATION, (c.p0, c.p1)) if c is not None else None

    # -- mouse (image point p, widget point w, view transform t) -----------------------------------
    def hit(self, w: QPointF, t: QTransform) -> tuple[int, int] | None:
        best, where = HIT_PX, None
        for i, m in enumerate(self.items):
            for j, (x, y) in enumerate(m.points):
                q = t.map(QPointF(x, y))
                d = math.hypot(q.x() - w.x(), q.y() - w.y())
                if d <= best:
                    best, where = d, (i, j)
        return where

    def press(self, p: QPointF, w: QPointF, t: QTransform) -> bool:
        if self.kind is None or self._film is None:
            return False
        pt = (p.x(), p.y())
        if not self._fixed:
            grabbed = self.hit(w, t)
            if grabbed is not None:
                self._edit, self.selected, self._press = grabbed, grabbed[0], QPointF(w)
                return True
        self._fixed.append(pt)
        self._cursor, self._press = pt, QPointF(w)
        self._finish_if_complete()
        return True

    def move(self, p: QPointF) -> bool:
        pt = (p.x(), p.y())
        if self._edit is not None:
            i, j = self._edit
            self.items[i] = self.items[i].moved(j, pt)
            return True
        if self._fixed:
            self._cursor = pt
            return True
        return False

    def release(self, p: QPointF, w: QPointF) -> bool:
        dragged = self._press is not None and math.hypot(w.x() - self._press.x(), w.y() - self._press.y()) > DRAG_PX
        self._press = None
        if self._edit is not None:
            i = self._edit[0]
            self._edit = None
            if dragged:  # a click on a point only selects its measurement
                self.changed.emit()
                self.finished.emit(self.text(self.items[i]))
            return True
        if self._fixed and dragged:
            self._fixed.append((p.x(), p.y()))
            self._cursor = (p.x(), p.y())
            self._finish_if_complete()
            return True
        return bool(self._fixed)

    def _finish_if_complete(self) -> None:
        assert self.kind is not None
        need = POINTS[self.kind]
        if len(self._fixed) < need:
            return
        m = Measurement(self.kind, tuple(self._fixed[:need]))
        self.cancel()
        if m.is_degenerate():
            return
        if m.kind is Kind.CALIBRATION:
            self.calibration_drawn.emit(m)
            return
        self.items.append(m)
        self.selected = len(self.items) - 1
        self.changed.emit()
        self.finished.emit(self.text(m))
