"""Screening reports: one PDF per patient, and DICOM outputs (TID 1500 SR, Secondary Capture).

Public API (used by the `osteo-screen` CLI and the viewer's export):

* `ScreenedFilm(film, prediction, error="", anatomy=None)`: one film of a batch and its result.
* `write_patient_reports(items, out_dir, *, bundle, anonymize=False, force=False, page_size="A4",
  salt=None, generated_at=None) -> list[Path]`: one PDF per patient (grouped by PatientID).
* `write_report_for_patient(items, out_path, *, bundle, ...) -> Path`: one patient's PDF.
* `build_report_pdf(items, *, bundle, ...) -> bytes`: the same PDF in memory (preview).
* `build_content(items, *, bundle, ...) -> ReportContent`: what that report says, as plain data
  (`report_content`; `pdf` is its layout, `anonymise` what an anonymised report leaves out).
* `write_dicom_sr(film, prediction, bundle, out_path, force=False) -> Path`
* `write_dicom_sc(film, prediction, out_path, force=False) -> Path`
* `write_dicom_outputs(items, out_dir, *, bundle, sr=True, sc=False, force=False) -> list[Path]`
* `combine_patient(results) -> PatientResult`: the documented multifocal rule.

Errors: `ReportError` (core.errors); `ReportExistsError` (also a FileExistsError) when a target
exists and `force` is False — its message names the file and says "use --force".
"""

from __future__ import annotations

from ..errors import ReportError
from .anonymise import report_filename
from .common import ReportExistsError, ScreenedFilm, clinic_header_lines, installation_salt, pseudonym
from .dicom_outputs import build_dicom_sc, build_dicom_sr, write_dicom_outputs, write_dicom_sc, write_dicom_sr
from .patient import RULE_TEXT, AnatomyResult, FilmResult, PatientResult, combine_patient
from .pdf import PAGE_SIZES, build_report_pdf, write_patient_reports, write_report_for_patient
from .report_content import ReportContent, build_content, group_by_patient

__all__ = [
    "PAGE_SIZES",
    "RULE_TEXT",
    "AnatomyResult",
    "FilmResult",
    "PatientResult",
    "ReportContent",
    "ReportError",
    "ReportExistsError",
    "ScreenedFilm",
    "build_dicom_sc",
    "build_content",
    "build_dicom_sr",
    "build_report_pdf",
    "clinic_header_lines",
    "combine_patient",
    "group_by_patient",
    "installation_salt",
    "pseudonym",
    "report_filename",
    "write_dicom_outputs",
    "write_dicom_sc",
    "write_dicom_sr",
    "write_patient_reports",
    "write_report_for_patient",
]
