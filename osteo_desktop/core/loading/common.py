"""Helpers shared by the DICOM and raster loaders: content sniffing, size checks, grey conversion.

Every error raised here starts with the file's path and says what the user can do.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import numpy as np

from ..errors import FilmLoadError, FilmTooLargeError
from ..film import Window

log = logging.getLogger(__name__)

#: An image smaller than this on either side is not a radiograph (icons, 1x1 tracking pixels...).
MIN_SIDE = 32
DEFAULT_MAX_PIXELS = 200_000_000
HEAD_BYTES = 132  # 128-byte preamble + "DICM"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF

DICOM = "DICOM"
RAW_DICOM = "DICOM (no preamble)"
PNG, JPEG, TIFF = "PNG", "JPEG", "TIFF"
RASTER_KINDS = (PNG, JPEG, TIFF)

# (group, element) of the first tag of a DICOM data set written without the 128-byte preamble:
# file meta (0002,xxxx) or the usual first data-set groups (0008,xxxx), little or big endian.
_RAW_DICOM_STARTS = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def sniff(head: bytes) -> str:
    """What the first bytes of a file say it is: DICOM, RAW_DICOM (maybe), PNG, JPEG, TIFF or ""."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return DICOM
    if head.startswith(PNG_MAGIC):
        return PNG
    if head.startswith(JPEG_MAGIC):
        return JPEG
    if head[:4] in TIFF_MAGICS:
        return TIFF
    if len(head) >= 8 and head[:2] in _RAW_DICOM_STARTS:
        return RAW_DICOM
    return ""


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    """The first `n` bytes of a file, opened read-only; OS errors become FilmLoadError."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except IsADirectoryError as e:
        raise FilmLoadError(
            f"{path}: is a folder, not an image file. Open the films inside it (Open folder)."
        ) from e
    except FileNotFoundError as e:
        raise FilmLoadError(f"{path}: no such file. Check the path and that the drive is connected.") from e
    except PermissionError as e:
        raise FilmLoadError(
            f"{path}: permission denied, the file cannot be read. Ask for read access or copy the file "
            "to a folder you can read."
        ) from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise FilmLoadError(
                f"{path}: is a symbolic link that points back to itself (a link loop); there is no file to read. "
                "Fix or remove the link."
            ) from e
        raise FilmLoadError(f"{path}: cannot be read ({e.strerror or e}). Check the drive or copy the file again.") from e


def check_dimensions(path: Path, rows: int, cols: int, max_pixels: int) -> None:
    """Reject an image from its header, before any pixel is decoded."""
    if rows <= 0 or cols <= 0:
        raise FilmLoadError(f"{path}: the header declares an empty image ({rows}x{cols} pixels); the file is damaged.")
    if rows < MIN_SIDE or cols < MIN_SIDE:
        raise FilmLoadError(
            f"{path}: the image is only {cols}x{rows} pixels, too small to be a radiograph (at least "
            f"{MIN_SIDE} pixels a side). Open the full-size film."
        )
    if rows * cols > max_pixels:
        raise FilmTooLargeError(
            f"{path}: the image is {cols}x{rows} = {rows * cols / 1e6:.0f} megapixels, above the limit of "
            f"{max_pixels / 1e6:.0f} megapixels. Downsample it before opening, or raise the limit if the "
            "computer has enough memory."
        )


def nominal_window(bits: int) -> Window:
    """The window that shows unsigned `bits`-bit values exactly as stored: v -> v / (2**bits - 1).

    With the standard's LINEAR function that is centre 2**(bits-1), width 2**bits (PS3.3
    C.11.2.1.2.1: 128/256 for 8-bit). Centre 127.5 would shift every level by half a step.
    """
    levels = float(1 << bits)
    return Window(center=levels / 2.0, width=levels, name="file range", function="LINEAR")


def data_range_window(pixels: np.ndarray, name: str = "data range") -> Window:
    """Exact linear window over the finite data range (for float or signed data)."""
    finite = pixels[np.isfinite(pixels)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    return Window(center=(lo + hi) / 2.0, width=hi - lo, name=name, function="LINEAR_EXACT")


def effective_bits(max_value: float) -> int:
    """The smallest usual depth (8, 10, 12, 14 or 16 bits) that holds `max_value`."""
    for bits in (8, 10, 12, 14, 16):
        if max_value < (1 << bits):
            return bits
    return 16


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as Pillow's "L"


def colour_to_grey(
    rgb: np.ndarray, max_value: float, name: str, warnings: list[str]
) -> np.ndarray:
    """(rows, cols, 3+) colour -> float32 grey. Grey content is kept as is; real colour -> luminance + warning.

    `max_value` is the nominal maximum (255 for 8-bit) to scale the tolerance for "grey". Works in
    bands of rows, so that no float copy of the whole colour image is ever made (memory budget).
    """
    if rgb.shape[-1] == 4 or rgb.shape[-1] == 2:  # alpha channel
        alpha = rgb[..., -1]
        if alpha.size and int(alpha.min()) < max_value:
            warnings.append(f"{name}: the image has transparency; it was ignored (shown as opaque).")
        rgb = rgb[..., :-1]
    if rgb.shape[-1] == 1:
        return rgb[..., 0].astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        return r.astype(np.float32)
    # Colour check on a strided sample (fast on big images); JPEG chroma noise on grey content is a
    # level or two, so only spreads above ~3/255 of the range count as colour.
    step = max(1, int(np.sqrt(r.size / (1 << 20))))
    s = rgb[::step, ::step, :3].astype(np.float32)
    spread = s.max(axis=-1) - s.min(axis=-1)
    tol = 3.0 * max_value / 255.0
    grey = np.empty(rgb.shape[:2], dtype=np.float32)
    band = max(1, (1 << 20) // max(1, rgb.shape[1]))  # ~1 M pixels at a time
    for top in range(0, rgb.shape[0], band):
        chunk = rgb[top : top + band, :, :3].astype(np.float32)
        grey[top : top + band] = np.tensordot(chunk, _LUMA, axes=([-1], [0]))
    if float((spread > tol).mean()) > 0.001:
        warnings.append(
            f"{name}: colour image converted to grey (luminance). A radiograph should be grey; check "
            "that this is the intended film."
        )
    return grey
