"""Thumbnails at reduced resolution: a study browser's picture of a film, without decoding it whole.

* JPEG 2000 (DICOM transfer syntaxes 1.2.840.10008.1.2.4.90/91/201-203): the codestream's own
  reduced-resolution decode (only the wavelet levels a thumbnail needs are decoded; Pillow's
  openjpeg `reduce`).
* JPEG (baseline DICOM frames and JPEG files): libjpeg's DCT scaling (1/2, 1/4 or 1/8 of the size
  while decoding; Pillow's `draft`).
* Anything else (uncompressed, RLE, JPEG-LS, lossless JPEG, PNG, TIFF): the film is loaded by the
  core loader and scaled down.

The picture is the film's default display (`core.display`: modality values, the file's window or
VOI LUT, MONOCHROME1 inverted), bone bright, uint8, at most `size` pixels on its longer side. The
memory budget of the loader applies (the header's declared size is checked first). Errors are
`FilmLoadError`s.
"""

from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path

import numpy as np

from ..errors import OsteoError
from ..film import Film
from .budget import DEFAULT_MAX_BYTES
from .common import DEFAULT_MAX_PIXELS, DICOM, JPEG, RAW_DICOM, read_head, sniff

log = logging.getLogger(__name__)

THUMB_SIZE = 96
_J2K_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
                           "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"})
_JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


def fit(u8: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """Area-averaged down-scaling so that the longer side is at most `size` (never up-scaled)."""
    import cv2

    h, w = u8.shape[:2]
    s = min(size / h, size / w, 1.0)
    if s >= 1.0:
        return np.ascontiguousarray(u8)
    return cv2.resize(u8, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def display_u8(film: Film) -> np.ndarray:
    """The film's default display as uint8, bone bright (what the viewer shows first)."""
    from ..display import render, to_uint8

    return to_uint8(render(film))


def make_thumbnail(path: str | os.PathLike[str], size: int = THUMB_SIZE, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """A film's thumbnail (uint8 grey, bone bright, longer side <= `size`). Raises FilmLoadError."""
    p = Path(path)
    kind = sniff(read_head(p))
    small: np.ndarray | None = None
    try:
        if kind == JPEG:
            small = _jpeg_file(p, size, max_bytes)
        elif kind in (DICOM, RAW_DICOM):
            small = _dicom_reduced(p, size, force=kind == RAW_DICOM, max_bytes=max_bytes)
    except OsteoError:
        raise
    except Exception as e:  # the reduced decode failed: the full decode below says what is wrong, or works
        log.debug("%s: reduced-resolution thumbnail failed (%s: %s); decoding it whole", p.name, type(e).__name__, e)
        small = None
    if small is None:
        from . import load_film

        small = display_u8(load_film(p, max_bytes=max_bytes))
    return fit(small, size)


def _reduce_for(rows: int, cols: int, size: int) -> int:
    """How many halvings keep the longer side at or above `size`."""
    longer = max(rows, cols)
    return max(0, int(math.floor(math.log2(longer / size)))) if longer > size else 0


def _jpeg_file(p: Path, size: int, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    from PIL import Image, ImageOps

    from .budget import check_decode_size
    from .raster import _pillow_size, warnings_off

    with open(p, "rb") as fh, warnings_off(Image.DecompressionBombWarning), Image.open(fh) as im:
        check_decode_size(p, _pillow_size(im), max_bytes)  # a film too big to open gets no thumbnail either
        if im.mode not in ("L", "RGB", "YCbCr", "CMYK"):
            raise ValueError(f"JPEG mode {im.mode}")  # 12-bit and the like: the loader decides
        im.draft("L", (size, size))  # DCT scaling: decodes at 1/2, 1/4 or 1/8 of the size
        grey = ImageOps.exif_transpose(im.convert("L"))
        return np.asarray(grey, dtype=np.uint8).copy()


def _dicom_reduced(p: Path, size: int, *, force: bool, max_bytes: int) -> np.ndarray | None:
    """The first frame at reduced resolution for JPEG 2000 / JPEG baseline DICOM; None for other
    transfer syntaxes (then the caller decodes the film whole)."""
    from pydicom.encaps import generate_frames

    from .dicom import _check_pixel_element, _check_size, _modality_values, _read_dataset, _transfer_syntax
    from .dicom_tags import tag_int, tag_str, voi_lut, windows

    ds = _read_dataset(p, force, DEFAULT_MAX_PIXELS, max_bytes)
    tsyntax = _transfer_syntax(ds, p)
    if str(tsyntax) not in _J2K_SYNTAXES and str(tsyntax) != _JPEG_BASELINE:
        return None
    photometric = tag_str(ds, "PhotometricInterpretation").upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2") or tag_int(ds, "PixelRepresentation") != 0:
        return None  # colour and signed data: the full decoder handles them
    if "PixelData" not in ds:
        return None  # the loader says what is missing
    _check_size(p, ds, DEFAULT_MAX_PIXELS, max_bytes)
    frames = max(1, tag_int(ds, "NumberOfFrames", 1))
    _check_pixel_element(p, ds, tsyntax, frames, max_bytes)
    frame = next(generate_frames(ds.PixelData, number_of_frames=frames))
    rows, cols = tag_int(ds, "Rows"), tag_int(ds, "Columns")
    if str(tsyntax) in _J2K_SYNTAXES:
        raw = _j2k_reduced(bytes(frame), _reduce_for(rows, cols, size))
    else:
        raw = _jpeg_scaled(bytes(frame), size)
    warnings: list[str] = []
    film = Film(path=p, pixels=_modality_values(raw, ds, p.name, warnings), photometric=photometric,
                presentation_lut_shape=tag_str(ds, "PresentationLUTShape").upper(),
                windows=windows(ds, p.name, warnings), voi_lut=voi_lut(ds, p.name, warnings), source_format=DICOM)
    return display_u8(film)


def _j2k_reduced(codestream: bytes, reduce: int) -> np.ndarray:
    """Decode a JPEG 2000 codestream `reduce` resolution levels down (fewer if it has fewer levels)."""
    from PIL import Image

    last: Exception | None = None
    for r in range(reduce, -1, -1):
        try:
            with Image.open(io.BytesIO(codestream)) as im:
                # Jpeg2KImageFile's `reduce` (typed as Image.reduce): openjpeg decodes only the levels needed
                setattr(im, "reduce", r)  # noqa: B010  (mypy: Image.reduce is a method; here it is the level)
                im.load()
                arr = np.asarray(im)
        except (OSError, ValueError, SyntaxError) as e:  # e.g. fewer resolution levels than asked
            last = e
            continue
        if arr.ndim != 2:
            raise ValueError(f"a {arr.ndim}-D JPEG 2000 picture")
        arr = arr.astype(np.uint16 if arr.dtype.itemsize > 1 else np.uint8, copy=False)
        precision = _j2k_precision(codestream)
        bits = arr.dtype.itemsize * 8
        if precision is not None and precision < bits:  # Pillow scales samples up to the full 8 or 16 bits
            arr = arr >> (bits - precision)
        return arr
    raise ValueError(f"the JPEG 2000 codestream cannot be decoded ({last})")


def _j2k_precision(codestream: bytes) -> int | None:
    """Bits per sample of the first component, from the SIZ marker right after SOC (None if absent)."""
    if len(codestream) < 43 or codestream[:4] != b"\xff\x4f\xff\x51":
        return None
    return (codestream[42] & 0x7F) + 1  # Ssiz: bits - 1 (the top bit says signed)


def _jpeg_scaled(data: bytes, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        if im.mode != "L":
            raise ValueError(f"JPEG mode {im.mode}")
        im.draft("L", (size, size))
        return np.asarray(im, dtype=np.uint8).copy()

