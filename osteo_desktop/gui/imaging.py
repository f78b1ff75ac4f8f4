"""Pixels -> QImage for the viewer: windowing with a lookup table, thumbnails, the attention layer.

`FilmRenderer.render_u8` gives exactly what `core.display.render` + `to_uint8` give (a test checks
it); on integer-valued films it evaluates the window once per distinct value and indexes, so live
window/level stays cheap on a 2000 x 2000 film. Everything here is safe to run off the GUI thread
(QImage, unlike QPixmap, may be built in a worker).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtGui import QImage

from ..core.display import DisplayChoice
from ..core.film import Film, Window
from ..core.film_render import THUMB_SIZE as THUMB_SIZE  # re-exported: moved to core (no Qt)
from ..core.film_render import FilmRenderer as FilmRenderer
from ..core.film_render import PreparedFilm, prepare_film
from ..core.film_render import attention_rgba as attention_rgba


@dataclass
class LoadedFilm:
    """A film ready to show: its renderer, default display, presets and thumbnail (built off-thread)."""

    film: Film
    renderer: FilmRenderer
    choice: DisplayChoice
    presets: list[Window]
    thumbnail: QImage = field(default_factory=QImage)

    @property
    def path(self) -> Path:
        return self.film.path

    @property
    def key(self) -> str:
        return str(self.film.path)


def prepare(film: Film) -> LoadedFilm:
    """Make a film ready to show here (the viewer's reader process does it with `prepare_film`)."""
    return from_prepared(prepare_film(film))


def from_prepared(p: PreparedFilm) -> LoadedFilm:
    return LoadedFilm(p.film, p.renderer, p.choice, p.presets, gray_qimage(p.thumbnail))


class ScaledCache:
    """A layer pre-scaled to the device size it is drawn at (minification only), kept while the size holds."""

    def __init__(self) -> None:
        self._size: tuple[int, int] | None = None
        self._image = QImage()

    def clear(self) -> None:
        self._size, self._image = None, QImage()

    def get(self, src: QImage, arr: np.ndarray | None, scale: float) -> QImage:
        if scale >= 1.0 or arr is None:
            return src
        rows, cols = arr.shape[:2]
        size = (max(1, math.ceil(cols * scale)), max(1, math.ceil(rows * scale)))
        if self._size != size:
            small = downscale(arr, *size)
            self._size, self._image = size, gray_qimage(small) if small.ndim == 2 else rgb_qimage(small)
        return self._image


def downscale(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-averaged resize (the right filter for minification)."""
    return cv2.resize(img, (max(1, width), max(1, height)), interpolation=cv2.INTER_AREA)


def thumbnail(u8: np.ndarray, size: int = THUMB_SIZE) -> QImage:
    h, w = u8.shape[:2]
    s = min(size / h, size / w, 1.0)
    return gray_qimage(downscale(u8, int(round(w * s)), int(round(h * s))) if s < 1.0 else u8)


def gray_qimage(u8: np.ndarray) -> QImage:
    a = np.ascontiguousarray(u8, dtype=np.uint8)
    h, w = a.shape
    return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8).copy()


def rgb_qimage(rgb: np.ndarray) -> QImage:
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_RGBA8888 if a.shape[2] == 4 else QImage.Format.Format_RGB888
    return QImage(a.data, w, h, a.strides[0], fmt).copy()


def qimage_to_rgb(img: QImage) -> np.ndarray:
    """QImage (any format) -> (H, W, 3) uint8 RGB array (a copy)."""
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def remember_attention(cam01: np.ndarray, rgba: np.ndarray) -> None:
    """An attention layer made elsewhere (the screening process makes it with the result): the view
    uses it for this very map instead of making it again on the GUI thread (~160 ms on a 2500 x 2000
    film)."""
    _LAYERS.append((cam01, rgba))
    del _LAYERS[:-_KEEP_LAYERS]


def attention_layer(cam01: np.ndarray) -> np.ndarray:
    """`attention_rgba(cam01)`, made already when the screening process sent it along."""
    for cam, rgba in reversed(_LAYERS):
        if cam is cam01:
            return rgba
    return attention_rgba(cam01)


_LAYERS: list[tuple[np.ndarray, np.ndarray]] = []  # (map, its layer): the last few results (GUI thread)
_KEEP_LAYERS = 4
