"""One memory budget for decoding a film, in bytes, checked from the header before any decode.

A small file can declare a huge picture (a "decompression bomb": a 200 KB PNG of 13000 x 13000
pixels, a 4 MB deflated DICOM declaring 65535 x 65535). Every decode path (pydicom and its plugins,
Pillow, OpenCV, tifffile) first reads what the header declares and asks `check_decode_size`, which
counts, in bytes:

* the decoded data: rows x columns x samples per pixel x bytes per sample x frames (every frame the
  file holds, not only the one shown: a native multi-frame pixel data element is read whole), and
* the float32 grey picture the viewer and the screening work on (rows x columns x 4 bytes).

Either above the budget -> `FilmTooLargeError`, whose message names the size and the limit. Deflated
DICOM data is inflated in steps and may not grow beyond the budget plus a header allowance
(`max_inflated_bytes`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import FilmLoadError, FilmTooLargeError

log = logging.getLogger(__name__)

MIB = 1 << 20
#: Budget for one film unless $OSTEO_MAX_FILM_MB says otherwise (read once, at import). The largest
#: clinical detectors (43 x 43 cm at 100 um: 4300 x 4300, 16-bit) need 71 MiB (their float32
#: picture); 128 MiB admits 33 megapixels. What a film at the edge adds to screening it is a few
#: hundred MB over what the model itself needs (bench/hostile_input.py --part bombs measures both: the
#: demo film and a film at the edge, with the shipped model).
BUDGET_ENV = "OSTEO_MAX_FILM_MB"
STANDARD_MAX_BYTES = 128 * MIB


def _budget_from_env() -> int:
    text = os.environ.get(BUDGET_ENV, "").strip()
    if not text:
        return STANDARD_MAX_BYTES
    try:
        mb = int(text)
        if mb <= 0:
            raise ValueError
    except ValueError:
        log.warning("%s=%r is not a positive whole number of megabytes; using %d MB", BUDGET_ENV, text,
                    STANDARD_MAX_BYTES // MIB)
        return STANDARD_MAX_BYTES
    return mb * MIB


DEFAULT_MAX_BYTES = _budget_from_env()
#: What a DICOM header (without its pixel data) may add to the budget when deflated data is inflated.
HEADER_ALLOWANCE = 32 * MIB
PICTURE_BYTES_PER_PIXEL = 4  # Film.pixels is float32


def max_inflated_bytes(max_bytes: int) -> int:
    """How far a deflated DICOM data set may inflate: the pixel budget plus a header allowance."""
    return max_bytes + HEADER_ALLOWANCE


def _mb(n: int) -> str:
    return f"{n / MIB:,.0f} MB" if n >= 10 * MIB else f"{n / MIB:.1f} MB"


@dataclass(frozen=True)
class DecodeSize:
    """What a header declares: the decoded size of the image in memory."""

    rows: int
    cols: int
    samples: int = 1
    bytes_per_sample: int = 1
    frames: int = 1

    @property
    def decoded_bytes(self) -> int:
        return self.rows * self.cols * self.samples * self.bytes_per_sample * self.frames

    @property
    def picture_bytes(self) -> int:
        return self.rows * self.cols * PICTURE_BYTES_PER_PIXEL

    @property
    def needed_bytes(self) -> int:
        return max(self.decoded_bytes, self.picture_bytes)

    def describe(self) -> str:
        parts = [f"{self.cols} x {self.rows} pixels"]
        parts.append(f"{self.samples} sample{'s' if self.samples != 1 else ''}")
        parts.append(f"{self.bytes_per_sample} byte{'s' if self.bytes_per_sample != 1 else ''}")
        if self.frames != 1:
            parts.append(f"{self.frames} frames")
        return " x ".join(parts)


def bytes_per_sample(bits: int) -> int:
    """Decoded bytes per sample for `bits` allocated bits (1-bit data is unpacked to one byte)."""
    return max(1, (int(bits) + 7) // 8)


def check_decode_size(path: Path, size: DecodeSize, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Refuse an image whose decoded data or float32 picture would exceed `max_bytes`."""
    for label, value in (("samples per pixel", size.samples), ("bytes per sample", size.bytes_per_sample),
                         ("number of frames", size.frames)):
        if value <= 0:
            raise FilmLoadError(f"{path}: the header declares {value} {label}; the file is damaged. Export it again.")
    if size.needed_bytes > max_bytes:
        what = "decoded data" if size.decoded_bytes >= size.picture_bytes else "float32 picture"
        raise FilmTooLargeError(
            f"{path}: the image is too large to open safely: {size.describe()} need "
            f"{_mb(size.needed_bytes)} of memory ({what}), above the limit of {_mb(max_bytes)} per film. "
            "Downsample it (or keep only the frame you need) before opening, or raise the limit with "
            f"{BUDGET_ENV} on a computer with the memory."
        )


def check_inflated(path: Path, inflated: int, max_bytes: int) -> None:
    limit = max_inflated_bytes(max_bytes)
    if inflated > limit:
        raise FilmTooLargeError(
            f"{path}: the deflated DICOM data inflates to more than {_mb(limit)} (the limit for one film's "
            "pixel data plus its header); refusing to read further. The file is damaged or a "
            "decompression bomb; export it again without deflate compression."
        )
