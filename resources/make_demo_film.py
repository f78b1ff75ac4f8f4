"""Rebuild resources/demo/knee_demo.dcm from the shared knee data (run once; the output is committed).

The demo film is image K002 of the Wani & Arora knee set (see resources/demo/ATTRIBUTION.md). Its
JPEG bytes are wrapped unchanged (JPEG Baseline transfer syntax) in a DICOM Secondary Capture with
neutral demo identifiers: no identifier of the original patient is present (the public copy had none;
the age and sex kept here are those listed in the data set's manifest).

    python resources/make_demo_film.py [--data ../shared/data/knee]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path

import pydicom
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, SecondaryCaptureImageStorage, generate_uid

HERE = Path(__file__).resolve().parent
IMAGE_ID = "K002"
# Fixed UIDs keep the committed file reproducible byte for byte (derived from a fixed entropy source).
UID_SEED = "osteo-desktop-demo-film-v1"


def build(data_dir: Path, out: Path) -> Path:
    rows = {r["image_id"]: r for r in csv.DictReader(open(data_dir / "manifest.csv", newline=""))}
    row = rows[IMAGE_ID]
    jpeg_path = data_dir / row["file"]
    jpeg = jpeg_path.read_bytes()
    with Image.open(jpeg_path) as im:
        if im.mode != "L" or im.info.get("progressive"):
            raise SystemExit(f"{jpeg_path}: expected a baseline greyscale JPEG, got mode {im.mode}")
        cols, rows_ = im.size

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[UID_SEED, "sop"])
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = FileDataset(str(out), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[UID_SEED, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[UID_SEED, "series"])
    ds.PatientName = "DEMO^KNEE"
    ds.PatientID = "OSTEO-DEMO-001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "M" if row["sex"] == "male" else "F"
    ds.PatientAge = f"{int(row['age']):03d}Y"
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.StudyDescription = "DEMO knee radiograph (research data, not a patient record)"
    ds.SeriesDescription = "Knees AP (demo)"
    ds.AccessionNumber = "DEMO0001"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Modality = "DX"
    ds.ConversionType = "DI"
    ds.BodyPartExamined = "KNEE"
    ds.ViewPosition = "AP"
    ds.ImageLaterality = "B"
    ds.Manufacturer = "osteo-desktop demo (converted from JPEG)"
    ds.ImageComments = "Wani & Arora 2023 knee set, image K002; research use only; see ATTRIBUTION.md"
    ds.DerivationDescription = "Lossy JPEG from a public research data set wrapped unchanged in DICOM"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.BurnedInAnnotation = "YES"  # the film carries its own R/L side markers
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "Demo identifiers only; source set had pseudonymous IDs"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows_, cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    # The stored 8-bit range, shown as stored: the same picture as the JPEG the model was trained on
    # (LINEAR window 128/256 maps value v to v/255 exactly).
    ds.WindowCenter = 128
    ds.WindowWidth = 256
    ds.WindowCenterWidthExplanation = "FULL 8-BIT RANGE"
    ds.InstanceCreationDate = dt.date(2026, 1, 1).strftime("%Y%m%d")
    ds.PixelData = encapsulate([jpeg])
    ds["PixelData"].VR = "OB"
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    check = pydicom.dcmread(out)
    assert check.pixel_array.shape == (rows_, cols)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "knee")
    ap.add_argument("--out", type=Path, default=HERE / "demo" / "knee_demo.dcm")
    a = ap.parse_args()
    print(build(a.data, a.out))
