"""Drawing measurements over the film: shapes through the view transform (so they follow zoom, pan,
rotation and flips), labels in widget space (so they stay upright and readable), handles on the
points of the selected measurement and of the one being drawn.

The numbers come from `core.measure`; nothing here computes a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QTransform

from ...core.measure import Kind, Measurement
from ..view_overlays import outlined_text

MEASURE_COLOUR = QColor(255, 220, 60)
CALIBRATION_COLOUR = QColor(90, 220, 255)
SELECTED_COLOUR = QColor(255, 150, 40)
HANDLE = 3.5  # half size of a handle square, logical pixels


def _pen(colour: QColor, width: float, dashed: bool = False) -> QPen:
    pen = QPen(colour, width)
    pen.setCosmetic(True)  # the width is in screen pixels whatever the zoom
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


def _draw_shape(p: QPainter, m: Measurement) -> None:
    """The shape in image coordinates (the painter carries the view transform)."""
    pts = [QPointF(x, y) for x, y in m.points]
    if m.kind in (Kind.DISTANCE, Kind.CALIBRATION):
        p.drawLine(pts[0], pts[1])
    elif m.kind is Kind.ANGLE:
        p.drawPolyline(pts)
    elif m.kind is Kind.COBB:
        p.drawLine(pts[0], pts[1])
        p.drawLine(pts[2], pts[3])
    else:
        rect = QRectF(pts[0], pts[1]).normalized()
        if m.kind is Kind.ELLIPSE:
            p.drawEllipse(rect)
        else:
            p.drawRect(rect)


def _anchor(m: Measurement, t: QTransform) -> tuple[QPointF, QPointF]:
    """Where the label goes, in widget space: (right of this point, else left of that one)."""
    pts = [t.map(QPointF(x, y)) for x, y in m.points]
    if m.kind is Kind.ANGLE:  # outside the angle, on its bisector
        a, v, b = pts
        ua, ub = a - v, b - v
        na, nb = math.hypot(ua.x(), ua.y()) or 1.0, math.hypot(ub.x(), ub.y()) or 1.0
        bis = QPointF(ua.x() / na + ub.x() / nb, ua.y() / na + ub.y() / nb)
        nbis = math.hypot(bis.x(), bis.y())
        q = v - bis * (16.0 / nbis) if nbis > 1e-6 else v
        return q, q
    if m.kind is Kind.COBB:
        mid = ((pts[0] + pts[1]) / 2 + (pts[2] + pts[3]) / 2) / 2
        return mid, mid
    if m.kind in (Kind.ELLIPSE, Kind.RECTANGLE):
        xs, ys = [q.x() for q in pts], [q.y() for q in pts]
        return QPointF(max(xs), min(ys)), QPointF(min(xs), min(ys))
    return pts[-1], pts[-1]


def _shape_rect(m: Measurement, t: QTransform) -> QRectF:
    """The shape's bounds in widget space, a pixel wider each way (a horizontal line has no height)."""
    if m.kind in (Kind.ELLIPSE, Kind.RECTANGLE):
        (x0, y0), (x1, y1) = m.points[0], m.points[1]
        r = t.mapRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized())
    else:
        xs, ys = zip(*((q.x(), q.y()) for q in (t.map(QPointF(x, y)) for x, y in m.points)), strict=True)
        r = QRectF(QPointF(min(xs), min(ys)), QPointF(max(xs), max(ys)))
    return r.adjusted(-1.0, -1.0, 1.0, 1.0)


def label_origin(at: tuple[QPointF, QPointF], shape: QRectF, text_width: float, line_height: float, ascent: float,
                 n_lines: int, width: int, height: int, taken: Sequence[QRectF] = ()) -> QPointF | None:
    """The baseline of a label's first line, in widget space, or None when the shape is off screen (a
    label kept on screen away from its shape would read as another measurement's).

    Right of `at[0]`, else left of `at[1]`, else under the shape, else over it: the first place that
    is on screen and clear of the labels already placed (`taken`), else the first on screen, else
    right of `at[0]` pushed inside the widget."""
    if not shape.intersects(QRectF(0.0, 0.0, float(width), float(height))):
        return None
    right, left = at
    block = line_height * n_lines
    x_under = min(max(shape.left(), 4.0), width - 4.0 - text_width)
    places = [QPointF(right.x() + 10, right.y() - 6), QPointF(left.x() - 10 - text_width, left.y() - 6),
              QPointF(x_under, shape.bottom() + 4 + ascent), QPointF(x_under, shape.top() - 4 - block + ascent)]

    def box(o: QPointF) -> QRectF:
        return QRectF(o.x(), o.y() - ascent, text_width, block)

    screen = QRectF(4.0, 2.0, width - 8.0, height - 6.0)
    on_screen = [o for o in places if screen.contains(box(o))]
    for o in on_screen:
        if not any(box(o).intersects(r) for r in taken):
            return o
    if on_screen:
        return on_screen[0]
    x = max(min(places[0].x(), width - 4.0 - text_width), 4.0)
    y = min(max(places[0].y(), ascent + 2), height - 4 - line_height * (n_lines - 1))
    return QPointF(x, y)


def _label(p: QPainter, at: tuple[QPointF, QPointF], shape: QRectF, lines: Sequence[str], colour: QColor,
           width: int, height: int, taken: list[QRectF]) -> None:
    """Draws the label and adds its box to `taken` (the next labels keep clear of it where they can)."""
    fm = p.fontMetrics()
    tw = max((fm.horizontalAdvance(s) for s in lines), default=0)
    lh = fm.height()
    o = label_origin(at, shape, tw, lh, fm.ascent(), len(lines), width, height, taken)
    if o is None:
        return
    taken.append(QRectF(o.x(), o.y() - fm.ascent(), tw, lh * len(lines)))
    for i, line in enumerate(lines):
        outlined_text(p, o.x(), o.y() + i * lh, line, colour=colour)


def _cobb_connector(p: QPainter, m: Measurement, t: QTransform) -> None:
    a = t.map(QPointF((m.points[0][0] + m.points[1][0]) / 2, (m.points[0][1] + m.points[1][1]) / 2))
    b = t.map(QPointF((m.points[2][0] + m.points[3][0]) / 2, (m.points[2][1] + m.points[3][1]) / 2))
    p.setPen(_pen(QColor(255, 220, 60, 150), 1.0, dashed=True))
    p.drawLine(a, b)


def _angle_arc(p: QPainter, m: Measurement, t: QTransform) -> None:
    a, v, b = (t.map(QPointF(x, y)) for x, y in m.points)
    r = min(24.0, 0.4 * min(math.hypot(a.x() - v.x(), a.y() - v.y()), math.hypot(b.x() - v.x(), b.y() - v.y())))
    if r < 4:
        return
    a0 = math.degrees(math.atan2(-(a.y() - v.y()), a.x() - v.x()))
    a1 = math.degrees(math.atan2(-(b.y() - v.y()), b.x() - v.x()))
    span = (a1 - a0 + 540.0) % 360.0 - 180.0  # the short way round
    p.drawArc(QRectF(v.x() - r, v.y() - r, 2 * r, 2 * r), int(a0 * 16), int(span * 16))


def paint_measurements(p: QPainter, t: QTransform, items: Sequence[Measurement], lines: Callable[[Measurement], list[str]],
                       width: int, height: int, *, selected: int | None = None, live: Measurement | None = None,
                       calibration: Measurement | None = None, handles: bool = False, scale: float = 1.0,
                       reserved: Sequence[QRectF] = ()) -> None:
    """Every measurement (and the calibration line, and the one being drawn) with its label; `lines(m)`
    gives a measurement's label (`core.measure.measurement_lines` on the film shown). `scale` thickens
    the lines (a full-resolution export of a big film). Labels keep clear of `reserved` (widget space:
    the orientation letters) where they can."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    drawn: list[tuple[Measurement, QColor, bool]] = [(m, SELECTED_COLOUR if i == selected else MEASURE_COLOUR, i == selected)
                                                     for i, m in enumerate(items)]
    if calibration is not None:
        drawn.append((calibration, CALIBRATION_COLOUR, False))
    if live is not None:
        drawn.append((live, MEASURE_COLOUR if live.kind is not Kind.CALIBRATION else CALIBRATION_COLOUR, True))
    taken: list[QRectF] = list(reserved)  # the labels drawn so far, and what they must not cover
    for m, colour, show_handles in drawn:
        p.setTransform(t)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(_pen(QColor(0, 0, 0, 200), 3.5 * scale))
        _draw_shape(p, m)
        p.setPen(_pen(colour, 1.5 * scale))
        _draw_shape(p, m)
        p.resetTransform()
        if m.kind is Kind.COBB:
            _cobb_connector(p, m, t)
        if m.kind is Kind.ANGLE:
            p.setPen(_pen(colour, 1.2 * scale))
            _angle_arc(p, m, t)
        if show_handles or handles:
            p.setPen(_pen(colour, 1.2))
            for x, y in m.points:
                q = t.map(QPointF(x, y))
                p.drawRect(QRectF(q.x() - HANDLE, q.y() - HANDLE, 2 * HANDLE, 2 * HANDLE))
        if m.is_degenerate():
            continue
        _label(p, _anchor(m, t), _shape_rect(m, t), lines(m), colour, width, height, taken)
    p.restore()
