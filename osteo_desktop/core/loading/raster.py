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
import warnings as _warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import FilmLoadError, FilmTooLargeError, OsteoError
from ..film import Film, Window
from .budget import DEFAULT_MAX_BYTES, DecodeSize, bytes_per_sample, check_decode_size
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


def load_raster(path: Path, kind: str, *, max_pixels: int, max_bytes: int = DEFAULT_MAX_BYTES) -> Film:
    """Load a PNG, JPEG or TIFF file (`kind` as sniffed from its content).

    Each reader checks the header's size in pixels and against the memory budget in bytes
    (`loading.budget`) before it decodes anything.
    """
    path = Path(path)
    warnings: list[str] = []
    photometric = "MONOCHROME2"
    arr: np.ndarray | None = None
    if kind == TIFF:
        arr, photometric = _read_tiff(path, max_pixels, max_bytes, warnings)
    elif kind == PNG and _is_16bit_colour_png(path):
        arr = _read_png16_colour(path, max_pixels, max_bytes)
    if arr is None:
        arr = _read_pillow(path, kind, max_pixels, max_bytes, warnings)

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


@contextmanager
def warnings_off(category: type[Warning]) -> Iterator[None]:
    """Pillow warns about big images before our own budget check, which decides (and says why)."""
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", category)
        yield


def _pillow_size(im: Image.Image) -> DecodeSize:
    """Decoded size of a Pillow image in its mode (palette images count as RGBA, as they end up)."""
    from PIL import ImageMode

    width, height = im.size
    mode = "RGBA" if im.mode in ("P", "PA") else im.mode
    try:
        m = ImageMode.getmode(mode)
        samples, nbytes = len(m.bands), max(1, np.dtype(m.typestr).itemsize)
    except (KeyError, TypeError, ValueError):
        samples, nbytes = 4, 4  # an unusual mode: assume the widest
    return DecodeSize(rows=height, cols=width, samples=samples, bytes_per_sample=nbytes)


def _read_pillow(path: Path, kind: str, max_pixels: int, max_bytes: int, warnings: list[str]) -> np.ndarray:
    try:
        with open(path, "rb") as fh, warnings_off(Image.DecompressionBombWarning), Image.open(fh) as im:
            width, height = im.size
            check_decode_size(path, _pillow_size(im), max_bytes)
            check_dimensions(path, height, width, max_pixels)
            n_frames = int(getattr(im, "n_frames", 1))
            if n_frames > 1:
                warnings.append(f"{path.name}: the file holds {n_frames} images; only the first one is used.")
            im.load()
            shown: Image.Image = ImageOps.exif_transpose(im) if kind == JPEG else im  # as every viewer shows a JPEG
            return _pillow_to_array(shown)
    except OsteoError:
        raise
    except Image.DecompressionBombError as e:
        raise FilmTooLargeError(
            f"{path}: the image is too large to open safely ({e}). Downsample it before opening."
        ) from e
    except MemoryError as e:
        raise FilmLoadError(f"{path}: not enough memory to decode the image. Close other films and retry.") from e
    except Exception as e:  # Pillow's plugins raise OSError, SyntaxError, ValueError, TypeError, struct.error...
        if not isinstance(e, (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)):
            log.debug("Pillow raised %s on %s", type(e).__name__, path.name, exc_info=True)
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


def _read_png16_colour(path: Path, max_pixels: int, max_bytes: int) -> np.ndarray:
    import cv2  # only for this rare case

    with open(path, "rb") as fh:
        head = fh.read(26)
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    samples = 4 if head[25] == 6 else 3  # colour type 6: RGBA, 2: RGB (checked by the caller)
    check_decode_size(path, DecodeSize(rows=height, cols=width, samples=samples, bytes_per_sample=2), max_bytes)
    check_dimensions(path, height, width, max_pixels)
    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise _decode_error(path, PNG, ValueError("OpenCV could not decode it"))
    if arr.ndim == 3:  # OpenCV's BGR(A) -> RGB(A)
        arr = arr[..., [2, 1, 0, 3]] if arr.shape[2] == 4 else arr[..., ::-1]
    return arr


def _tiff_size(page) -> DecodeSize:
    """Decoded size of a TIFF page: every sample of every pixel (and every plane of a volume)."""
    rows, cols = int(page.imagelength), int(page.imagewidth)
    samples = max(1, int(page.samplesperpixel or 1)) * max(1, int(getattr(page, "imagedepth", 1) or 1))
    try:
        nbytes = max(1, np.dtype(page.dtype).itemsize) if page.dtype is not None else 0
    except TypeError:
        nbytes = 0
    if not nbytes:
        bits = page.bitspersample
        nbytes = bytes_per_sample(max(bits) if isinstance(bits, tuple) else int(bits or 8))
    return DecodeSize(rows=rows, cols=cols, samples=samples, bytes_per_sample=nbytes)


def _read_tiff(path: Path, max_pixels: int, max_bytes: int, warnings: list[str]) -> tuple[np.ndarray | None, str]:
    """First page through tifffile; (None, ...) when tifffile lacks the codec (Pillow then tries)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            check_decode_size(path, _tiff_size(page), max_bytes)
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
