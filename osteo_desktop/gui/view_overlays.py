"""What the film view draws over the film in widget space: corner text, orientation letters, and the
attention map's colour bar (with its "relative model attention" label). Measurements are drawn by
`tools.paint`.

Plain functions of a QPainter and the widget's size, so the view keeps only its geometry and state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QLinearGradient, QPainter, QPainterPath, QPen

from ..core.film import Film

if TYPE_CHECKING:
    from .film_view import FilmView
from ..core.overlay import ATTENTION_LABEL, colorbar

NO_SIGNAL_TEXT = "no attention signal"


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
    """Lines of text in one corner ("tl", "tr", "bl", "br"), elided short of the middle of the edge, where
    the orientation letter stands."""
    fm = QFontMetrics(p.font())
    lh, m = fm.height(), 8
    lines = [ln for ln in lines if ln]
    right = corner.endswith("r")
    x = width - m if right else m
    if corner.startswith("t"):
        y0 = m + fm.ascent()
    else:
        y0 = height - m - fm.descent() - lh * (len(lines) - 1)
    letter_half = QFontMetrics(_orientation_font(p.font())).horizontalAdvance("[M]") / 2
    max_w = width / 2 - m - letter_half - 6
    for i, ln in enumerate(lines):
        outlined_text(p, x, y0 + i * lh, fm.elidedText(ln, Qt.TextElideMode.ElideRight, int(max_w)), right)


def _orientation_font(base: QFont) -> QFont:
    f = QFont(base)
    f.setPointSizeF(f.pointSizeF() * 1.25)
    f.setBold(True)
    return f


def orientation_places(base: QFont, width: int, height: int, labels: dict[str, str],
                       assumed: bool) -> list[tuple[str, float, float, QRectF]]:
    """Each orientation letter's text, baseline origin and box, at the middle of its edge."""
    fm = QFontMetrics(_orientation_font(base))
    m = 8
    out = []
    for edge, letters in labels.items():
        text = f"[{letters}]" if assumed else letters
        tw = fm.horizontalAdvance(text)
        x, y = {
            "left": (m, height / 2 + fm.ascent() / 2),
            "right": (width - m - tw, height / 2 + fm.ascent() / 2),
            "top": (width / 2 - tw / 2, m + fm.ascent()),
            "bottom": (width / 2 - tw / 2, height - m - fm.descent()),
        }[edge]
        out.append((text, x, y, QRectF(x - 2, y - fm.ascent() - 2, tw + 4, fm.height() + 4)))
    return out


def paint_orientation(p: QPainter, width: int, height: int, labels: dict[str, str], assumed: bool) -> None:
    """Orientation letters at the middle of each edge; an assumed orientation is drawn grey and in brackets."""
    if not labels:
        return
    places = orientation_places(p.font(), width, height, labels, assumed)
    p.save()
    p.setFont(_orientation_font(p.font()))
    colour = QColor(170, 170, 175) if assumed else QColor(235, 235, 235)
    for text, x, y, _box in places:
        outlined_text(p, x, y, text, colour=colour)
    p.restore()


def orientation_boxes(view: FilmView, font: QFont) -> list[QRectF]:
    """Where the view's orientation letters are (measurement labels keep clear of them); none when hidden."""
    o = view.orientation
    if not view.overlays_visible or o is None:
        return []
    return [box for *_, box in orientation_places(font, view.width(), view.height(), view.edge_labels(), o.assumed)]


def paint_view_text(p: QPainter, view: FilmView) -> None:
    """The corner text and the orientation letters of a film view (the painter's font is set)."""
    film = view.film
    if film is None:
        return
    corners = corner_lines(film, view.cursor_text(), view.window_text(), view.rotation // 90, view.flips, view.zoom_percent())
    if view.frame_text:
        corners["br"].insert(0, view.frame_text)
    o = view.orientation
    if o is not None:
        if o.assumed:
            corners["bl"].insert(0, f"orientation assumed ({o.source}): check the side marker")
        paint_orientation(p, view.width(), view.height(), view.edge_labels(), o.assumed)
    for corner, lines in corners.items():
        paint_corner(p, view.width(), view.height(), lines, corner)


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
