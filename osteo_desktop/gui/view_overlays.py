"""What the film view draws over the film in widget space: corner text, measurements with their
calibration source, and the attention map's colour bar (with its "relative model attention" label).

Plain functions of a QPainter and the widget's size, so the view keeps only its geometry and state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QLinearGradient, QPainter, QPainterPath, QPen, QTransform

from ..core.film import Film, SpacingSource
from ..core.overlay import ATTENTION_LABEL, colorbar

NO_SIGNAL_TEXT = "no attention signal"
MEASURE_COLOUR = QColor(255, 220, 60)


@dataclass(frozen=True)
class Measurement:
    r0: float
    c0: float
    r1: float
    c1: float

    def length_px(self) -> float:
        return math.hypot(self.r1 - self.r0, self.c1 - self.c0)


def measurement_text(m: Measurement, film: Film) -> str:
    """Length with its calibration source: what a reader needs to trust (or distrust) the number."""
    sp = film.spacing
    if sp.calibrated and sp.row_mm and sp.col_mm:
        mm = math.hypot((m.r1 - m.r0) * sp.row_mm, (m.c1 - m.c0) * sp.col_mm)
        if sp.source is SpacingSource.IMAGER_PIXEL_SPACING:
            return f"{mm:.1f} mm at detector (ImagerPixelSpacing)"
        return f"{mm:.1f} mm (PixelSpacing)"
    return f"{m.length_px():.0f} px (no calibration)"


def fmt_date(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}" if len(da) == 8 and da.isdigit() else da


def fmt_value(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.4g}"


def corner_lines(film: Film, cursor: str, window: str, rot: int, flips: tuple[bool, bool], zoom_percent: float) -> dict[str, list[str]]:
    """The corner text: patient (top left), study and anatomy (top right), cursor readout and window
    (bottom left), orientation, size and zoom (bottom right). A PNG/JPEG has no patient data."""
    ids = film.ids
    name = ids.patient_name.replace("^", " ").strip()
    sex_age = " ".join(x for x in (ids.patient_sex, ids.patient_age.lstrip("0")) if x)
    tl = [name, f"ID {ids.patient_id}" if ids.patient_id else "", sex_age]
    if not film.is_dicom:
        tl = [film.display_name, f"{film.source_format} file (no patient data)"]
    anatomy = " · ".join(x for x in (ids.body_part, ids.view_position, ids.laterality) if x)
    tr = [fmt_date(ids.study_date), ids.study_description, anatomy, " ".join(x for x in (ids.modality, ids.manufacturer) if x)]
    orient = []
    if rot:
        orient.append(f"rot {90 * rot}°")
    if flips[0]:
        orient.append("flip H")
    if flips[1]:
        orient.append("flip V")
    rows, cols = film.shape
    br = [" ".join(orient), f"{cols} × {rows} px", f"zoom {zoom_percent:.0f}%"]
    return {"tl": tl, "tr": tr, "bl": [cursor, window], "br": br}


def overlay_font(base: QFont) -> QFont:
    f = QFont(base)
    f.setPointSizeF(max(8.0, f.pointSizeF() * 0.95))
    return f


def outlined_text(p: QPainter, x: float, y: float, line: str, align_right: bool = False, colour: QColor | None = None) -> None:
    """Light text with a dark outline: readable over any part of a film."""
    fm = p.fontMetrics()
    if align_right:
        x -= fm.horizontalAdvance(line)
    path = QPainterPath()
    path.addText(QPointF(x, y), p.font(), line)
    p.strokePath(path, QPen(QColor(0, 0, 0, 220), 3.0))
    p.fillPath(path, colour or QColor(235, 235, 235))


def paint_corner(p: QPainter, width: int, height: int, lines: list[str], corner: str) -> None:
    """Lines of text in one corner ("tl", "tr", "bl", "br"), elided at half the width."""
    fm = QFontMetrics(p.font())
    lh, m = fm.height(), 8
    lines = [ln for ln in lines if ln]
    right = corner.endswith("r")
    x = width - m if right else m
    if corner.startswith("t"):
        y0 = m + fm.ascent()
    else:
        y0 = height - m - fm.descent() - lh * (len(lines) - 1)
    max_w = width / 2 - 2 * m
    for i, ln in enumerate(lines):
        outlined_text(p, x, y0 + i * lh, fm.elidedText(ln, Qt.TextElideMode.ElideRight, int(max_w)), right)


def paint_measurements(p: QPainter, t: QTransform, items: list[Measurement], film: Film, width: int, height: int) -> None:
    """Each measurement as a line through the view transform `t`, labelled with its length."""
    for m in items:
        a, b = t.map(QPointF(m.c0, m.r0)), t.map(QPointF(m.c1, m.r1))
        p.setPen(QPen(QColor(0, 0, 0, 200), 3.5))
        p.drawLine(a, b)
        p.setPen(QPen(MEASURE_COLOUR, 1.5))
        p.drawLine(a, b)
        for q in (a, b):
            p.drawEllipse(q, 3.0, 3.0)
        label = measurement_text(m, film)
        tw = p.fontMetrics().horizontalAdvance(label)
        x = b.x() + 8 if b.x() + 8 + tw < width - 4 else b.x() - 8 - tw  # keep it on screen
        y = min(max(b.y() - 6, p.fontMetrics().ascent() + 2), height - 4)
        outlined_text(p, x, y, label, colour=MEASURE_COLOUR)


def paint_colorbar(p: QPainter, width: int, height: int, font: QFont, empty: bool) -> None:
    """The attention map's colour bar at the right edge ("no attention signal" when the map is empty)."""
    fm = QFontMetrics(font)
    p.setFont(font)
    bar_w = 14
    bar_h = int(min(220, max(80, height * 0.35)))
    x = width - 12 - bar_w
    y = (height - bar_h) // 2
    # a translucent backing panel keeps the legend readable where it lies over the film
    text_w = max(fm.horizontalAdvance(ATTENTION_LABEL), bar_w + 6 + fm.horizontalAdvance(NO_SIGNAL_TEXT if empty else "high"))
    panel = QRectF(width - 12 - text_w - 8, y - 8 - fm.height() - 4, text_w + 16, bar_h + fm.height() + 20)
    p.fillRect(panel, QColor(0, 0, 0, 120))
    if empty:
        p.setPen(QPen(QColor(150, 150, 150), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(x, y, bar_w, bar_h))
        outlined_text(p, x - 6, y + bar_h / 2 + fm.ascent() / 2, NO_SIGNAL_TEXT, align_right=True, colour=QColor(255, 200, 120))
        return
    strip = colorbar(64, 1)  # (64, 1, 3) high at the top
    grad = QLinearGradient(0, y, 0, y + bar_h)
    for i in range(strip.shape[0]):
        r, g, b = (int(v) for v in strip[i, 0])
        grad.setColorAt(i / (strip.shape[0] - 1), QColor(r, g, b))
    p.fillRect(QRectF(x, y, bar_w, bar_h), grad)
    p.setPen(QPen(QColor(200, 200, 200), 1))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRect(QRectF(x, y, bar_w, bar_h))
    outlined_text(p, x - 6, y + fm.ascent(), "high", align_right=True)
    outlined_text(p, x - 6, y + bar_h, "low", align_right=True)
    outlined_text(p, width - 12, y - 8, ATTENTION_LABEL, align_right=True)
