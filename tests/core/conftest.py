"""Shared fixtures of the core tests: the shared DICOM samples, synthetic DICOM makers, helpers.

The real samples live in `shared/` beside the repository root (never copied into the project). Tests
that need them skip, with the reason, only when that folder is absent.

Test modules get the helpers through the `helpers` fixture (not `import conftest`, which is
ambiguous when several test folders have a conftest.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared").resolve()
SAMPLES = SHARED / "dicom-samples"
DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation


def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared DICOM samples not found at {SAMPLES} (the 'shared' folder beside the checkout)")
    return SAMPLES


def sample(rel: str) -> Path:
    p = samples_dir() / rel
    if not p.is_file():
        pytest.skip(f"shared sample {rel} is missing from {SAMPLES}")
    return p


def testdata(name: str) -> Path:
    """A file of pydicom's or pydicom-data's test data (skip if pydicom-data is not installed)."""
    from pydicom.data import get_testdata_file

    try:
        p = get_testdata_file(name)
    except Exception as e:  # pydicom-data missing or its store unavailable
        pytest.skip(f"pydicom test file {name} unavailable: {e}")
    if p is None:
        pytest.skip(f"pydicom test file {name} not found (is pydicom-data installed?)")
    return Path(p)


@functools.lru_cache(maxsize=32)
def cached_film(path: Path):
    """Load a read-only sample once per test session (decoding the big ones costs ~0.5 s each)."""
    from osteo_desktop.core.loading import load_film

    return load_film(path)


def make_dicom(
    path: Path,
    pixels: np.ndarray | None = None,
    *,
    preamble: bool = True,
    transfer_syntax: str = ExplicitVRLittleEndian,
    **tags,
) -> Path:
    """Write a small DX DICOM file. `pixels` (rows, cols) or (frames, rows, cols) uint8/uint16/int16;
    None writes no pixel data at all. Keyword arguments set any other tag (None deletes it)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.MediaStorageSOPClassUID = tags.get("SOPClassUID", DX_SOP_CLASS)
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Test^Patient"
    ds.PatientID = "P-0001"
    ds.PatientBirthDate = "19500101"
    ds.Modality = "DX"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    if pixels is not None:
        arr = np.asarray(pixels)
        frames = arr.shape[0] if arr.ndim == 3 else 1
        ds.Rows, ds.Columns = arr.shape[-2], arr.shape[-1]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = arr.dtype.itemsize * 8
        ds.BitsStored = ds.BitsAllocated if arr.dtype.itemsize == 1 else 12
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
        if frames > 1:
            ds.NumberOfFrames = frames
        ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    for key, value in tags.items():
        if value is None:
            if key in ds:
                delattr(ds, key)
        else:
            setattr(ds, key, value)
    if preamble:
        private = UID(transfer_syntax).is_private  # unknown syntaxes: say how to encode it
        ds.save_as(path, enforce_file_format=True, **({"implicit_vr": False, "little_endian": True} if private else {}))
    else:  # a bare data set: no preamble, no file meta
        del ds.file_meta
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
    return path


def ramp(rows: int = 64, cols: int = 64, maximum: int = 4095, dtype=np.uint16) -> np.ndarray:
    """A horizontal ramp 0..maximum plus a vertical ripple: every row differs, no constant image."""
    x = np.linspace(0, maximum, cols)
    y = (np.arange(rows) % 7)[:, None] * (maximum // 64)
    return np.clip(x[None, :] + y, 0, maximum).astype(dtype)


def file_state(path: Path) -> tuple[str, int]:
    """sha256 of the bytes and the modification time (ns): a load must leave both unchanged."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), os.stat(path).st_mtime_ns


def correlation(a: np.ndarray, b: np.ndarray, step: int = 4) -> float:
    a = np.asarray(a, dtype=np.float64)[::step, ::step].ravel()
    b = np.asarray(b, dtype=np.float64)[::step, ::step].ravel()
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture
def helpers() -> SimpleNamespace:
    return SimpleNamespace(
        SAMPLES=SAMPLES,
        sample=sample,
        testdata=testdata,
        cached_film=cached_film,
        make_dicom=make_dicom,
        ramp=ramp,
        file_state=file_state,
        correlation=correlation,
    )
