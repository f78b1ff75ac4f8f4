"""What an anonymised report leaves out, and how it names the patient and the file.

Anonymised reports (`anonymize=True`) carry no name, birth date, IDs, accession numbers, UIDs,
study dates, institution or file names: a stable pseudonym (`common.pseudonym`) stands in for the
patient, films are called "Film 1", "Film 2"..., free text (warnings, error messages) goes through
`Scrubber`, and neither the PDF metadata nor the file name holds an identifier.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol

from ..errors import ReportError
from ..film import Film
from .common import ScreenedFilm, format_date, format_person_name, pseudonym, safe_filename_part

FILE_PREFIX = "osteo-report_"
REMOVED = "[removed]"


class LabelledFilm(Protocol):
    """A film of the report and what the report calls it ("Film 2")."""

    @property
    def label(self) -> str: ...

    @property
    def film(self) -> Film: ...


class Scrubber:
    """Removes identifiers from free text (warnings, error messages) in anonymised reports.

    Patient IDs, accession numbers, birth dates, UIDs, the institution and the parts of the name
    become "[removed]"; a film's path, file name and stem become the film's label.
    """

    def __init__(self, entries: Sequence[LabelledFilm], enabled: bool):
        self.enabled = enabled
        pairs: dict[str, str] = {}
        if enabled:
            for e in entries:
                ids = e.film.ids
                for value in (ids.patient_id, ids.accession_number, ids.patient_birth_date,
                              format_date(ids.patient_birth_date), ids.study_instance_uid,
                              ids.series_instance_uid, ids.sop_instance_uid, ids.institution):
                    if value and len(value.strip()) >= 2:
                        pairs[value.strip()] = REMOVED
                name = ids.patient_name
                for part in re.split(r"[\^=,\s]+", name or ""):
                    if len(part) >= 2:
                        pairs[part] = REMOVED
                path = e.film.path
                for value in (str(path), path.name, path.stem):
                    if value and len(value) >= 2:
                        pairs[value] = e.label
        ordered = sorted(pairs, key=len, reverse=True)  # longest first: paths before their names
        self._re = (re.compile("|".join(rf"(?<![\w.]){re.escape(k)}(?![\w])" for k in ordered), re.IGNORECASE)
                    if ordered else None)
        self._pairs = {k.lower(): v for k, v in pairs.items()}

    def __call__(self, text: str) -> str:
        if not self.enabled or self._re is None or not text:
            return text
        return self._re.sub(lambda m: self._pairs.get(m.group(0).lower(), REMOVED), text)


def patient_label(film: Film, anonymize: bool, salt: bytes | str | None) -> str:
    """How the report names the patient: the pseudonym, "Name (ID x)", or the file name."""
    if anonymize:
        return pseudonym(film.patient_key, salt)
    ids = film.ids
    if ids.patient_id:
        name = format_person_name(ids.patient_name)
        return f"{name} (ID {ids.patient_id})" if name else f"ID {ids.patient_id}"
    return f"{film.path.name} (no patient ID)"


def header_label(film: Film, anonymize: bool, label: str) -> str:
    """The patient as the page header names it: the ID first, so that truncation keeps it."""
    ids = film.ids
    if anonymize or not ids.patient_id:
        return label
    name = format_person_name(ids.patient_name)
    return f"ID {ids.patient_id}" + (f" · {name}" if name else "")


def patient_hash(film: Film) -> str:
    """8 hex digits of the sha256 of the full patient key (PatientID, or the file for a non-DICOM film)."""
    return hashlib.sha256(film.patient_key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def report_filename(items: Sequence[ScreenedFilm], *, anonymize: bool = False, salt: bytes | str | None = None) -> str:
    """The report's file name: `osteo-report_<PatientID or file stem>_<hash>.pdf`, or
    `osteo-report_<pseudonym>.pdf` when anonymised (no name or ID in it).

    The PatientID is shortened to safe characters (`a/b` and `a_b` both read `a_b`), so a short
    hash of the full ID keeps every patient's report name its own (`patient_hash`).
    """
    if not items:
        raise ReportError("no films for this report")
    film = items[0].film
    if anonymize:
        part = pseudonym(film.patient_key, salt)
    elif film.ids.patient_id:
        part = f"{safe_filename_part(film.ids.patient_id, 'patient', limit=40)}_{patient_hash(film)}"
    else:
        part = f"{safe_filename_part(film.path.stem, 'film', limit=40)}_{patient_hash(film)}"
    return f"{FILE_PREFIX}{part}.pdf"
