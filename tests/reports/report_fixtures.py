"""Synthetic test material for the report tests: knee/spine-like pixels, DICOM files written with
pydicom (headers read back), PNG films, and predictions built directly (no model run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from osteo_desktop.core.eligibility import Eligibility
from osteo_desktop.core.film import Film, FilmIdentifiers, Spacing, SpacingSource, Window
from osteo_desktop.core.inference import CAM_OK, DECISION_NEGATIVE, DECISION_NOT_SCREENED, DECISION_POSITIVE, ModelInfo, Prediction
from osteo_desktop.core.score_bases import FilmScores, ScoreSpec

CLASSES = ("normal", "osteopenia", "osteoporosis")
MODEL = ModelInfo("osteo-test-model", "1.4.2-test", "ab12cd34ef56" + "0" * 52, "efficientnet_b0")
THRESHOLD = 0.5

PATIENT = dict(
    patient_name="Testperson^Hildegard^Maria",
    patient_id="PID-4711-XYZ",
    patient_birth_date="19480317",
    patient_sex="F",
    patient_age="076Y",
    accession_number="ACC-99887766",
    study_date="20240611",
    institution="St. Example Hospital",
)


def _blur(img: np.ndarray, k: int) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), k)


def knee_pixels(rows: int = 360, cols: int = 300, seed: int = 0) -> np.ndarray:
    """A knee-like picture in 12-bit values: soft tissue, femur above, tibia below, a joint space."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cx = cols / 2
    img = np.full((rows, cols), 300.0, np.float32)
    img += 700.0 * (np.abs(x - cx) < cols * 0.36)  # soft tissue
    femur = (np.abs(x - cx) < cols * (0.13 + 0.12 * np.clip((y - rows * 0.3) / (rows * 0.2), 0, 1))) & (y < rows * 0.48)
    tibia = (np.abs(x - cx) < cols * (0.24 - 0.10 * np.clip((y - rows * 0.55) / (rows * 0.2), 0, 1))) & (y > rows * 0.52)
    img += 1800.0 * femur + 1700.0 * tibia
    img += 500.0 * (((x - cx * 1.35) ** 2 / 20**2 + (y - rows * 0.42) ** 2 / 26**2) < 1)  # patella
    img = _blur(img, 2.0) + rng.normal(0, 40, img.shape).astype(np.float32)
    return np.clip(img, 0, 4095).astype(np.float32)


def spine_pixels(rows: int = 420, cols: int = 260, seed: int = 1) -> np.ndarray:
    """A lumbar-spine-like picture: five vertebral bodies with discs between, in soft tissue."""
    rng = np.random.default_rng(seed)
    img = np.full((rows, cols), 900.0, np.float32)
    h = rows / 6.0
    for i in range(5):
        top = int(rows * 0.06 + i * h)
        img[top : top + int(h * 0.78), int(cols * 0.3) : int(cols * 0.7)] += 1500.0
        img[top + int(h * 0.2) : top + int(h * 0.6), int(cols * 0.72) : int(cols * 0.85)] += 900.0
    img = _blur(img, 3.0) + rng.normal(0, 50, img.shape).astype(np.float32)
    return np.clip(img, 0, 4095).astype(np.float32)


def blob_cam(shape: tuple[int, int], cy: float = 0.5, cx: float = 0.5, sigma: float = 0.15) -> np.ndarray:
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cam = np.exp(-(((y / rows - cy) ** 2) + ((x / cols - cx) ** 2)) / (2 * sigma**2))
    return (cam / cam.max()).astype(np.float32)


VALIDATED = {"auc": 0.74, "auc_ci95": [0.60, 0.85]}
CHANCE = {"auc": 0.55, "auc_ci95": [0.40, 0.70]}


def make_prediction(probs: tuple[float, float, float], cam: np.ndarray | None = None, warnings=(), *,
                    anatomy: str | None = None, validated: bool = True, threshold: float = THRESHOLD) -> Prediction:
    """A screened film's result. `anatomy` None: what the tags say (the caller's films carry them)."""
    p = dict(zip(CLASSES, probs, strict=True))
    low = p["osteopenia"] + p["osteoporosis"]
    spec = ScoreSpec(anatomy or "overall", "image", threshold, "sensitivity >= 0.90 on validation",
                     metrics=VALIDATED if validated else CHANCE)
    return Prediction(
        class_names=CLASSES,
        probabilities=p,
        predicted_class=max(p, key=p.get),
        low_bmd_score=low,
        threshold=threshold,
        threshold_goal="sensitivity >= 0.90 on validation",
        decision=DECISION_POSITIVE if low >= threshold else DECISION_NEGATIVE,
        model=MODEL,
        device="cpu",
        eligibility=Eligibility(True, anatomy, "image", 0.99),
        scores=FilmScores(low, None, None, "image", spec),
        reliability="Validated in a test." if validated else "Not validated in a test: for information only.",
        cam=cam,
        cam_status=CAM_OK if cam is not None else "off",
        warnings=list(warnings),
    )


def not_screened_prediction(reason: str = "The picture looks like a chest film.", looks_like: str = "other_radiograph") -> Prediction:
    return Prediction(
        class_names=CLASSES, probabilities=None, predicted_class=None, low_bmd_score=None, threshold=None,
        threshold_goal="", decision=DECISION_NOT_SCREENED, model=MODEL, device="cpu",
        eligibility=Eligibility(False, looks_like, "image", 0.97, reason), not_screened_reason=reason,
    )


def write_dicom(path: Path, pixels: np.ndarray, *, body_part: str, view: str = "AP", laterality: str = "",
                study_uid: str | None = None, **patient) -> object:
    """Write a DX DICOM file with these pixels and tags; return its header (read back, no pixels)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ids = {**PATIENT, **patient}
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray, for presentation
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: any patient name
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = ids["patient_name"]
    ds.PatientID = ids["patient_id"]
    ds.PatientBirthDate = ids["patient_birth_date"]
    ds.PatientSex = ids["patient_sex"]
    ds.PatientAge = ids["patient_age"]
    ds.AccessionNumber = ids["accession_number"]
    ds.StudyDate = ids["study_date"]
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.ReferringPhysicianName = ""
    ds.InstitutionName = ids["institution"]
    ds.Modality = "DX"
    ds.BodyPartExamined = body_part
    ds.ViewPosition = view
    ds.ImageLaterality = laterality or "U"
    ds.PatientOrientation = ["L", "F"]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "Synthetic"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PresentationLUTShape = "IDENTITY"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.ImagerPixelSpacing = [0.15, 0.15]
    ds.WindowCenter, ds.WindowWidth = 1800, 3200
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path, stop_before_pixels=True)


def dicom_film(tmp_path: Path, name: str, pixels: np.ndarray, *, body_part: str, laterality: str = "",
               view: str = "AP", study_uid: str | None = None, **patient) -> Film:
    path = tmp_path / name
    hdr = write_dicom(path, pixels, body_part=body_part, laterality=laterality, view=view, study_uid=study_uid,
                      **patient)
    ids = FilmIdentifiers(
        patient_name=str(hdr.PatientName), patient_id=hdr.PatientID, patient_birth_date=hdr.PatientBirthDate,
        patient_sex=hdr.PatientSex, patient_age=hdr.PatientAge, study_date=hdr.StudyDate, study_time=hdr.StudyTime,
        accession_number=hdr.AccessionNumber, study_instance_uid=hdr.StudyInstanceUID,
        series_instance_uid=hdr.SeriesInstanceUID, sop_instance_uid=hdr.SOPInstanceUID, sop_class_uid=hdr.SOPClassUID,
        body_part=hdr.BodyPartExamined, view_position=hdr.ViewPosition, laterality=laterality,
        modality=hdr.Modality, manufacturer=hdr.Manufacturer, institution=hdr.InstitutionName,
    )
    return Film(
        path=path, pixels=pixels, windows=(Window(1800, 3200, "file"),),
        spacing=Spacing(0.15, 0.15, SpacingSource.IMAGER_PIXEL_SPACING), ids=ids, source_format="DICOM",
        transfer_syntax="Explicit VR Little Endian", bits_stored=12, header=hdr,
    )


def png_film(tmp_path: Path, name: str, pixels: np.ndarray) -> Film:
    import cv2

    path = tmp_path / name
    u8 = np.clip(pixels / 16.0, 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), u8)
    return Film(path=path, pixels=u8.astype(np.float32), source_format="PNG", bits_stored=8)
