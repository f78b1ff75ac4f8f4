"""The loupe (magnifier): a round inset at the cursor showing the film around it magnified, drawn from
the full-resolution picture (not from the screen), with the attention layer when it is shown.

The inset is centred on the cursor and magnifies LOUPE_FACTOR times the current zoom (at least up
to one film pixel per four screen pixels, so that a film shown at "fit" is seen at full detail).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QTransform

if TYPE_CHECKING:
    from .film_view import FilmView

LOUPE_RADIUS = 110.0  # logical pixels
LOUPE_FACTOR = 3.0
MIN_SCALE = 4.0  # screen pixels per film pixel inside the loupe, at least when magnifying a "fit" view


def loupe_transform(view_t: QTransform, at: QPointF, zoom: float) -> tuple[QTransform, float]:
    """The view transform magnified about the widget point `at`, and the magnification used."""
    factor = max(LOUPE_FACTOR, min(MIN_SCALE / max(zoom, 1e-6), 16.0))
    about = QTransform.fromTranslate(-at.x(), -at.y()) * QTransform.fromScale(factor, factor)
    t = view_t * about * QTransform.fromTranslate(at.x(), at.y())
    return t, factor


def paint_loupe(p: QPainter, view: FilmView, at: QPointF, image: QImage, cam: QImage | None, cam_opacity: float) -> None:
    film = view.film
    if film is None or image.isNull():
        return
    rows, cols = film.shape
    t, factor = loupe_transform(view.image_to_widget(), at, view.zoom)
    r = LOUPE_RADIUS
    circle = QPainterPath()
    circle.addEllipse(at, r, r)
    p.save()
    p.setClipPath(circle)
    p.fillPath(circle, QColor(0, 0, 0))
    p.setTransform(t)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, view.zoom * factor < 3.0)
    target = QRectF(0, 0, cols, rows)
    p.drawImage(target, image, QRectF(image.rect()))
    if cam is not None and not cam.isNull():
        p.setOpacity(cam_opacity)
        p.drawImage(target, cam, QRectF(cam.rect()))
        p.setOpacity(1.0)
    p.resetTransform()
    p.setClipping(False)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.setPen(QPen(QColor(0, 0, 0, 200), 4.0))
    p.drawEllipse(at, r, r)
    p.setPen(QPen(QColor(230, 230, 235), 1.5))
    p.drawEllipse(at, r, r)
    p.drawText(QRectF(at.x() - r, at.y() + r - 22, 2 * r, 18), 0x0084, f"×{factor:.0f}")  # AlignHCenter | AlignVCenter
    p.restore()
