"""C-FIND queries and their matches: the keys asked (`FindQuery`), one match (`FindMatch`), the
date forms users write (`dicom_date_range`), and reading text and numbers from a response's tags."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PacsError

if TYPE_CHECKING:
    from pydicom import Dataset

STUDY, SERIES = "STUDY", "SERIES"


def dicom_date_range(text: str) -> str:
    """'20240101-20241231', '2024-01-01..2024-12-31', '20240101-', '-20241231' or one date -> DICOM DA range."""
    s = (text or "").strip()
    if not s:
        return ""
    if ".." in s:
        lo, hi = s.split("..", 1)
    elif re.fullmatch(r"\d{8}-\d{8}", s):
        lo, hi = s.split("-")
    elif re.fullmatch(r"\d{8}-", s):
        lo, hi = s[:-1], ""
    elif re.fullmatch(r"-\d{8}", s):
        lo, hi = "", s[1:]
    else:
        lo, hi = s, None  # a single date

    def norm(d: str) -> str:
        d = d.strip().replace("-", "")
        if d and not re.fullmatch(r"(19|20|21)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])", d):
            raise PacsError(f"date {text!r}: write YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYY-MM-DD..YYYY-MM-DD, FROM- or -TO.")
        return d

    if hi is None:
        return norm(lo)
    lo, hi = norm(lo), norm(hi)
    if lo and hi and lo > hi:
        raise PacsError(f"date range {text!r} ends before it starts.")
    return f"{lo}-{hi}"


@dataclass(frozen=True)
class FindQuery:
    """C-FIND keys; empty fields match everything. Names may use DICOM wildcards (* and ?)."""

    level: str = STUDY
    patient_id: str = ""
    patient_name: str = ""
    date: str = ""  # any form `dicom_date_range` reads
    modality: str = ""
    accession: str = ""
    study_uid: str = ""

    def identifier(self, level: str | None = None, study_uid: str | None = None) -> Dataset:
        from pydicom import Dataset

        lvl = (level or self.level).upper()
        ds = Dataset()
        ds.QueryRetrieveLevel = lvl
        if lvl == STUDY:
            ds.PatientID = self.patient_id
            ds.PatientName = self.patient_name
            ds.PatientBirthDate = ""
            ds.PatientSex = ""
            ds.StudyInstanceUID = study_uid if study_uid is not None else self.study_uid
            ds.StudyDate = dicom_date_range(self.date)
            ds.StudyTime = ""
            ds.AccessionNumber = self.accession
            ds.StudyDescription = ""
            ds.ModalitiesInStudy = self.modality.upper()
            ds.NumberOfStudyRelatedSeries = None
            ds.NumberOfStudyRelatedInstances = None
        elif lvl == SERIES:
            ds.StudyInstanceUID = study_uid if study_uid is not None else self.study_uid
            ds.SeriesInstanceUID = ""
            ds.Modality = self.modality.upper()
            ds.SeriesNumber = None
            ds.SeriesDescription = ""
            ds.BodyPartExamined = ""
            ds.NumberOfSeriesRelatedInstances = None
        else:
            raise PacsError(f"query level {lvl!r}: use STUDY or SERIES.")
        return ds


def tag_str(ds: Any, kw: str) -> str:
    v = ds.get(kw) if ds is not None else None
    if v is None:
        return ""
    if type(v).__name__ == "MultiValue" or isinstance(v, (list, tuple)):
        return "\\".join(str(x) for x in v)
    return str(v).strip()


def tag_int(ds: Any, kw: str) -> int | None:
    try:
        v = tag_str(ds, kw)
        return int(v) if v else None
    except ValueError:
        return None


@dataclass(frozen=True)
class FindMatch:
    """One C-FIND match (study level, or series level with its study's fields)."""

    level: str
    study_uid: str
    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession: str = ""
    study_description: str = ""
    modalities: tuple[str, ...] = ()
    n_series: int | None = None
    n_instances: int | None = None
    series_uid: str = ""
    series_number: str = ""
    series_description: str = ""
    modality: str = ""
    body_part: str = ""

    @classmethod
    def from_study(cls, ds: Any) -> FindMatch:
        mods = tuple(m for m in tag_str(ds, "ModalitiesInStudy").split("\\") if m)
        return cls(STUDY, tag_str(ds, "StudyInstanceUID"), tag_str(ds, "PatientID"), tag_str(ds, "PatientName"),
                   tag_str(ds, "PatientBirthDate"), tag_str(ds, "PatientSex"), tag_str(ds, "StudyDate"), tag_str(ds, "StudyTime"),
                   tag_str(ds, "AccessionNumber"), tag_str(ds, "StudyDescription"), mods,
                   tag_int(ds, "NumberOfStudyRelatedSeries"), tag_int(ds, "NumberOfStudyRelatedInstances"))

    def with_series(self, ds: Any) -> FindMatch:
        from dataclasses import replace

        return replace(self, level=SERIES, series_uid=tag_str(ds, "SeriesInstanceUID"),
                       series_number=tag_str(ds, "SeriesNumber"), series_description=tag_str(ds, "SeriesDescription"),
                       modality=tag_str(ds, "Modality"), body_part=tag_str(ds, "BodyPartExamined"),
                       n_instances=tag_int(ds, "NumberOfSeriesRelatedInstances"))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "level": self.level.lower(),
            "patient_id": self.patient_id,
            "patient_name": self.patient_name,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "study_uid": self.study_uid,
            "study_date": self.study_date,
            "study_time": self.study_time,
            "accession": self.accession,
            "study_description": self.study_description,
            "modalities": list(self.modalities),
            "n_series": self.n_series,
            "n_instances": self.n_instances,
        }
        if self.level == SERIES:
            d.update(series_uid=self.series_uid, series_number=self.series_number,
                     series_description=self.series_description, modality=self.modality, body_part=self.body_part)
        return d
