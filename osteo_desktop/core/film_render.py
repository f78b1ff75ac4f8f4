"""A film made ready to show, without Qt: its lookup-table renderer, default display, presets and a
thumbnail, computed wherever the film is decoded (the viewer's film reader process).

`FilmRenderer.render_u8` gives exactly what `core.display.render` + `to_uint8` give (a test checks
it); on integer-valued films it evaluates the window once per distinct value and indexes, so live
window/level stays cheap on a 2000 x 2000 film.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .display import DisplayChoice, apply_window, choose_display, presets, render, to_uint8
from .film import Film, Window

_LUT_MAX_RANGE = 1 << 20  # distinct integer values a lookup table may cover
_EXACT_FLOAT32 = float(1 << 24)  # integers up to this are exact in float32
THUMB_SIZE = 96


class FilmRenderer:
    """Display pixels (uint8, bone bright) of one film for a window (None = the file's VOI LUT)."""

    def __init__(self, film: Film):
        self.film = film
        self._index: np.ndarray | None = None
        self._values: np.ndarray | None = None
        px = film.pixels
        if px.size and np.isfinite(px).all():
            lo, hi = float(px.min()), float(px.max())
            if hi - lo < _LUT_MAX_RANGE and max(abs(lo), abs(hi)) < _EXACT_FLOAT32 and np.array_equal(px, np.rint(px)):
                dtype = np.uint16 if hi - lo < 65536 else np.uint32
                self._index = (px - lo).astype(dtype)
                self._values = np.arange(lo, hi + 1.0, dtype=np.float32)

    @property
    def uses_lut(self) -> bool:
        return self._index is not None

    def render_u8(self, window: Window | None, invert: bool = False) -> np.ndarray:
        if window is None or self._index is None or self._values is None:
            return to_uint8(render(self.film, window, invert))
        out = apply_window(self._values, window)
        if self.film.invert_for_display != bool(invert):
            out = 1.0 - out
        return to_uint8(out)[self._index]


@dataclass
class PreparedFilm:
    """What the viewer needs to show a film, all plain data (it travels between processes)."""

    film: Film
    renderer: FilmRenderer
    choice: DisplayChoice
    presets: list[Window]
    thumbnail: np.ndarray  # uint8 grey, longer side <= THUMB_SIZE


def prepare_film(film: Film, thumb_size: int = THUMB_SIZE) -> PreparedFilm:
    from .loading.thumbnail import fit

    renderer = FilmRenderer(film)
    choice = choose_display(film)
    shown = renderer.render_u8(choice.window, False) if choice.window else to_uint8(render(film))
    return PreparedFilm(film, renderer, choice, presets(film), fit(shown, thumb_size))


def attention_rgba(cam01: np.ndarray) -> np.ndarray:
    """The attention layer as RGBA: colour from the overlay colormap, alpha growing with attention.

    Drawn over the film with painter opacity `o`, this composes to exactly `core.overlay.blend`:
    grey * (1 - o*a) + heat * o*a with a = clip(1.5 * cam, 0, 1).
    """
    from .overlay import colorize

    rgb = colorize(cam01)
    alpha = np.clip(np.rint(np.clip(cam01 * 1.5, 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8)
    return np.concatenate([rgb, alpha[:, :, None]], axis=2)
