"""Small stand-ins for screened films, so that a batch keeps what its reports need and nothing more.

A PDF report is written per patient once the whole batch has been screened (a patient's films can
be anywhere in it). Keeping every film's full-resolution pixels and heatmap until then grows memory
with the batch (+25 MB per 3-megapixel film). `compact(item)` returns a `ScreenedFilm` whose film
holds no pixels and only the header tag the report reads, whose prediction holds no heatmap, and
whose pictures are the report's own (windowed film and overlay, at most `REPORT_SIDE` pixels) -
kept in memory, or with `spill_dir` written there as PNG files and read back when the report is
built, so a batch's memory stays flat however many films it holds.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path

import numpy as np

from ..display import choose_display
from .common import ScreenedFilm
from .images import FilmPictures, film_pictures

log = logging.getLogger(__name__)

REPORT_SIDE = 1200  # what `images.film_pictures` gives a report
_EMPTY = np.zeros((0, 0), np.float32)
_counter = itertools.count(1)


class _SpilledPictures:
    """A callable that reads a film's report pictures back from PNG files."""

    def __init__(self, display: Path, overlay: Path | None, notes: tuple[str, ...]):
        self.display, self.overlay, self.notes = display, overlay, notes

    def __call__(self) -> FilmPictures:
        import cv2

        display = cv2.imread(str(self.display), cv2.IMREAD_UNCHANGED)
        overlay = None
        if self.overlay is not None:
            bgr = cv2.imread(str(self.overlay), cv2.IMREAD_COLOR)
            overlay = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr is not None else None
        if display is None:
            raise OSError(f"{self.display}: the report thumbnail could not be read back")
        return FilmPictures(display, overlay, self.notes)


def _light_header(header):
    """Only what the report reads from the header (BurnedInAnnotation); None when absent."""
    if header is None:
        return None
    from pydicom.dataset import Dataset

    light = Dataset()
    try:
        value = header.get("BurnedInAnnotation")
    except Exception:
        value = None
    if value:
        light.BurnedInAnnotation = str(value)
    return light


def compact(item: ScreenedFilm, *, spill_dir: Path | None = None, max_side: int = REPORT_SIDE,
            shown: np.ndarray | None = None, pictures: bool = True) -> ScreenedFilm:
    """`item` for a report, without full-resolution arrays (see the module docstring).

    `shown` is the film as displayed (`display.render(film)`) when the caller has it already;
    `pictures=False` keeps none (the report then says there are no pixels to show).
    """
    film, pred = item.film, item.prediction
    description = ""
    pics: FilmPictures | _SpilledPictures | None = None
    if pictures and film.pixels is not None and film.pixels.ndim == 2 and film.pixels.size > 0:
        made = film_pictures(film, pred, max_side=max_side, shown=shown)
        pics = _spill(made, spill_dir) if spill_dir is not None else made
        try:
            description = choose_display(film).description
        except Exception:  # a caption must not stop the report
            description = ""
    light_film = dataclasses.replace(film, pixels=_EMPTY, header=_light_header(film.header),
                                     warnings=list(film.warnings))
    light_pred = dataclasses.replace(pred, cam=None) if pred is not None else None
    return ScreenedFilm(light_film, light_pred, item.error, item.anatomy, pictures=pics,
                        display_description=description)


def _spill(pics: FilmPictures, folder: Path) -> _SpilledPictures:
    import cv2

    n = next(_counter)
    display = folder / f"thumb-{n:06d}-film.png"
    if not cv2.imwrite(str(display), pics.display, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"{display}: the report thumbnail could not be written")
    overlay = None
    if pics.overlay is not None:
        overlay = folder / f"thumb-{n:06d}-overlay.png"
        if not cv2.imwrite(str(overlay), cv2.cvtColor(pics.overlay, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OSError(f"{overlay}: the report thumbnail could not be written")
    return _SpilledPictures(display, overlay, tuple(pics.notes))
