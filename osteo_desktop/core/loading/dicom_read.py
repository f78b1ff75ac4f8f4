"""Reading a DICOM data set within the memory budget (`loading.budget`).

pydicom inflates a *Deflated Explicit VR Little Endian* data set whole, in one `zlib.decompress`,
before it parses a single tag: a few megabytes can inflate to gigabytes. Here deflated data is
inflated in steps instead: the header (everything before the pixel data) is parsed from the first
megabyte, its declared image size is checked against the budget, and inflation stops for good at
`budget.max_inflated_bytes`. Other transfer syntaxes go straight to `pydicom.dcmread`.

`decode_size(ds)` is the one place that turns a DICOM header into the `DecodeSize` the budget
checks (samples, bytes per sample, frames, palette expansion, float pixel data).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

import pydicom
from pydicom.dataset import Dataset, FileDataset
from pydicom.filebase import DicomBytesIO
from pydicom.uid import DeflatedExplicitVRLittleEndian

from ..errors import FilmLoadError
from .budget import HEADER_ALLOWANCE, DecodeSize, bytes_per_sample, check_inflated

log = logging.getLogger(__name__)

PEEK_BYTES = 1 << 20  # inflate this much first: enough for any ordinary header
_CHUNK = 1 << 16


def _int(ds: Dataset, keyword: str, default: int) -> int:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError, OverflowError):
        return default


def decode_size(ds: Dataset) -> DecodeSize:
    """The decoded size a header declares (palette images count as 16-bit RGB, as they end up)."""
    rows, cols = _int(ds, "Rows", 0), _int(ds, "Columns", 0)
    frames = max(1, _int(ds, "NumberOfFrames", 1))
    samples = max(1, _int(ds, "SamplesPerPixel", 1))
    if "DoubleFloatPixelData" in ds:
        nbytes = 8
    elif "FloatPixelData" in ds:
        nbytes = 4
    else:
        nbytes = bytes_per_sample(_int(ds, "BitsAllocated", 8))
    try:
        photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    except Exception:
        photometric = ""
    if photometric == "PALETTE COLOR":
        samples, nbytes = 3, max(nbytes, 2)
    return DecodeSize(rows=rows, cols=cols, samples=samples, bytes_per_sample=nbytes, frames=frames)


def read_dicom(
    path: Path,
    *,
    force: bool = False,
    defer_size: int | None = None,
    stop_before_pixels: bool = False,
    max_bytes: int,
    check_header: Callable[[Dataset], None] | None = None,
) -> Dataset:
    """`pydicom.dcmread`, except that deflated data is inflated in steps, within the budget.

    `check_header(ds)` is called on the deflated data set's header (parsed from its first megabyte)
    before the rest is inflated; it raises to refuse the file. With `stop_before_pixels` at most the
    header allowance is inflated. pydicom's own exceptions propagate.
    """
    meta, preamble, offset = _file_meta(path, force)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax != DeflatedExplicitVRLittleEndian:
        return pydicom.dcmread(str(path), force=force, defer_size=defer_size, stop_before_pixels=stop_before_pixels)
    return _read_deflated(path, meta, preamble, offset, stop_before_pixels, max_bytes, check_header)


def _file_meta(path: Path, force: bool) -> tuple[Any, bytes | None, int]:
    """(file meta group, preamble, offset of the data set) without reading the data set."""
    from pydicom.filereader import _read_file_meta_info, read_preamble

    with open(path, "rb") as fp:
        preamble = read_preamble(fp, force)
        meta = _read_file_meta_info(fp)
        return meta, preamble, fp.tell()


def _parse(buf: bytes, stop_at_pixels: bool) -> Dataset:
    from pydicom.filereader import _at_pixel_data, read_dataset

    fp = cast(BinaryIO, DicomBytesIO(buf))  # pydicom reads DicomBytesIO; its annotation says BinaryIO
    return read_dataset(fp, False, True, stop_when=_at_pixel_data if stop_at_pixels else None)


def _read_deflated(path: Path, meta: Any, preamble: bytes | None, offset: int, stop_before_pixels: bool,
                   max_bytes: int, check_header: Callable[[Dataset], None] | None) -> Dataset:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    checked = check_header is None
    with open(path, "rb") as fp:
        fp.seek(offset)
        pending = b""
        while True:
            if not pending:
                pending = fp.read(_CHUNK)
                if not pending:
                    out += inflater.flush()
                    break
            # never more than one step beyond the limit: a bomb is stopped after `limit` bytes
            out += inflater.decompress(pending, _CHUNK * 16)
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
            if stop_before_pixels and len(out) >= HEADER_ALLOWANCE:
                break  # the header ends well before this; pixel data is not read anyway
            check_inflated(path, len(out), max_bytes)
            if not checked and check_header is not None and len(out) >= PEEK_BYTES:
                checked = True
                _check_partial_header(out, check_header)
    if not stop_before_pixels:
        check_inflated(path, len(out), max_bytes)
    if not out:
        raise FilmLoadError(f"{path}: the deflated DICOM data set is empty or not deflate data; the file is damaged.")
    if not checked and check_header is not None:
        _check_partial_header(out, check_header)
    data = bytes(out)
    del out
    dataset = _parse(data, stop_before_pixels)
    del data
    buffer = DicomBytesIO(b"")
    buffer.name = str(path)
    ds = FileDataset(buffer, dataset, preamble, meta, False, True)
    ds.set_original_encoding(False, True, dataset._character_set)
    log.debug("%s: deflated data set inflated within the budget", path.name)
    return ds


def _check_partial_header(buf: bytearray, check_header: Callable[[Dataset], None]) -> None:
    """Parse what has been inflated up to the pixel data, and let the caller check it."""
    try:
        header = _parse(bytes(buf[:PEEK_BYTES * 4]), stop_at_pixels=True)
    except Exception as e:  # a header longer than the peek, or damaged: the full parse will say
        log.debug("deflated header not parseable from the first %d bytes: %s", len(buf), e)
        return
    check_header(header)
