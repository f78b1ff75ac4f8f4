"""Small synthetic DICOM instances for the store and network tests (no shared data needed)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
CR = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography Image Storage
CT = "1.2.840.10008.5.1.4.1.1.2"


def pattern(rows: int, cols: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    img = 500 + 2500 * (x / cols) + 700 * (y / rows) + rng.integers(0, 60, size=(rows, cols))
    return np.clip(img, 0, 4095).astype(np.uint16)


def make_film(*, patient_id: str = "P-1", patient_name: str = "Test^Patient", study_uid: str | None = None,
              series_uid: str | None = None, sop_uid: str | None = None, study_date: str = "20240115",
              accession: str = "ACC1", modality: str = "DX", body_part: str = "KNEE", rows: int = 96, cols: int = 80,
              seed: int = 0, sop_class: str | None = None, series_number: int = 1, instance_number: int = 1,
              **tags) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class or (CT if modality == "CT" else CR if modality == "CR" else DX)
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19560203"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.AccessionNumber = accession
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = f"{body_part} XR"
    ds.SeriesDescription = f"{body_part} AP"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.Modality = modality
    ds.BodyPartExamined = body_part
    ds.ViewPosition = "AP"
    ds.ImageLaterality = "L"
    ds.PatientOrientation = ["L", "F"]
    ds.Manufacturer = "test-factory"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = [0.2, 0.2]
    ds.WindowCenter, ds.WindowWidth = 2000, 3000
    ds.PixelData = pattern(rows, cols, seed).tobytes()
    for k, v in tags.items():
        setattr(ds, k, v)
    return ds


def film_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_film(path: Path, **kw) -> Path:
    ds = make_film(**kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path
