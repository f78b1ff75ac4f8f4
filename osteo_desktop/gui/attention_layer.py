"""The attention map drawn over the film: its colours and alpha on the film's pixel grid, whether it
is shown, its opacity, and the core's status ("ok", "empty", "off") that the colour bar reports."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtGui import QImage

from .imaging import ScaledCache, attention_layer, rgb_qimage

log = logging.getLogger(__name__)


class AttentionLayer:
    def __init__(self) -> None:
        self.cam: np.ndarray | None = None
        self.rgba: np.ndarray | None = None
        self.image = QImage()
        self.status = "off"
        self.visible = True
        self.opacity = 0.45
        self.scaled = ScaledCache()

    def set(self, cam: np.ndarray | None, status: str, film_shape: tuple[int, int] | None) -> None:
        """Attention map on the film's pixel grid (or None) and the core's cam_status."""
        if cam is not None and film_shape is not None and cam.shape != film_shape:
            log.warning("attention map %s does not match the film %s; not shown", cam.shape, film_shape)
            cam, status = None, "off"
        self.cam = cam
        self.status = status if cam is not None or status != "ok" else "off"
        self.rgba = attention_layer(cam) if cam is not None else None  # made by the screening process when it sent one
        self.image = rgb_qimage(self.rgba) if self.rgba is not None else QImage()
        self.scaled.clear()

    @property
    def drawn(self) -> bool:
        return self.visible and self.cam is not None and not self.image.isNull()

    def colorbar(self) -> bool | None:
        """None: no colour bar; else whether it says "no attention signal"."""
        if not self.visible or self.status not in ("ok", "empty"):
            return None
        return self.status == "empty" or self.cam is None
