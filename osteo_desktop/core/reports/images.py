"""Pictures for reports: the windowed film and the film with its Grad-CAM overlay and colour bar.

Both come out on *square* pixels (a film with non-square calibrated pixels is resampled so that
its physical aspect ratio is kept) and at most `max_side` pixels on the long side.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ..display import render, to_uint8
from ..film import Film
from ..inference import CAM_EMPTY, Prediction
from ..overlay import blend, stamp, with_colorbar

log = logging.getLogger(__name__)


@dataclass
class FilmPictures:
    display: np.ndarray  # (H, W) uint8, windowed film, bone bright
    overlay: np.ndarray | None  # (H, W', 3) uint8 RGB: film + heatmap + colour bar; None = no map
    notes: tuple[str, ...] = ()


def _target_shape(film: Film, max_side: int | None) -> tuple[int, int]:
    rows, cols = film.shape
    h, w = float(rows), float(cols)
    sp = film.spacing
    if sp.calibrated and sp.row_mm and sp.col_mm and abs(sp.row_mm / sp.col_mm - 1.0) > 1e-3:
        h = rows * (sp.row_mm / sp.col_mm)  # column spacing is the unit: stretch rows to match
    if max_side:
        scale = min(1.0, max_side / max(h, w))
        h, w = h * scale, w * scale
    return max(1, int(round(h))), max(1, int(round(w)))


def _resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if img.shape[:2] == (h, w):
        return img
    shrink = h * w < img.shape[0] * img.shape[1]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def film_pictures(film: Film, prediction: Prediction | None, *, max_side: int | None = 1200,
                  colorbar: bool = True, shown: np.ndarray | None = None) -> FilmPictures:
    """The windowed film and its overlay, ready for a report (or a secondary capture).

    `shown` may pass `render(film)` (the default display) when the caller has it already.
    """
    notes: list[str] = []
    shape = _target_shape(film, max_side)
    display = _resize(to_uint8(render(film) if shown is None else shown), shape)
    if prediction is None or not prediction.screened:  # no result, no heatmap
        return FilmPictures(display, None)
    cam = prediction.cam
    if cam is None:
        if prediction.cam_status != CAM_EMPTY:
            return FilmPictures(display, None, ("Grad-CAM was not computed for this film.",))
        rgb = blend(display, None)
        return FilmPictures(display, with_colorbar(rgb, empty=True) if colorbar else rgb)
    cam = np.asarray(cam, dtype=np.float32)
    if cam.shape != film.shape:
        notes.append(f"heatmap grid {cam.shape} differs from the film {film.shape}; it was resampled.")
        log.warning("%s: heatmap %s does not match film %s; resampling", film.display_name, cam.shape, film.shape)
    cam = np.clip(_resize(cam, shape), 0.0, 1.0)
    rgb = blend(display, cam)
    return FilmPictures(display, with_colorbar(rgb) if colorbar else rgb, tuple(notes))


def secondary_capture_pixels(film: Film, prediction: Prediction, *, max_side: int | None = 2048,
                             shown: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 for a Secondary Capture: overlay + colour bar + 'NOT FOR DIAGNOSTIC USE' burned in."""
    pics = film_pictures(film, prediction, max_side=max_side, shown=shown)
    rgb = pics.overlay if pics.overlay is not None else blend(pics.display, None)  # no map: the film alone
    return np.ascontiguousarray(stamp(rgb, "NOT FOR DIAGNOSTIC USE"))
