"""Is there a picture to screen? Blank, saturated and non-finite films are not screened.

A film can load without error and still show nothing: an all-NaN float DICOM, a Rescale Slope of
1e300 (every value infinite) or 1e-300 (every value the intercept), a Rescale Intercept of 1e38
(float32 cannot tell the values apart any more), an all-zero or mis-mapped VOI LUT (every pixel
black or white). The model would still give a score, and the reader a heatmap on a black film.

`picture_problem(film, picture)` says why such a film cannot be screened (in words a reader
understands, and what to check), or returns None when there is a picture. `Screener.screen` makes
such a film a "not screened" result with this reason, before the model runs. Statistics are computed in
float64 on a strided sample (at most ~1 M pixels), so they neither overflow on huge modality values
nor cost much on big films. Pure function: no Qt, no torch.
"""

from __future__ import annotations

import numpy as np

from .display import DisplayChoice, choose_display, render
from .film import Film

#: Below this fraction of finite modality values the picture holds no usable data.
MIN_FINITE_FRACTION = 0.5
#: A displayed pixel "differs" from the picture's typical level by more than this (two 8-bit levels).
LEVEL_TOLERANCE = 2.0 / 255.0
#: A picture in which fewer pixels than this differ from its typical level is (nearly) uniform.
#: (A spine film masked to black can be 97% background: its 3% of bone must still count.)
MIN_DETAIL_FRACTION = 0.005
_SAMPLE_LIMIT = 1 << 20


def _sample(a: np.ndarray) -> np.ndarray:
    step = max(1, int(np.sqrt(a.size / _SAMPLE_LIMIT)))
    return np.asarray(a[::step, ::step], dtype=np.float64)


def _level_name(level: float) -> str:
    if level <= 0.02:
        return "black"
    if level >= 0.98:
        return "white"
    return "one shade of grey"


def _share(fraction: float) -> str:
    if fraction >= 1.0:
        return "all"
    return f"{fraction:.1%}" if fraction < 0.9995 else "more than 99.9%"


def _voi_text(choice: DisplayChoice | None) -> str:
    if choice is None:
        return "the display window"
    if choice.voi_lut is not None:
        return f"the file's VOI LUT ('{choice.voi_lut.name}')" if choice.voi_lut.name else "the file's VOI LUT"
    assert choice.window is not None
    return f"the window {choice.description}"


def picture_problem(film: Film, picture: np.ndarray | None = None) -> str | None:
    """Why `film` cannot be screened (non-finite or (nearly) uniform picture), or None.

    `picture` is the displayed film (`display.render(film)`, float [0, 1]) when the caller has it;
    without it the default display is rendered here.
    """
    values = _sample(film.pixels)
    if values.size == 0:
        return "The image holds no pixels; there is nothing to screen."
    finite = np.isfinite(values)
    frac = float(finite.mean())
    if frac < MIN_FINITE_FRACTION:
        what = "Every pixel value is" if frac == 0.0 else f"{1.0 - frac:.0%} of the pixel values are"
        return (
            f"{what} NaN or infinite after the modality rescale (Rescale Slope/Intercept or Modality "
            "LUT); the picture holds no usable data, so it was not screened. Check the file's rescale "
            "tags or export it again."
        )
    v = values[finite]
    lo, hi = float(v.min()), float(v.max())
    if not hi > lo:
        return (
            f"Every pixel has the same value ({lo:.6g}) after the modality rescale; there is no "
            "picture to screen. Check the file's Rescale Slope/Intercept or export it again."
        )
    choice = None
    if picture is None:
        choice = choose_display(film)
        picture = render(film)
    shown = _sample(picture)
    shown = np.where(np.isfinite(shown), shown, 0.0)
    level = float(np.median(shown))
    detail = float((np.abs(shown - level) > LEVEL_TOLERANCE).mean())
    if detail < MIN_DETAIL_FRACTION:
        if choice is None:
            choice = choose_display(film)
        return (
            f"The picture is (nearly) uniform after {_voi_text(choice)}: {_share(1.0 - detail)} of it is "
            f"{_level_name(level)}, so there is nothing to screen. Check the file's window or VOI LUT, or "
            "export the film again."
        )
    return None
