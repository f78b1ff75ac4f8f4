"""The store's file layout and DICOM file handling (no database here).

Layout under the store folder::

    index.sqlite                                   the SQLite index (see database.py)
    studies/<Study UID>/<Series UID>/<SOP UID>.dcm one DICOM file (Part 10) per instance
    studies/<Study UID>/<Series UID>/<SOP UID>.<sha256[:16]>.dcm
                                                   a later copy with different content (a conflict)

UIDs are used as folder and file names only when they are valid DICOM UIDs (digits and dots, at most
64 characters); anything else a remote node sends is replaced by a hash, so no received value can
name a path outside the store.

A file's *content digest* is the sha256 of its data set, never of the file meta information (so the
same instance written by two programs with different file meta is recognised as identical). For the
uncompressed transfer syntaxes it is taken over one canonical encoding (explicit VR little endian),
since one instance may arrive in implicit VR once and in explicit VR the next time, as each
association negotiated; compressed data sets are compared as stored.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STUDIES_DIR = "studies"
DB_NAME = "index.sqlite"
SUFFIX = ".dcm"
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# explicit-VR elements with a 2-byte reserved field and a 4-byte length
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def safe_uid(uid: str) -> str:
    """`uid` when it is a valid DICOM UID, else a stable hash of it (never a path separator or '..')."""
    uid = (uid or "").strip().rstrip("\x00")
    if uid and len(uid) <= 64 and _UID_RE.match(uid):
        return uid
    return "x" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:40]


def instance_relpath(study_uid: str, series_uid: str, sop_uid: str, digest: str | None = None) -> str:
    """Path of an instance relative to the store folder (POSIX separators, as stored in the index)."""
    name = safe_uid(sop_uid) + (f".{digest[:16]}" if digest else "") + SUFFIX
    return f"{STUDIES_DIR}/{safe_uid(study_uid)}/{safe_uid(series_uid)}/{name}"


def dataset_offset(data: bytes) -> int:
    """Where the data set starts in a DICOM file's bytes: after the preamble, 'DICM' and the group
    0002 file meta elements (0 for a bare data set without a preamble)."""
    if len(data) < 132 or data[128:132] != b"DICM":
        return 0
    pos = 132
    while pos + 8 <= len(data):
        group = struct.unpack_from("<H", data, pos)[0]
        if group != 0x0002:
            break
        vr = data[pos + 4:pos + 6]
        if vr in _LONG_VRS:
            length = struct.unpack_from("<I", data, pos + 8)[0]
            pos += 12 + length
        else:
            length = struct.unpack_from("<H", data, pos + 6)[0]
            pos += 8 + length
    return min(pos, len(data))


def content_digest(file_bytes: bytes) -> str:
    """sha256 of a DICOM file's content (see the module docstring)."""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(file_bytes), force=True)
    except Exception:
        return hashlib.sha256(memoryview(file_bytes)[dataset_offset(file_bytes):]).hexdigest()
    return _digest(ds, file_bytes)


#: uncompressed syntaxes: the same data set may arrive in any of them (whatever the association
#: negotiated), so their content is compared in one canonical encoding
_UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}


def _normalise_sequences(ds: Any) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
                _normalise_sequences(item)


def _digest(ds: Any, file_bytes: bytes) -> str:
    """Compressed (or unknown) syntaxes: the data set's bytes as stored. Uncompressed ones: the data set
    re-encoded as explicit VR little endian with undefined-length sequences, so that an instance that
    came once in implicit and once in explicit VR is recognised as the same."""
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if ts in _UNCOMPRESSED:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_dataset

        try:
            _normalise_sequences(ds)
            fp = DicomBytesIO()
            fp.is_little_endian, fp.is_implicit_VR = True, False
            write_dataset(fp, ds)
            return hashlib.sha256(fp.getvalue()).hexdigest()
        except Exception:
            pass
    return hashlib.sha256(memoryview(file_bytes)[dataset_offset(file_bytes):]).hexdigest()


def part10_bytes(dataset_bytes: bytes, *, sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str,
                 source_aet: str = "") -> bytes:
    """A DICOM Part 10 file: preamble, 'DICM', file meta information, then the encoded data set
    exactly as received (never decoded and re-encoded)."""
    from pydicom import __version__ as pydicom_version
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {pydicom_version}"[:16]
    if source_aet:
        meta.SourceApplicationEntityTitle = source_aet[:16]
    buf = DicomBytesIO()
    buf.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buf, meta, enforce_standard=True)
    buf.write(dataset_bytes)
    return buf.getvalue()


def encode_dataset(ds: Any) -> bytes:
    """A pydicom Dataset (with file_meta) as Part 10 bytes."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@dataclass(frozen=True)
class InstanceHeader:
    """What the index keeps of an instance (empty strings for absent tags)."""

    sop_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession: str = ""
    modality: str = ""
    series_number: str = ""
    series_description: str = ""
    body_part: str = ""
    instance_number: str = ""
    manufacturer: str = ""
    transfer_syntax: str = ""
    has_pixels: bool = False


def _s(ds: Any, keyword: str) -> str:
    v = ds.get(keyword)
    if v is None:
        return ""
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return "\\".join(str(x) for x in v)
    return str(v).strip()


def _parse(source: bytes | str | Path) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    in_memory = isinstance(source, (bytes, bytearray))
    fp: Any = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)
    try:  # large values (the pixels) stay on disk when reading a file: only their presence matters here
        return pydicom.dcmread(fp, force=True, defer_size=None if in_memory else 1024)
    except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError, struct.error) as e:
        raise ValueError(f"not a readable DICOM instance ({e})") from e


def read_header(source: bytes | str | Path) -> InstanceHeader:
    """The index fields of a DICOM file (bytes or path). Raises ValueError when it is not a DICOM
    instance with SOP Instance, Study and Series UIDs."""
    return _header(_parse(source))


def inspect_instance(data: bytes) -> tuple[InstanceHeader, str]:
    """(index fields, content digest) of a DICOM file's bytes, parsed once. ValueError: see read_header."""
    ds = _parse(data)
    header = _header(ds)  # before the digest, which may normalise the data set
    return header, _digest(ds, data)


def _header(ds: Any) -> InstanceHeader:
    meta = getattr(ds, "file_meta", None)
    sop_uid = _s(ds, "SOPInstanceUID") or (_s(meta, "MediaStorageSOPInstanceUID") if meta is not None else "")
    sop_class = _s(ds, "SOPClassUID") or (_s(meta, "MediaStorageSOPClassUID") if meta is not None else "")
    try:
        study, series = _s(ds, "StudyInstanceUID"), _s(ds, "SeriesInstanceUID")
    except Exception as e:
        raise ValueError(f"not a readable DICOM instance ({e})") from e
    missing = [n for n, v in (("SOP Instance UID", sop_uid), ("Study Instance UID", study),
                              ("Series Instance UID", series)) if not v]
    if missing:
        raise ValueError(f"the data set has no {', '.join(missing)}")
    has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    return InstanceHeader(
        sop_uid=sop_uid,
        sop_class_uid=sop_class,
        study_uid=study,
        series_uid=series,
        patient_id=_s(ds, "PatientID"),
        patient_name=_s(ds, "PatientName"),
        birth_date=_s(ds, "PatientBirthDate"),
        sex=_s(ds, "PatientSex"),
        study_date=_s(ds, "StudyDate"),
        study_time=_s(ds, "StudyTime"),
        study_description=_s(ds, "StudyDescription"),
        accession=_s(ds, "AccessionNumber"),
        modality=_s(ds, "Modality"),
        series_number=_s(ds, "SeriesNumber"),
        series_description=_s(ds, "SeriesDescription"),
        body_part=_s(ds, "BodyPartExamined"),
        instance_number=_s(ds, "InstanceNumber"),
        manufacturer=_s(ds, "Manufacturer"),
        transfer_syntax=_s(meta, "TransferSyntaxUID") if meta is not None else "",
        has_pixels=has_pixels,
    )
