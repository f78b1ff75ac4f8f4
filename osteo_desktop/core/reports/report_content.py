"""What a patient's screening report says, as plain data (no reportlab): `build_content`.

A report holds every film of one patient in the batch: identifiers, the patient-level result
(`patient.combine_patient`) with the per-film results it came from, the model and its validation
metrics, and per film its pictures, the class probabilities, the low-BMD score against the
threshold, the decision in words and the warnings. `pdf.py` lays this out; the wording, the order
and what an anonymised report leaves out (`anonymise.py`) are decided here.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ... import INTENDED_USE, __version__
from ..bundle import Bundle, BundleConfig
from ..errors import ReportError
from ..film import Film
from ..inference import ModelInfo
from ..overlay import ATTENTION_LABEL
from ..score_bases import BASIS_WORDS, COMBINED, EXPLANATIONS, IMAGE
from ..scoring import SCORE_EXPLANATION, Decision, relation_text
from .anonymise import Scrubber, header_label, patient_label
from .common import ScreenedFilm, film_anatomy, format_age, format_date, format_person_name, format_sex
from .images import FilmPictures, film_pictures
from .model_metrics import group_metric_table, guard_text, metric_rows, score_table
from .patient import PatientResult, combine_patient, film_results

log = logging.getLogger(__name__)

DISCLAIMER = "Screening aid — not a diagnosis"
REPORT_TITLE = "Low bone density screening report"
BAR_NOTE = " The vertical line on each bar marks the threshold."
ANONYMISED_NOTE = ("Anonymised: names, birth date, IDs, accession numbers, UIDs, dates and file names are left out. "
                   "Pictures are shown as stored: text burned into a film is not removed.")
NAME_MISMATCH = ("These films share one Patient ID but carry different patient names or birth dates: "
                 "check that they belong to the same person before acting on this report.")
BURNED_IN = ("The file says its pixels hold burned-in annotation, which may include identifiers: "
             "check the pictures before sharing this anonymised report.")
OTHER_WEIGHTS = "The validation metrics below belong to a bundle whose weights differ from the model that screened these films."
NO_METRICS = ("Not available: the model bundle records no validation metrics. "
              "Do not rely on this model's results without a validation.")
REVIEW_TEXT = ("This report was produced by software and is not valid until reviewed. The reviewer decides "
               "on referral for DXA; the model's result does not replace clinical judgement.")
NOTES_LABEL = "Reviewer's notes / decision on DXA referral"


# -- formatting ------------------------------------------------------------------------------------
def pct(p: float) -> str:
    return f"{100.0 * p:.1f} %"


def score_text(s: float | None) -> str:
    return "—" if s is None else f"{s:.3f}"


def _first(values: Iterable[str]) -> str:
    return next((v for v in values if v), "")


def distinct(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = (v or "").strip()
        if v and v not in out:
            out.append(v)
    return out


# -- the report as data ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FilmEntry:
    index: int  # 1-based
    label: str  # "Film 1"
    item: ScreenedFilm
    anatomy: str | None

    @property
    def film(self) -> Film:
        return self.item.film


@dataclass(frozen=True)
class PatientSection:
    pairs: list[tuple[str, str]]
    note: str = ""  # shown muted under the identifiers (anonymised reports)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AnatomyRow:
    anatomy: str  # "knee (decides)", "knee (for information only)"
    films: str
    film_scores: str
    mean: str
    score: float
    threshold: float = 0.5
    validated: bool = True


@dataclass(frozen=True)
class ResultSection:
    """The patient-level result: the decision, how it came about, and the rule."""

    decision: Decision | None
    decision_text: str
    summary: str  # "" when no film could be screened
    threshold: float | None
    anatomies: list[AnatomyRow]
    rule: str
    warnings: list[str]
    not_screened: list[tuple[str, str]] = field(default_factory=list)  # (film label, reason)


@dataclass(frozen=True)
class SummaryRow:
    film: str
    anatomy: str
    view: str
    score: str
    result: str
    decision: Decision
    validated: bool = True


@dataclass(frozen=True)
class ModelSection:
    pairs: list[tuple[str, str]]
    warnings: list[str]
    metric_table: list[list[str]] | None  # the training package's per-group table (first row: header)
    metric_note: str  # under the table
    metric_rows: list[tuple[str, str]]  # any other layout of metrics
    missing: str  # when the bundle records no metrics
    score_table: list[list[str]] | None = None  # format 2: per anatomy, the image/clinical/combined scores
    score_note: str = ""
    guard_text: str = ""  # what the picture check was validated to do


@dataclass(frozen=True)
class ClassRow:
    label: str
    probability: float


@dataclass(frozen=True)
class FilmResult:
    """One screened film's result, as the report states it."""

    classes: list[ClassRow]
    score: float
    threshold: float
    comparison: str  # "Score 0.450 is below the threshold 0.500 (goal)."
    decision: Decision
    decision_text: str
    validated: bool = True
    reliability: str = ""  # validated / for information only, in words
    basis: str = ""  # "the image alone" / "the image combined with age and sex"
    explanation: str = SCORE_EXPLANATION
    inputs: str = ""  # the clinical inputs used and where they came from


@dataclass(frozen=True)
class FilmSection:
    heading: str
    pairs: list[tuple[str, str]]
    # None: no pixels to show; a callable (pictures spilled to disk by a batch) reads them when laid out
    pictures: FilmPictures | Callable[[], FilmPictures] | None
    display_caption: str
    overlay_caption: str  # under the heatmap, or in its place when there is none
    result: FilmResult | None
    not_screened: str  # why the film has no result ("" when screened)
    warnings: list[str]  # distinct, scrubbed


@dataclass(frozen=True)
class ReportContent:
    clinic: tuple[str, ...]  # the clinic's name and address lines, printed at the top (may be empty)
    title: str
    subtitle: str
    intended_use: str
    patient_label: str
    header_left: str  # page header: the patient
    footer_left: str  # page footer: report, software, model, time
    metadata_title: str
    anonymize: bool
    patient: PatientSection
    result: ResultSection
    summary: list[SummaryRow]
    model: ModelSection
    films: list[FilmSection]


def _config_of(bundle: Bundle | BundleConfig | None) -> BundleConfig | None:
    if isinstance(bundle, Bundle):
        return bundle.config
    return bundle


def group_by_patient(items: Iterable[ScreenedFilm]) -> list[list[ScreenedFilm]]:
    """Films grouped by `Film.patient_key`, patients and films in batch order."""
    groups: dict[str, list[ScreenedFilm]] = {}
    for it in items:
        groups.setdefault(it.film.patient_key, []).append(it)
    return list(groups.values())


class _Content:
    """Builds the sections of one patient's report (the order of `build_content`)."""

    def __init__(self, entries: list[FilmEntry], config: BundleConfig | None, anonymize: bool, label: str):
        self.entries = entries
        self.config = config
        self.anonymize = anonymize
        self.label = label
        self.scrub = Scrubber(entries, anonymize)
        all_preds = [e.item.prediction for e in entries if e.item.prediction is not None]
        self.preds = [p for p in all_preds if p.screened]
        self.model: ModelInfo | None = all_preds[0].model if all_preds else None

    def patient(self) -> PatientSection:
        ids = [e.film.ids for e in self.entries]
        age = format_age(_first(i.patient_age for i in ids), cap_at_90=self.anonymize)
        sex = format_sex(_first(i.patient_sex for i in ids))
        if self.anonymize:
            pairs = [("Pseudonym", self.label), ("Sex", sex), ("Age", age), ("Identifiers", "removed (anonymised report)")]
        else:
            pairs = [
                ("Name", format_person_name(_first(i.patient_name for i in ids))),
                ("Patient ID", _first(i.patient_id for i in ids) or "none (not a DICOM file)"),
                ("Birth date", format_date(_first(i.patient_birth_date for i in ids))),
                ("Sex", sex),
                ("Age", age),
                ("Accession", ", ".join(distinct(i.accession_number for i in ids))),
                ("Study date", ", ".join(format_date(d) for d in distinct(i.study_date for i in ids))),
                ("Institution", ", ".join(distinct(i.institution for i in ids))),
            ]
        pairs += self.clinical_pairs()
        warnings = []
        names = distinct(format_person_name(i.patient_name) for i in ids)
        births = distinct(i.patient_birth_date for i in ids)
        if len(names) > 1 or len(births) > 1:
            log.warning("films under one patient ID carry different names or birth dates")
            warnings.append(NAME_MISMATCH)
        return PatientSection(pairs, ANONYMISED_NOTE if self.anonymize else "", warnings)

    def clinical_pairs(self) -> list[tuple[str, str]]:
        """Age/sex/weight the model used (with where each came from), when any film used them."""
        inputs = [p.clinical for p in self.preds]
        out: list[tuple[str, str]] = []
        for label, attr in (("Age used", "age"), ("Sex used", "sex"), ("Weight used", "weight")):
            values = distinct(_clinical_text(getattr(c, attr), attr) for c in inputs)
            if values:
                out.append((label, "; ".join(values)))
        osts = distinct(f"{c.ost_index:.1f}" for c in inputs if c.ost_index is not None)
        if osts:
            out.append(("OST index", ", ".join(osts) + " = 0.2 x (weight - age); a reference risk score, below -1 "
                        "suggests increased risk"))
        return out

    def result(self, r: PatientResult) -> ResultSection:
        summary = ""
        if r.score is not None and r.threshold is not None:
            summary = (f"Patient result from the {r.deciding_anatomy} films: mean low-BMD score {score_text(r.score)} is "
                       f"{relation_text(r.score, r.threshold)} the threshold {score_text(r.threshold)}. ")
        elif r.anatomies:
            summary = "No validated score for these films: the scores below are for information only. "
        if r.anatomies:
            summary += f"{r.n_screened} of {len(r.films)} film(s) screened."

        def tag(a: Any) -> str:
            if not a.validated:
                return " (for information only)"
            return " (decides)" if a.anatomy == r.deciding_anatomy else ""

        rows = [AnatomyRow(a.anatomy + tag(a), ", ".join(a.film_labels), ", ".join(score_text(s) for s in a.film_scores),
                           f"{score_text(a.score)} / {score_text(a.threshold)}", a.score, a.threshold, a.validated)
                for a in r.anatomies]
        not_screened = [(f.label, self.scrub(f.error or "no reason given")) for f in r.not_screened]
        return ResultSection(r.decision, r.decision_text, summary, r.threshold, rows, r.rule + BAR_NOTE,
                             [self.scrub(w) for w in r.warnings], not_screened)

    def summary(self) -> list[SummaryRow]:
        rows = []
        for e in self.entries:
            ids, pred = e.film.ids, e.item.prediction
            name = e.label if self.anonymize else f"{e.label}: {e.film.display_name}"
            view = " / ".join(x for x in (ids.view_position, ids.laterality) if x) or "—"
            if pred is None or not pred.screened:
                reason = e.item.error or (pred.not_screened_reason if pred is not None else "") or "no reason given"
                rows.append(SummaryRow(name, e.anatomy or "unspecified", view, "—",
                                       "Not screened: " + self.scrub(reason), Decision.NOT_SCREENED))
            else:
                basis = " (image + age/sex)" if pred.score_basis == COMBINED else " (image)"
                rows.append(SummaryRow(name, e.anatomy or "unspecified", view,
                                       f"{score_text(pred.low_bmd_score)}{basis}, threshold {score_text(pred.threshold)}",
                                       pred.decision_text, pred.decision, pred.validated))
        return rows

    def model_section(self) -> ModelSection:
        cfg, m = self.config, self.model
        name = m.name if m else (cfg.name if cfg else "unknown")
        version = m.version if m else (cfg.version if cfg else "unknown")
        sha = (m.sha256 if m else (cfg.sha256 if cfg else "")) or ""
        arch = m.architecture if m else (cfg.architecture if cfg else "")
        thr = self.preds[0].threshold if self.preds else (cfg.threshold if cfg else None)
        goal = self.preds[0].threshold_goal if self.preds else (cfg.threshold_goal if cfg else "")
        devices = ", ".join(distinct(p.device for p in self.preds))
        pairs = [
            ("Model", f"{name} {version}"),
            ("Weights sha256", (sha[:16] + "…") if sha else "not recorded"),
            ("Architecture", arch),
            ("Operating point", f"threshold {score_text(thr)} on the low-BMD score" if thr is not None else ""),
            ("Threshold goal", goal),
            ("Software", f"osteo-desktop {__version__}" + (f" (ran on {devices})" if devices else "")),
        ]
        warnings = []
        if cfg is not None and m is not None and cfg.sha256 and m.sha256 and cfg.sha256 != m.sha256:
            warnings.append(OTHER_WEIGHTS)
        metrics = cfg.metrics if cfg is not None else {}
        table = group_metric_table(metrics) if metrics else None
        rows = metric_rows(metrics) if metrics and table is None else []
        note = ""
        if table is not None and metrics.get("evaluation"):
            note = (str(metrics["evaluation"]) + ". Sensitivity and specificity at the operating point. "
                    "Age-only AUC: age alone used as the score (where ages are known).")
        scores, score_note, guard = None, "", ""
        if cfg is not None and isinstance(cfg.extra.get("screening"), dict):
            scores, score_note = score_table(cfg)
            table, note, rows = None, "", []
            guard = guard_text(cfg.extra.get("guard"))
        return ModelSection(pairs, warnings, table, note, rows, "" if (table or rows or scores) else NO_METRICS,
                            scores, score_note, guard)

    def film(self, e: FilmEntry) -> FilmSection:
        from ..display import choose_display

        film, pred = e.film, e.item.prediction
        ids = film.ids
        heading = f"{e.label} of {len(self.entries)} — {e.anatomy or 'anatomy not recognised'}"
        if not self.anonymize:
            heading += f" — {film.display_name}"
        pairs = [("Body part", ids.body_part), ("View", ids.view_position), ("Laterality", ids.laterality),
                 ("Modality", ids.modality or film.source_format)]
        if not self.anonymize:
            pairs += [("Study date", format_date(ids.study_date)), ("Accession", ids.accession_number)]
        warnings: list[str] = list(film.warnings)
        if self.anonymize and film.header is not None and str(film.header.get("BurnedInAnnotation", "")).upper() == "YES":
            warnings.append(BURNED_IN)
        pictures: FilmPictures | Callable[[], FilmPictures] | None = None
        window = ""
        given = e.item.pictures
        if given is not None:  # thumbnails kept (or spilled to disk) by a batch
            pictures = given  # spilled ones are read back when laid out, one film at a time
            warnings += list(getattr(given, "notes", ()))
            window = e.item.display_description
        elif film.pixels is not None and film.pixels.ndim == 2 and film.pixels.size > 0:
            pictures = film_pictures(film, pred)
            warnings += list(pictures.notes)
            try:
                window = choose_display(film).description
            except Exception:  # a caption must not stop the report
                window = ""
        screened = pred is not None and pred.screened
        if getattr(pictures, "overlay", None) is not None:
            overlay_caption = f"Grad-CAM heatmap: {ATTENTION_LABEL}, not a lesion"
        elif not screened:
            overlay_caption = "Not screened: no heatmap."
        else:
            overlay_caption = "No heatmap for this film (Grad-CAM off)."
        result, not_screened = None, ""
        if pred is not None:
            warnings += list(pred.warnings)
        if pred is None or not pred.screened:
            not_screened = self.scrub(e.item.error or (pred.not_screened_reason if pred is not None else "") or "no reason given")
        else:
            result = self.film_result(pred)
        return FilmSection(heading, pairs, pictures, "Film as displayed" + (f" ({window})" if window else ""),
                           overlay_caption, result, not_screened, [self.scrub(w) for w in distinct(warnings)])


    def film_result(self, pred: Any) -> FilmResult:
        low = set(self.config.low_bmd_classes) if self.config is not None else set()
        probs = pred.probabilities or {}
        classes = [ClassRow(c + (" (low BMD)" if c in low else "") + (" — most probable" if c == pred.predicted_class else ""),
                            float(probs.get(c, 0.0))) for c in pred.class_names]
        comparison = (f"Score {score_text(pred.low_bmd_score)} is {relation_text(pred.low_bmd_score, pred.threshold)} "
                      f"the threshold {score_text(pred.threshold)} ({pred.threshold_goal}).")
        scores = pred.scores
        basis = BASIS_WORDS.get(pred.score_basis or IMAGE, "")
        inputs = ""
        if scores is not None and pred.score_basis == COMBINED:
            c = pred.clinical
            inputs = (f"Image score {score_text(scores.image)} combined with "
                      f"{_clinical_text(c.age, 'age')} and {_clinical_text(c.sex, 'sex')}.")
            if scores.clinical is not None:
                inputs += f" Age and sex alone would give {score_text(scores.clinical)}."
        explanation = EXPLANATIONS.get(pred.score_basis or IMAGE, SCORE_EXPLANATION)
        return FilmResult(classes, pred.low_bmd_score, pred.threshold, comparison, pred.decision, pred.decision_text,
                          pred.validated, self.scrub(pred.reliability), basis, explanation, inputs)


def _clinical_text(value: Any, what: str) -> str:
    """'63 years (DICOM PatientAge)'; '' when the value is unknown."""
    if value is None:
        return ""
    v = value.value
    if what == "age":
        text = f"age {v:.0f} years"
    elif what == "weight":
        text = f"{v:.0f} kg"
    else:
        text = str(v)
    return f"{text} ({value.source})"


def build_content(items: Sequence[ScreenedFilm], *, bundle: Bundle | BundleConfig | None, anonymize: bool = False,
                  salt: bytes | str | None = None, generated_at: _dt.datetime | None = None,
                  clinic: Sequence[str] = ()) -> ReportContent:
    """What one patient's report says (all `items` must share `Film.patient_key`)."""
    if not items:
        raise ReportError("no films for this report")
    keys = {it.film.patient_key for it in items}
    if len(keys) != 1:
        raise ReportError(f"one report holds one patient's films; got {len(keys)} patients (use write_patient_reports)")
    generated_at = generated_at or _dt.datetime.now().astimezone()
    entries = [FilmEntry(i + 1, f"Film {i + 1}", it, film_anatomy(it)) for i, it in enumerate(items)]
    label = patient_label(entries[0].film, anonymize, salt)
    c = _Content(entries, _config_of(bundle), anonymize, label)
    try:
        combined = combine_patient(film_results([e.label for e in entries], [e.anatomy for e in entries],
                                                [e.item for e in entries]))
    except ValueError as e:
        raise ReportError(f"cannot combine the films of one patient: {e}") from e
    model_text = f"model {c.model.name} {c.model.version}" if c.model else "no model result"
    when = generated_at.strftime("%Y-%m-%d %H:%M")
    return ReportContent(
        clinic=tuple(line.strip() for line in clinic if line and line.strip()),
        title=REPORT_TITLE,
        subtitle=f"Generated {generated_at.strftime('%Y-%m-%d %H:%M %Z').strip()} by osteo-desktop {__version__}",
        intended_use=INTENDED_USE,
        patient_label=label,
        header_left=f"Patient: {header_label(entries[0].film, anonymize, label)}",
        footer_left=f"{REPORT_TITLE} · osteo-desktop {__version__} · {model_text} · generated {when}",
        metadata_title=f"{REPORT_TITLE} — {label}" if anonymize else REPORT_TITLE,
        anonymize=anonymize,
        patient=c.patient(),
        result=c.result(combined),
        summary=c.summary(),
        model=c.model_section(),
        films=[c.film(e) for e in entries],
    )
