"""Display pipeline: modality values -> VOI LUT or window -> inversion -> [0, 1], bone bright.

Each step happens exactly once and in this order:

1. The modality LUT (rescale slope/intercept or a Modality LUT Sequence) is already applied by the
   loader: `Film.pixels` hold modality values.
2. VOI: the file's VOI LUT if it has one, else the file's first window *that fits the data*, else an
   automatic window from robust percentiles. A window that does not fit (almost no pixel inside it,
   the classic "all white" bug) is replaced by the fallback and a warning says so.
3. Inversion, once, when `Film.invert_for_display` (MONOCHROME1, or PresentationLUTShape INVERSE).

The result is float32 in [0, 1] where bone is bright: what the reader sees and what the model sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .film import Film, VoiLut, Window

log = logging.getLogger(__name__)

#: A file window is used only if at least this fraction of the pixels fall strictly inside it.
MIN_FRACTION_INSIDE = 0.05
AUTO_PERCENTILES = (0.5, 99.5)
_SAMPLE_LIMIT = 1 << 20  # statistics on at most ~1 M pixels (strided), for speed on big films


def _sample(pixels: np.ndarray) -> np.ndarray:
    step = max(1, int(np.sqrt(pixels.size / _SAMPLE_LIMIT)))
    s = pixels[::step, ::step]
    s = s[np.isfinite(s)]
    return s


def auto_window(pixels: np.ndarray) -> Window:
    """Window spanning the 0.5th..99.5th percentiles of the finite pixels."""
    s = _sample(pixels)
    if s.size == 0:
        return Window(0.5, 1.0, "auto", "LINEAR_EXACT")
    lo, hi = (float(v) for v in np.percentile(s, AUTO_PERCENTILES))
    if hi <= lo:
        lo, hi = float(s.min()), float(s.max())
    if hi <= lo:
        hi = lo + 1.0
    # LINEAR_EXACT maps [lo, hi] onto [0, 1]; the standard's LINEAR uses (width - 1) and collapses
    # to a threshold for data whose range is ~1 or less (float TIFFs, small rescale slopes).
    return Window((lo + hi) / 2.0, hi - lo, "auto", "LINEAR_EXACT")


def full_range_window(pixels: np.ndarray) -> Window:
    s = _sample(pixels)
    if s.size == 0:
        return Window(0.5, 1.0, "full range", "LINEAR_EXACT")
    lo, hi = float(s.min()), float(s.max())
    if hi <= lo:
        hi = lo + 1.0
    return Window((lo + hi) / 2.0, hi - lo, "full range", "LINEAR_EXACT")


def fraction_inside(window: Window, pixels: np.ndarray) -> float:
    s = _sample(pixels)
    if s.size == 0 or window.width <= 0:
        return 0.0
    inside = (s > window.low) & (s < window.high)
    return float(inside.mean())


def window_fits(window: Window, pixels: np.ndarray) -> bool:
    """Enough pixels strictly inside the window, or the window spans all of the data.

    A window that spans the data cannot cause the all-white/all-black bug, even when almost every
    pixel sits exactly on its edge: a raster's "file range" window (0..255) on a spine film whose
    background is masked to black (97% of the pixels are 0) must be kept, not replaced by a stretch.
    """
    if window.width <= 0:
        return False
    s = _sample(pixels)
    if s.size and window.low <= float(s.min()) and float(s.max()) <= window.high:
        return True
    return fraction_inside(window, pixels) >= MIN_FRACTION_INSIDE


@dataclass(frozen=True)
class DisplayChoice:
    """What the pipeline decided for a film: one VOI (LUT or window) and whether to invert."""

    window: Window | None
    voi_lut: VoiLut | None
    invert: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def description(self) -> str:
        if self.voi_lut is not None:
            return f"VOI LUT {self.voi_lut.name}".strip()
        assert self.window is not None
        return f"W {self.window.width:.0f} / L {self.window.center:.0f} ({self.window.name})"


def presets(film: Film) -> list[Window]:
    """Windows offered to the reader: the file's own (those that fit first), auto, full range."""
    fitting = [w for w in film.windows if window_fits(w, film.pixels)]
    return [*fitting, auto_window(film.pixels), full_range_window(film.pixels)]


def choose_display(film: Film) -> DisplayChoice:
    """The default VOI for a film (file's VOI LUT, else first fitting file window, else auto)."""
    warnings: list[str] = []
    if film.voi_lut is not None:
        return DisplayChoice(None, film.voi_lut, film.invert_for_display)
    for w in film.windows:
        if window_fits(w, film.pixels):
            return DisplayChoice(w, None, film.invert_for_display)
        warnings.append(
            f"{film.display_name}: the file's window (W {w.width:g} / L {w.center:g}) does not fit its "
            f"pixel values ({fraction_inside(w, film.pixels):.1%} inside); using an automatic window."
        )
    return DisplayChoice(auto_window(film.pixels), None, film.invert_for_display, tuple(warnings))


def apply_window(pixels: np.ndarray, window: Window) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 window, output scaled to [0, 1]."""
    x = pixels.astype(np.float32, copy=False)
    c, w = float(window.center), max(float(window.width), 1e-6)
    fn = window.function.upper()
    # one new float32 array, then in place: a big film costs one picture's worth of memory, not five
    with np.errstate(over="ignore", invalid="ignore"):  # extreme values: nan_to_num and clip below settle them
        if fn == "SIGMOID":
            out = np.subtract(x, np.float32(c), dtype=np.float32)
            out *= np.float32(-4.0 / w)
            np.exp(out, out=out)
            out += np.float32(1.0)
            np.reciprocal(out, out=out)
        elif fn == "LINEAR_EXACT":
            out = np.subtract(x, np.float32(c - w / 2.0), dtype=np.float32)
            out /= np.float32(w)
        else:  # LINEAR: the standard's (c - 0.5) and (w - 1) form
            w1 = max(w - 1.0, 1e-6)
            out = np.subtract(x, np.float32(c - 0.5), dtype=np.float32)
            out /= np.float32(w1)
            out += np.float32(0.5)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(out, 0.0, 1.0, out=out)


def apply_voi_lut(pixels: np.ndarray, lut: VoiLut) -> np.ndarray:
    """The VOI LUT, output scaled to [0, 1]; in bands of rows, so that the float64 and int64 index
    arrays never cost more than ~1 M pixels' worth of memory on a big film."""
    top = float((1 << lut.output_bits) - 1) if lut.output_bits > 0 else float(lut.table.max() or 1)
    table = lut.table.astype(np.float32)
    last = len(lut.table) - 1

    def mapped(chunk: np.ndarray) -> np.ndarray:
        idx = np.nan_to_num(chunk, nan=lut.first_mapped).astype(np.float64) - lut.first_mapped
        np.clip(idx, 0, last, out=idx)
        return np.clip(table[idx.astype(np.int64)] / max(top, 1.0), 0.0, 1.0)

    if pixels.ndim != 2:
        return mapped(pixels)
    out = np.empty(pixels.shape, dtype=np.float32)
    band = max(1, (1 << 20) // max(1, pixels.shape[1]))
    for r in range(0, pixels.shape[0], band):
        out[r : r + band] = mapped(pixels[r : r + band])
    return out


def render(film: Film, window: Window | None = None, invert: bool | None = None) -> np.ndarray:
    """The film as displayed: float32 [0, 1], bone bright.

    `window` overrides the default VOI (a reader's window/level); `invert` toggles the reader's own
    inversion *on top of* the photometric one (False or None = show as the standard says).
    """
    if window is not None:
        out = apply_window(film.pixels, window)
        flip = film.invert_for_display
    else:
        choice = choose_display(film)
        if choice.voi_lut is not None:
            out = apply_voi_lut(film.pixels, choice.voi_lut)
        else:
            assert choice.window is not None
            out = apply_window(film.pixels, choice.window)
        flip = choice.invert
    if invert:
        flip = not flip
    if flip:  # in place: `out` is this call's own array
        out = np.subtract(np.float32(1.0), out, out=out) if out.dtype == np.float32 else 1.0 - out
    return out


def to_uint8(img01: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img01 * 255.0), 0, 255).astype(np.uint8)
