"""PNG, JPEG and TIFF films (Pillow; tifffile for TIFF; OpenCV for 16-bit colour PNG).

A raster file has no VOI window of its own, so the loader gives it one that shows the file exactly
as stored: the full nominal range of its bit depth ("file range": centre 127.5, width 256 for 8-bit,
so pixel value v is displayed as v/255). The training radiographs are 8-bit JPEGs: the model must
see them exactly as the reader does, without any contrast stretch.

- 8-bit: window 0..255.
- 16-bit integer: window 0..2**b - 1 where b is the depth the data actually use (8, 10, 12, 14 or
  16 bits: a 16-bit PNG often carries 12-bit detector values, which a 0..65535 window shows black).
- signed integer: the data range.
- float (TIFF): NaN/inf are replaced by the finite extremes (with a warning); window = finite range.
- colour with grey content: one channel; real colour: luminance and a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import FilmLoadError, FilmTooLargeError, OsteoError
from ..film import Film, Window
from .common import (
    JPEG,
    PNG,
    TIFF,
    check_dimensions,
    colour_to_grey,
    data_range_window,
    effective_bits,
    nominal_window,
)

log = logging.getLogger(__name__)


def load_raster(path: Path, kind: str, *, max_pixels: int) -> Film:
    """Load a PNG, JPEG or TIFF file (`kind` as sniffed from its content)."""
    path = Path(path)
    warnings: list[str] = []
    photometric = "MONOCHROME2"
    arr: np.ndarray | None = None
    if kind == TIFF:
        arr, photometric = _read_tiff(path, max_pixels, warnings)
    elif kind == PNG and _is_16bit_colour_png(path):
        arr = _read_png16_colour(path, max_pixels)
    if arr is None:
        arr = _read_pillow(path, kind, max_pixels, warnings)

    pixels, window, bits = _to_grey_film_values(arr, path.name, warnings)
    film = Film(
        path=path,
        pixels=pixels,
        photometric=photometric,
        windows=(window,),
        source_format=kind,
        bits_stored=bits,
        warnings=warnings,
    )
    log.debug("loaded %s %s: %dx%d, %d-bit, %d warning(s)", kind, path.name, film.shape[1], film.shape[0], bits, len(warnings))
    return film


# --------------------------------------------------------------------------------------------
# Readers: each returns the stored array (rows, cols) or (rows, cols, channels)
# --------------------------------------------------------------------------------------------


def _decode_error(path: Path, kind: str, e: BaseException) -> FilmLoadError:
    return FilmLoadError(
        f"{path}: the {kind} image could not be decoded ({' '.join(str(e).split())[:200] or type(e).__name__}). "
        "The file is probably truncated or damaged; copy or export it again."
    )


def _read_pillow(path: Path, kind: str, max_pixels: int, warnings: list[str]) -> np.ndarray:
    try:
        with open(path, "rb") as fh, Image.open(fh) as im:
            width, height = im.size
            check_dimensions(path, height, width, max_pixels)
            if getattr(im, "n_frames", 1) > 1:
                warnings.append(f"{path.name}: the file holds {im.n_frames} images; only the first one is used.")
            im.load()
            if kind == JPEG:
                im = ImageOps.exif_transpose(im)  # as every viewer (and cv2.imread) shows it
            return _pillow_to_array(im)
    except OsteoError:
        raise
    except Image.DecompressionBombError as e:
        raise FilmTooLargeError(
            f"{path}: the image is too large to open safely ({e}). Downsample it before opening."
        ) from e
    except MemoryError as e:
        raise FilmLoadError(f"{path}: not enough memory to decode the image. Close other films and retry.") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise _decode_error(path, kind, e) from e


def _pillow_to_array(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode == "1":
        im = im.convert("L")
    elif mode in ("P", "PA"):
        im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16, copy=False)
    return np.asarray(im)


def _is_16bit_colour_png(path: Path) -> bool:
    """Pillow reduces 16-bit RGB(A) PNGs to 8 bits; check the IHDR (bit depth, colour type)."""
    with open(path, "rb") as fh:
        head = fh.read(33)
    return len(head) >= 26 and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 6)


def _read_png16_colour(path: Path, max_pixels: int) -> np.ndarray:
    import cv2  # only for this rare case

    with open(path, "rb") as fh:
        head = fh.read(24)
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    check_dimensions(path, height, width, max_pixels)
    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise _decode_error(path, PNG, ValueError("OpenCV could not decode it"))
    if arr.ndim == 3:  # OpenCV's BGR(A) -> RGB(A)
        arr = arr[..., [2, 1, 0, 3]] if arr.shape[2] == 4 else arr[..., ::-1]
    return arr


def _read_tiff(path: Path, max_pixels: int, warnings: list[str]) -> tuple[np.ndarray | None, str]:
    """First page through tifffile; (None, ...) when tifffile lacks the codec (Pillow then tries)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            check_dimensions(path, int(page.imagelength), int(page.imagewidth), max_pixels)
            n_pages = len(tf.pages)
            photometric_tag = int(page.photometric) if page.photometric is not None else 1
            if photometric_tag == 3:  # palette: let Pillow apply the colour map
                return None, "MONOCHROME2"
            try:
                arr = page.asarray()
            except (KeyError, ValueError, NotImplementedError, RuntimeError) as e:
                log.debug("tifffile cannot decode %s (%s); trying Pillow", path.name, e)
                return None, "MONOCHROME2"
            planar_separate = int(getattr(page, "planarconfig", 1) or 1) == 2
    except OsteoError:
        raise
    except MemoryError as e:
        raise FilmLoadError(f"{path}: not enough memory to decode the image. Close other films and retry.") from e
    except Exception as e:  # tifffile.TiffFileError, struct.error, EOFError, OSError...
        raise _decode_error(path, TIFF, e) from e
    if n_pages > 1:
        warnings.append(f"{path.name}: the TIFF holds {n_pages} pages; only the first one is used.")
    arr = np.squeeze(arr) if arr.ndim > 2 and 1 in arr.shape[: arr.ndim - 2] else arr
    if arr.ndim == 3 and planar_separate and arr.shape[0] in (2, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim not in (2, 3):
        raise FilmLoadError(f"{path}: the TIFF's first page has shape {arr.shape}, not a 2-D image.")
    # TIFF MinIsWhite (0) means low values are bright, as DICOM MONOCHROME1: display inverts once.
    return arr, "MONOCHROME1" if photometric_tag == 0 and arr.ndim == 2 else "MONOCHROME2"


# --------------------------------------------------------------------------------------------
# Stored values -> grey float32 + the window that shows them as stored
# --------------------------------------------------------------------------------------------


def _to_grey_film_values(arr: np.ndarray, name: str, warnings: list[str]) -> tuple[np.ndarray, Window, int]:
    kind = arr.dtype.kind
    if kind == "b":
        arr = arr.astype(np.uint8) * np.uint8(255)
        kind = "u"
    if kind == "f":
        return _float_values(arr, name, warnings)
    if kind not in ("u", "i"):
        raise FilmLoadError(f"{name}: unsupported pixel type {arr.dtype}.")

    if kind == "i" and arr.size and int(arr.min()) < 0:
        grey = _grey(arr, float(np.iinfo(arr.dtype).max), name, warnings)
        return grey, data_range_window(grey), arr.dtype.itemsize * 8
    colour = arr[..., :-1] if arr.ndim == 3 and arr.shape[-1] in (2, 4) else arr  # not the alpha channel
    max_value = int(colour.max()) if colour.size else 0
    bits = 8 if arr.dtype.itemsize == 1 else effective_bits(max_value)
    if max_value >= (1 << 16):  # 32-bit unsigned data beyond 16 bits: show the data range
        grey = _grey(arr, float(max_value), name, warnings)
        return grey, data_range_window(grey), arr.dtype.itemsize * 8
    grey = _grey(arr, float((1 << bits) - 1), name, warnings)
    return grey, nominal_window(bits), bits


def _grey(arr: np.ndarray, max_value: float, name: str, warnings: list[str]) -> np.ndarray:
    if arr.ndim == 2:
        return arr.astype(np.float32)
    return colour_to_grey(arr, max_value, name, warnings)


def _float_values(arr: np.ndarray, name: str, warnings: list[str]) -> tuple[np.ndarray, Window, int]:
    bits = arr.dtype.itemsize * 8
    a = arr.astype(np.float32) if arr.dtype != np.float32 else np.array(arr, dtype=np.float32)
    if a.ndim == 3:
        a = colour_to_grey(a, 1.0, name, warnings)
    finite = np.isfinite(a)
    if not finite.all():
        if not finite.any():
            raise FilmLoadError(f"{name}: every pixel is NaN or infinite; the image holds no data. Export it again.")
        lo, hi = float(a[finite].min()), float(a[finite].max())
        n_bad = int(a.size - np.count_nonzero(finite))
        np.nan_to_num(a, copy=False, nan=lo, posinf=hi, neginf=lo)
        warnings.append(
            f"{name}: {n_bad} pixel(s) were NaN or infinite; they are shown as the lowest (NaN, -inf) or "
            "highest (+inf) finite value."
        )
    return a, data_range_window(a), bits
