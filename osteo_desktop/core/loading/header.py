"""A film's header without its pixels: what the study browser lists (patient, study, kind, size).

DICOM: the data set up to the pixel data (`stop_before_pixels`, within the memory budget for
deflated files); PNG, JPEG and TIFF: the image header Pillow reads without decoding. Listing a
folder of a hundred films this way takes a fraction of a second, where decoding them takes tens.
Errors are `FilmLoadError`s that start with the file's path, like the loader's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FilmLoadError, OsteoError
from ..film import FilmIdentifiers, patient_key
from .budget import DEFAULT_MAX_BYTES
from .common import DICOM, RASTER_KINDS, RAW_DICOM, read_head, sniff


@dataclass(frozen=True)
class FilmHeader:
    """What a film's header says; the same naming as `Film` where they overlap."""

    path: Path
    source_format: str  # "DICOM", "PNG", "JPEG", "TIFF"
    rows: int = 0
    cols: int = 0
    ids: FilmIdentifiers = field(default_factory=FilmIdentifiers)
    transfer_syntax: str = ""  # DICOM transfer syntax name
    frame_count: int = 1

    @property
    def is_dicom(self) -> bool:
        return self.source_format == DICOM

    @property
    def patient_key(self) -> str:
        """Groups films by patient, as `Film.patient_key` does."""
        return patient_key(self.ids, self.path)

    @property
    def display_name(self) -> str:
        return self.path.name

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols


def read_header(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> FilmHeader:
    """The header of one film (no pixel is decoded). Raises FilmLoadError."""
    p = Path(path)
    if p.is_dir():
        raise FilmLoadError(f"{p}: is a folder, not an image file. Open the films inside it (Open folder).")
    head = read_head(p)
    if not head:
        raise FilmLoadError(f"{p}: the file is empty (0 bytes). It was probably not copied completely; copy it again.")
    kind = sniff(head)
    try:
        if kind in (DICOM, RAW_DICOM):
            return _dicom_header(p, force=kind == RAW_DICOM, max_bytes=max_bytes)
        if kind in RASTER_KINDS:
            return _raster_header(p, kind)
    except OsteoError:
        raise
    except Exception as e:  # a damaged header: say so, never crash the listing
        raise FilmLoadError(f"{p}: the file's header cannot be read ({type(e).__name__}: {e}). "
                            "The file may be damaged; copy or export it again.") from e
    raise FilmLoadError(f"{p}: is not a DICOM, PNG, JPEG or TIFF image (unrecognised content). Open a radiograph "
                        "in one of those formats.")


def _dicom_header(p: Path, *, force: bool, max_bytes: int) -> FilmHeader:
    from pydicom.uid import UID

    from .dicom_read import read_dicom
    from .dicom_tags import identifiers, tag_int, tag_str

    try:
        ds = read_dicom(p, force=force, stop_before_pixels=True, max_bytes=max_bytes)
    except FilmLoadError:
        raise
    except PermissionError as e:
        raise FilmLoadError(f"{p}: permission denied, the file cannot be read. Ask for read access.") from e
    except Exception as e:
        raise FilmLoadError(f"{p}: not a readable DICOM file ({type(e).__name__}: {e}). Check that it is a DICOM "
                            "image; export it again from the PACS or the modality.") from e
    if force and not any(k in ds for k in ("SOPClassUID", "Rows", "Modality", "StudyInstanceUID")):
        raise FilmLoadError(f"{p}: is not a DICOM, PNG, JPEG or TIFF image (unrecognised content).")
    if "DirectoryRecordSequence" in ds:
        raise FilmLoadError(f"{p}: is a DICOMDIR (the index of a DICOM folder or CD), not an image. Open the folder "
                            "that holds it instead.")
    rows, cols = tag_int(ds, "Rows"), tag_int(ds, "Columns")
    if rows <= 0 or cols <= 0:
        modality = tag_str(ds, "Modality")
        raise FilmLoadError(f"{p}: this DICOM file holds no image{' (modality ' + modality + ')' if modality else ''}. "
                            "Choose the radiograph itself (a CR or DX image).")
    meta = getattr(ds, "file_meta", None)
    tsyntax = ""
    try:
        uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
        tsyntax = UID(str(uid)).name if uid else ""
    except Exception:
        tsyntax = ""
    return FilmHeader(p, DICOM, rows, cols, identifiers(ds), tsyntax, max(1, tag_int(ds, "NumberOfFrames", 1)))


def _raster_header(p: Path, kind: str) -> FilmHeader:
    from PIL import Image

    from .raster import warnings_off

    with open(p, "rb") as fh, warnings_off(Image.DecompressionBombWarning), Image.open(fh) as im:
        cols, rows = im.size
        frames = int(getattr(im, "n_frames", 1) or 1)
    return FilmHeader(p, kind, rows, cols, frame_count=frames)
