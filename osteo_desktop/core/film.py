"""The `Film` value: one radiograph as loaded, before any display decisions are applied.

A film holds pixels *after the modality LUT* (rescale slope/intercept or a Modality LUT) as float32,
plus everything the display pipeline (`core.display`) needs to turn them into a picture in which
bone is bright: the file's VOI windows / VOI LUT and whether the picture must be inverted once
(MONOCHROME1, or PresentationLUTShape INVERSE on MONOCHROME2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np


class SpacingSource(str, Enum):
    """Where a film's physical pixel size came from (a distance tool must say this)."""

    PIXEL_SPACING = "PixelSpacing"  # calibrated in the patient plane (or by the modality)
    IMAGER_PIXEL_SPACING = "ImagerPixelSpacing"  # at the detector: includes geometric magnification
    NONE = "none"  # no calibration: measure in pixels only


@dataclass(frozen=True)
class Spacing:
    row_mm: float | None = None  # distance between rows (vertical), mm
    col_mm: float | None = None  # distance between columns (horizontal), mm
    source: SpacingSource = SpacingSource.NONE

    @property
    def calibrated(self) -> bool:
        return self.source is not SpacingSource.NONE and bool(self.row_mm) and bool(self.col_mm)

    def describe(self) -> str:
        if not self.calibrated:
            return "no calibration: distances in pixels"
        if self.source is SpacingSource.IMAGER_PIXEL_SPACING:
            return "ImagerPixelSpacing: measured at the detector (magnification not corrected)"
        return "PixelSpacing"


@dataclass(frozen=True)
class Window:
    """A VOI window in modality units. `name` says where it came from (file, auto, full range)."""

    center: float
    width: float
    name: str = ""
    function: str = "LINEAR"  # LINEAR, LINEAR_EXACT or SIGMOID (DICOM VOI LUT Function)

    @property
    def low(self) -> float:
        return self.center - self.width / 2.0

    @property
    def high(self) -> float:
        return self.center + self.width / 2.0


@dataclass(frozen=True)
class VoiLut:
    """A DICOM VOI LUT (table) in modality units: input `first_mapped` maps to `table[0]`."""

    first_mapped: float
    table: np.ndarray  # 1-D output values
    output_bits: int
    name: str = ""


@dataclass(frozen=True)
class FilmIdentifiers:
    """What a report or the study browser needs. Empty string when the tag is absent.

    Logs must never print `patient_name` or `patient_birth_date`.
    """

    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""  # DICOM DA, YYYYMMDD
    patient_sex: str = ""
    patient_age: str = ""  # DICOM AS, e.g. 063Y
    study_date: str = ""
    study_time: str = ""
    acquisition_date: str = ""
    patient_weight: str = ""  # DICOM DS, kg
    study_description: str = ""
    series_description: str = ""
    accession_number: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    body_part: str = ""
    view_position: str = ""
    laterality: str = ""
    modality: str = ""
    manufacturer: str = ""
    institution: str = ""


def patient_key(ids: FilmIdentifiers, path: Path) -> str:
    """Groups films by patient: the DICOM PatientID, else the file itself (a PNG is its own patient)."""
    return ids.patient_id or f"file:{path}"


@dataclass
class Film:
    path: Path
    pixels: np.ndarray  # float32, 2-D (rows, cols), modality values (after the modality LUT)
    photometric: str = "MONOCHROME2"  # as stored; colour sources are converted to MONOCHROME2
    presentation_lut_shape: str = ""  # IDENTITY, INVERSE or "" (absent)
    windows: tuple[Window, ...] = ()  # the file's own windows, in file order
    voi_lut: VoiLut | None = None
    spacing: Spacing = field(default_factory=Spacing)
    ids: FilmIdentifiers = field(default_factory=FilmIdentifiers)
    source_format: str = ""  # "DICOM", "PNG", "JPEG", "TIFF", ...
    transfer_syntax: str = ""  # DICOM transfer syntax name, "" for raster files
    bits_stored: int = 8
    frame_count: int = 1
    warnings: list[str] = field(default_factory=list)
    header: Any = None  # pydicom Dataset without pixel data (DICOM only), for tags and DICOM outputs

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])

    @property
    def is_dicom(self) -> bool:
        return self.source_format == "DICOM"

    @property
    def invert_for_display(self) -> bool:
        """True when the displayed picture must be inverted (exactly once) so that bone is bright.

        MONOCHROME1 means 'low values are bright'. In DX/CR files a MONOCHROME1 image carries
        PresentationLUTShape INVERSE to say the same thing again: that is still one inversion, not
        two. INVERSE on a MONOCHROME2 image asks for an inversion of its own.
        """
        if self.photometric == "MONOCHROME1":
            return True
        return self.presentation_lut_shape.upper() == "INVERSE"

    @property
    def patient_key(self) -> str:
        """Groups films by patient: the DICOM PatientID, else the file itself (a PNG is its own patient)."""
        return patient_key(self.ids, self.path)

    @property
    def display_name(self) -> str:
        return self.path.name
