"""Loading films: `load_film(path)` recognises a file by its content and returns a `Film`.

- DICOM (with the 'DICM' preamble, or a bare data set pydicom can read) -> `loading.dicom`.
- PNG, JPEG, TIFF (by their magic bytes, whatever the extension) -> `loading.raster`.

Bad input never crashes the caller with anything but a `FilmLoadError` (or its subclasses
`DecoderMissingError`, `FilmTooLargeError`) whose message starts with the file's path and says what
to do. Files are only opened for reading.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import FilmLoadError, OsteoError
from ..film import Film
from ..text import escape_controls, has_controls
from .budget import DEFAULT_MAX_BYTES
from .common import (
    DEFAULT_MAX_PIXELS,
    DICOM,
    JPEG,
    MIN_SIDE,
    PNG,
    RASTER_KINDS,
    RAW_DICOM,
    TIFF,
    read_head,
    sniff,
)

log = logging.getLogger(__name__)

__all__ = ["load_film", "sniff_file", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "MIN_SIDE", "DICOM", "PNG", "JPEG", "TIFF"]


def sniff_file(path: str | os.PathLike[str]) -> str:
    """What a file's first bytes say it is: "DICOM", "PNG", "JPEG", "TIFF", or "" (unknown).

    A data set without the DICOM preamble is reported as "DICOM" only if pydicom can read it.
    OS errors (missing, folder, permission) raise FilmLoadError.
    """
    p = Path(path)
    kind = sniff(read_head(p))
    if kind == RAW_DICOM:
        return DICOM if _readable_without_preamble(p) else ""
    return kind


def load_film(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES
) -> Film:
    """Load one radiograph (DICOM, PNG, JPEG or TIFF). Raises FilmLoadError (and subclasses).

    `max_bytes` is the memory budget of one film (`loading.budget`), checked from the header before
    any pixel is decoded, on every decode path.
    """
    p = Path(path)
    try:
        return _load(p, max_pixels, max_bytes)
    except OsteoError as e:
        if has_controls(str(e)):  # one line, no escape sequence from a file name or a tag value
            raise type(e)(escape_controls(str(e))) from e
        raise
    except MemoryError as e:
        raise FilmLoadError(f"{p}: not enough memory to load the image. Close other films and retry.") from e
    except Exception as e:  # last line of defence: a bad file must never crash the viewer
        log.warning("unexpected %s loading %s (a loader bug: please report it)", type(e).__name__, p.name)
        log.debug("traceback of the unexpected error loading %s", p.name, exc_info=True)
        raise FilmLoadError(
            f"{p}: could not be loaded ({type(e).__name__}: {e}). The file may be damaged; export it again."
        ) from e


def _load(p: Path, max_pixels: int, max_bytes: int) -> Film:
    if p.is_dir():
        raise FilmLoadError(f"{p}: is a folder, not an image file. Open the films inside it (Open folder).")
    head = read_head(p)  # FileNotFoundError / PermissionError -> FilmLoadError
    if not head:
        raise FilmLoadError(f"{p}: the file is empty (0 bytes). It was probably not copied completely; copy it again.")
    kind = sniff(head)
    if kind == DICOM:
        from .dicom import load_dicom

        return load_dicom(p, max_pixels=max_pixels, max_bytes=max_bytes)
    if kind in RASTER_KINDS:
        from .raster import load_raster

        return load_raster(p, kind, max_pixels=max_pixels, max_bytes=max_bytes)
    if kind == RAW_DICOM and _readable_without_preamble(p):
        from .dicom import load_dicom

        return load_dicom(p, max_pixels=max_pixels, force=True, max_bytes=max_bytes)
    suffix = p.suffix.lower()
    if suffix in (".dcm", ".dicom", ".dic", ".ima"):
        raise FilmLoadError(
            f"{p}: is named like a DICOM file but is not one (no 'DICM' marker, and it is not a DICOM data "
            "set). Check that the file was exported as DICOM, not renamed from another format."
        )
    raise FilmLoadError(
        f"{p}: is not a DICOM, PNG, JPEG or TIFF image (unrecognised content). Open a radiograph in one of "
        "those formats."
    )


def _readable_without_preamble(p: Path) -> bool:
    """A bare DICOM data set (no preamble): pydicom reads its header and finds image or SOP tags."""
    from .dicom_read import read_dicom

    try:  # within the budget: a deflated header is inflated in steps here too
        ds = read_dicom(p, force=True, stop_before_pixels=True, max_bytes=DEFAULT_MAX_BYTES)
        return any(k in ds for k in ("SOPClassUID", "Rows", "Modality", "StudyInstanceUID"))
    except Exception:
        return False
