"""Clinical inputs beside the film: age, sex and weight, each with where it came from.

The screening model can combine the image with age and sex (the FDA-cleared anchor of this task
does the same, reading them from the DICOM tags). Every value records its source, because a report
must say whether the age was read from the file or typed in by a user:

* the DICOM tags: PatientAge ("063Y"), else PatientBirthDate with StudyDate / AcquisitionDate;
  PatientSex; PatientWeight;
* a clinical CSV given to `osteo-screen --clinical FILE.csv` (columns ``file,age,sex[,weight]``);
* a user's entry in the viewer.

Entries made by a user or a CSV override the tags (`ClinicalInputs.override`). Nothing here
imports torch or Qt.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import OsteoError
from .film import Film

SRC_AGE_TAG = "DICOM PatientAge"
SRC_AGE_DATES = "DICOM PatientBirthDate and {date_tag}"
SRC_SEX_TAG = "DICOM PatientSex"
SRC_WEIGHT_TAG = "DICOM PatientWeight"
SRC_USER = "entered by user"
SRC_CSV = "clinical file {name}"

FEMALE, MALE, OTHER = "female", "male", "other"
_SEX_WORDS = {
    "f": FEMALE, "female": FEMALE, "w": FEMALE, "woman": FEMALE, "femme": FEMALE, "weiblich": FEMALE,
    "m": MALE, "male": MALE, "man": MALE, "homme": MALE, "maennlich": MALE, "männlich": MALE,
    "o": OTHER, "other": OTHER, "x": OTHER, "d": OTHER, "divers": OTHER,
}
AGE_LIMITS = (0.0, 130.0)
WEIGHT_LIMITS_KG = (1.0, 400.0)


class ClinicalInputError(OsteoError):
    """A clinical value (entered, or in a clinical CSV) cannot be used."""


@dataclass(frozen=True)
class ClinicalValue:
    value: Any  # float years / kg, or "female" / "male" / "other"
    source: str  # where it came from, in words (see the SRC_* constants)

    def to_dict(self) -> dict[str, Any]:
        v = round(self.value, 2) if isinstance(self.value, float) else self.value
        return {"value": v, "source": self.source}


@dataclass(frozen=True)
class ClinicalInputs:
    """Age (years), sex and weight (kg) of the patient at the time of the film; None when unknown."""

    age: ClinicalValue | None = None
    sex: ClinicalValue | None = None
    weight: ClinicalValue | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. tags that could not be used

    @property
    def age_years(self) -> float | None:
        return None if self.age is None else float(self.age.value)

    @property
    def sex_female(self) -> float | None:
        """1.0 female, 0.0 male, None for other or unknown (the models know only these two)."""
        if self.sex is None or self.sex.value not in (FEMALE, MALE):
            return None
        return 1.0 if self.sex.value == FEMALE else 0.0

    @property
    def weight_kg(self) -> float | None:
        return None if self.weight is None else float(self.weight.value)

    @property
    def ost_index(self) -> float | None:
        """Osteoporosis Self-assessment Tool: 0.2 x (weight in kg - age in years); a reference score."""
        if self.age_years is None or self.weight_kg is None:
            return None
        return 0.2 * (self.weight_kg - self.age_years)

    @property
    def entered_by_user(self) -> bool:
        return any(v is not None and v.source == SRC_USER for v in (self.age, self.sex, self.weight))

    def override(self, other: ClinicalInputs | None) -> ClinicalInputs:
        """These inputs with every value that `other` has replacing ours (user/CSV entries win over tags)."""
        if other is None:
            return self
        return ClinicalInputs(
            age=other.age or self.age,
            sex=other.sex or self.sex,
            weight=other.weight or self.weight,
            notes=self.notes + tuple(n for n in other.notes if n not in self.notes),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "age": self.age.to_dict() if self.age else None,
            "sex": self.sex.to_dict() if self.sex else None,
            "weight": self.weight.to_dict() if self.weight else None,
        }
        ost = self.ost_index
        d["ost_index"] = None if ost is None else round(ost, 1)
        if self.notes:
            d["notes"] = list(self.notes)
        return d


# -- parsing single values ---------------------------------------------------------------------


def parse_dicom_age(text: str) -> float | None:
    """DICOM AS ("063Y", "006M", "010W", "003D") -> years; None when it is not a valid age string."""
    m = re.fullmatch(r"\s*(\d{1,3})\s*([DWMY])\s*", text or "", flags=re.IGNORECASE)
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2).upper()
    return {"Y": float(n), "M": n / 12.0, "W": n * 7 / 365.25, "D": n / 365.25}[unit]


def parse_dicom_date(text: str) -> dt.date | None:
    """DICOM DA (YYYYMMDD, also the old YYYY.MM.DD) -> date; None when absent or invalid."""
    digits = re.sub(r"[.\-]", "", (text or "").strip())
    if not re.fullmatch(r"\d{8}", digits):
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def completed_years(birth: dt.date, on: dt.date) -> int:
    """Age in completed years on a date (as PatientAge is written)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def parse_age(value: Any, *, where: str) -> float:
    """A user's or CSV's age in years (a number, or a DICOM age string like 063Y)."""
    text = str(value).strip()
    age = parse_dicom_age(text)
    if age is None:
        try:
            age = float(text.replace(",", "."))
        except ValueError:
            raise ClinicalInputError(f"{where}: age {text!r} is not a number of years. Write it as e.g. 63.") from None
    if not math.isfinite(age) or not AGE_LIMITS[0] <= age <= AGE_LIMITS[1]:
        raise ClinicalInputError(f"{where}: age {text!r} is outside 0-130 years. Correct it.")
    return age


def parse_sex(value: Any, *, where: str) -> str:
    text = str(value).strip().lower()
    if text not in _SEX_WORDS:
        raise ClinicalInputError(f"{where}: sex {value!r} is not understood. Write female, male or other (F/M/O).")
    return _SEX_WORDS[text]


def parse_weight(value: Any, *, where: str) -> float:
    text = str(value).strip()
    try:
        kg = float(text.replace(",", "."))
    except ValueError:
        raise ClinicalInputError(f"{where}: weight {text!r} is not a number of kilograms. Write it as e.g. 61.5.") from None
    if not math.isfinite(kg) or not WEIGHT_LIMITS_KG[0] <= kg <= WEIGHT_LIMITS_KG[1]:
        raise ClinicalInputError(f"{where}: weight {text!r} kg is outside 1-400 kg. Correct it (kilograms, not pounds).")
    return kg


def user_inputs(age: Any = None, sex: Any = None, weight: Any = None, *, source: str = SRC_USER,
                where: str = "entered values") -> ClinicalInputs:
    """Values typed by a user (or read from a CSV row); empty strings/None mean 'not given'."""

    def given(v: Any) -> bool:
        return v is not None and str(v).strip() != ""

    return ClinicalInputs(
        age=ClinicalValue(parse_age(age, where=where), source) if given(age) else None,
        sex=ClinicalValue(parse_sex(sex, where=where), source) if given(sex) else None,
        weight=ClinicalValue(parse_weight(weight, where=where), source) if given(weight) else None,
    )


# -- from the film's tags ----------------------------------------------------------------------


def clinical_from_film(film: Film) -> ClinicalInputs:
    """Age, sex and weight from the DICOM tags (nothing for PNG/JPEG). Unusable tags become notes."""
    ids = film.ids
    notes: list[str] = []
    age: ClinicalValue | None = None
    tag_age = parse_dicom_age(ids.patient_age) if ids.patient_age else None
    if ids.patient_age and tag_age is None:
        notes.append(f"PatientAge {ids.patient_age!r} is not a valid DICOM age; it is ignored.")
    if tag_age is not None and not AGE_LIMITS[0] <= tag_age <= AGE_LIMITS[1]:
        notes.append(f"PatientAge {ids.patient_age!r} is not plausible; it is ignored.")
        tag_age = None
    if tag_age is not None:
        age = ClinicalValue(tag_age, SRC_AGE_TAG)
    else:
        birth = parse_dicom_date(ids.patient_birth_date)
        for tag, text in (("StudyDate", ids.study_date), ("AcquisitionDate", ids.acquisition_date)):
            on = parse_dicom_date(text)
            if birth is None or on is None:
                continue
            years = completed_years(birth, on)
            if not AGE_LIMITS[0] <= years <= AGE_LIMITS[1]:
                notes.append(f"PatientBirthDate and {tag} give an implausible age ({years} years); it is ignored.")
                break
            age = ClinicalValue(float(years), SRC_AGE_DATES.format(date_tag=tag))
            break
    sex: ClinicalValue | None = None
    tag_sex = (ids.patient_sex or "").strip().upper()
    if tag_sex in ("F", "M", "O"):
        sex = ClinicalValue({"F": FEMALE, "M": MALE, "O": OTHER}[tag_sex], SRC_SEX_TAG)
    elif tag_sex:
        notes.append(f"PatientSex {ids.patient_sex!r} is not F, M or O; it is ignored.")
    weight: ClinicalValue | None = None
    if ids.patient_weight:
        try:
            kg = float(ids.patient_weight)
        except ValueError:
            kg = float("nan")
        if math.isfinite(kg) and WEIGHT_LIMITS_KG[0] <= kg <= WEIGHT_LIMITS_KG[1]:
            weight = ClinicalValue(kg, SRC_WEIGHT_TAG)
        elif kg != 0.0:  # 0 is the usual "not recorded"
            notes.append(f"PatientWeight {ids.patient_weight!r} is not a plausible weight in kg; it is ignored.")
    return ClinicalInputs(age=age, sex=sex, weight=weight, notes=tuple(notes))


# -- a clinical CSV ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicalTable:
    """Rows of a clinical CSV (``file,age,sex[,weight]``), matched to films by path or by file name."""

    source: Path
    by_path: dict[str, ClinicalInputs]
    by_name: dict[str, ClinicalInputs]
    ambiguous_names: frozenset[str] = frozenset()

    def lookup(self, film_path: Path) -> ClinicalInputs | None:
        for key in (str(film_path), str(_resolved(film_path))):
            if key in self.by_path:
                return self.by_path[key]
        name = film_path.name
        if name in self.ambiguous_names:
            raise ClinicalInputError(
                f"{self.source}: the file name {name!r} appears on several rows; write the film's path in the "
                "'file' column so each row names one film."
            )
        return self.by_name.get(name)


def _resolved(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):
        return p


def read_clinical_csv(path: str | Path) -> ClinicalTable:
    """Read a clinical CSV. Errors name the file, the line and the fix."""
    src = Path(path)
    try:
        text = src.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ClinicalInputError(f"{src}: cannot read the clinical file ({e}). Give a UTF-8 CSV file.") from e
    reader = csv.DictReader(text.splitlines())
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "file" not in fields or not ({"age", "sex", "weight"} & set(fields)):
        raise ClinicalInputError(
            f"{src}: a clinical file needs a header with 'file' and at least one of 'age', 'sex', 'weight' "
            f"(found {fields or 'no header'}). Example: file,age,sex,weight"
        )
    label = SRC_CSV.format(name=src.name)
    by_path: dict[str, ClinicalInputs] = {}
    by_name: dict[str, ClinicalInputs] = {}
    names_seen: dict[str, int] = {}
    for line_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        file_field = row.get("file", "")
        if not file_field:
            if any(row.values()):
                raise ClinicalInputError(f"{src}, line {line_no}: the 'file' column is empty. Name the film on every row.")
            continue
        where = f"{src}, line {line_no}"
        inputs = user_inputs(row.get("age"), row.get("sex"), row.get("weight"), source=label, where=where)
        p = Path(file_field)
        if p.name != file_field:  # a path: match it exactly (as given and resolved against the CSV's folder)
            by_path[str(p)] = inputs
            if not p.is_absolute():
                by_path[str(_resolved(src.parent / p))] = inputs
            by_path[str(_resolved(p))] = inputs
            continue
        names_seen[p.name] = names_seen.get(p.name, 0) + 1
        by_name[p.name] = inputs
    ambiguous = frozenset(n for n, c in names_seen.items() if c > 1)
    return ClinicalTable(src, by_path, by_name, ambiguous)

