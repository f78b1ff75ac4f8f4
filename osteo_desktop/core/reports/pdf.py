"""One PDF screening report per patient (reportlab platypus).

A report holds every film of one patient in the batch (films are grouped by DICOM PatientID,
`Film.patient_key`; a PNG/JPEG is its own patient): identifiers, the patient-level result
(`patient.combine_patient`) with the per-film results it came from, the model and its validation
metrics, and per film the windowed picture, the Grad-CAM overlay with its colour bar, the class
probabilities, the low-BMD score against the threshold, the decision in words and the warnings.
It ends with a reviewer's signature block; every page carries the patient, "Screening aid — not a
diagnosis" and "page X of Y".

Anonymised reports (`anonymize=True`) carry no name, birth date, IDs, accession numbers, UIDs,
study dates, institution or file names: a stable pseudonym (`common.pseudonym`) stands in for the
patient, films are called "Film 1", "Film 2"..., and neither the PDF metadata nor the file name
holds an identifier.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from ... import INTENDED_USE, __version__
from ..bundle import Bundle, BundleConfig
from ..errors import ReportError
from ..film import Film
from ..overlay import ATTENTION_LABEL
from ..scoring import NEUTRAL_BAR_PAPER, Decision, decision_colour, relation_text, score_bar_colour
from .common import (
    ScreenedFilm,
    film_anatomy,
    format_age,
    format_date,
    format_person_name,
    format_sex,
    pseudonym,
    safe_filename_part,
    unique_path,
    write_new_file,
)
from .images import film_pictures
from .patient import PatientResult, combine_patient, film_results

log = logging.getLogger(__name__)

DISCLAIMER = "Screening aid — not a diagnosis"
REPORT_TITLE = "Low bone density screening report"
FILE_PREFIX = "osteo-report_"
PAGE_SIZES = ("A4", "Letter")

# -- fonts -----------------------------------------------------------------------------------------
_FONT, _FONT_BOLD, _UNICODE = "Helvetica", "Helvetica-Bold", False
_FONTS_TRIED = False
_FONT_LOCK = threading.Lock()


def _font_dirs() -> list[Path]:
    import importlib.util

    dirs = []
    try:  # matplotlib ships DejaVu Sans; find it without importing matplotlib
        spec = importlib.util.find_spec("matplotlib")
        if spec is not None and spec.origin:
            dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    except (ImportError, ValueError):
        pass
    dirs += [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"), Path("C:/Windows/Fonts")]
    return dirs


def _setup_fonts() -> None:
    """DejaVu Sans (covers Latin, Greek, Cyrillic names) when found, else Helvetica (Latin-1 only)."""
    with _FONT_LOCK:
        _setup_fonts_locked()


def _setup_fonts_locked() -> None:
    global _FONT, _FONT_BOLD, _UNICODE, _FONTS_TRIED
    if _FONTS_TRIED:
        return
    _FONTS_TRIED = True
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for d in _font_dirs():
        regular, bold = d / "DejaVuSans.ttf", d / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            try:
                pdfmetrics.registerFont(TTFont("OsteoSans", str(regular)))
                pdfmetrics.registerFont(TTFont("OsteoSans-Bold", str(bold)))
                pdfmetrics.registerFontFamily("OsteoSans", normal="OsteoSans", bold="OsteoSans-Bold",
                                              italic="OsteoSans", boldItalic="OsteoSans-Bold")
            except Exception as e:  # a broken font file: keep looking
                log.warning("cannot use font %s (%s)", regular, e)
                continue
            _FONT, _FONT_BOLD, _UNICODE = "OsteoSans", "OsteoSans-Bold", True
            return
    log.warning("DejaVu Sans not found; reports use Helvetica and show non-Latin-1 characters as '?'")


def _t(text: object) -> str:
    """Plain text safe for the current font (characters it cannot draw become '?')."""
    s = str(text)
    if not _UNICODE:
        s = s.encode("cp1252", errors="replace").decode("cp1252")
    return s


def _p(text: object) -> str:
    """Plain text escaped for a Paragraph."""
    return escape(_t(text))


# -- what the report needs, gathered first ------------------------------------------------------------
@dataclass
class _FilmEntry:
    index: int  # 1-based
    label: str  # "Film 1"
    item: ScreenedFilm
    anatomy: str | None

    @property
    def film(self) -> Film:
        return self.item.film


class _Scrubber:
    """Removes identifiers from free text (warnings, error messages) in anonymised reports."""

    def __init__(self, items: Sequence[_FilmEntry], enabled: bool):
        self.enabled = enabled
        pairs: dict[str, str] = {}
        if enabled:
            for e in items:
                ids = e.film.ids
                for value in (ids.patient_id, ids.accession_number, ids.patient_birth_date,
                              format_date(ids.patient_birth_date), ids.study_instance_uid,
                              ids.series_instance_uid, ids.sop_instance_uid, ids.institution):
                    if value and len(value.strip()) >= 2:
                        pairs[value.strip()] = "[removed]"
                name = ids.patient_name
                for part in re.split(r"[\^=,\s]+", name or ""):
                    if len(part) >= 2:
                        pairs[part] = "[removed]"
                path = e.film.path
                for value in (str(path), path.name, path.stem):
                    if value and len(value) >= 2:
                        pairs[value] = e.label
        ordered = sorted(pairs, key=len, reverse=True)  # longest first: paths before their names
        self._re = re.compile("|".join(rf"(?<![\w.]){re.escape(k)}(?![\w])" for k in ordered), re.IGNORECASE) if ordered else None
        self._pairs = {k.lower(): v for k, v in pairs.items()}

    def __call__(self, text: str) -> str:
        if not self.enabled or self._re is None or not text:
            return text
        return self._re.sub(lambda m: self._pairs.get(m.group(0).lower(), "[removed]"), text)


def _config_of(bundle: Bundle | BundleConfig | None) -> BundleConfig | None:
    if isinstance(bundle, Bundle):
        return bundle.config
    return bundle


def _first(values: Iterable[str]) -> str:
    return next((v for v in values if v), "")


def _distinct(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = (v or "").strip()
        if v and v not in out:
            out.append(v)
    return out


def _patient_label(entries: Sequence[_FilmEntry], anonymize: bool, salt: bytes | str | None) -> str:
    film = entries[0].film
    if anonymize:
        return pseudonym(film.patient_key, salt)
    ids = film.ids
    if ids.patient_id:
        name = format_person_name(ids.patient_name)
        return f"{name} (ID {ids.patient_id})" if name else f"ID {ids.patient_id}"
    return f"{film.path.name} (no patient ID)"


def _header_label(entries: Sequence[_FilmEntry], anonymize: bool, label: str) -> str:
    """The patient as the page header names it: the ID first, so that truncation keeps it."""
    ids = entries[0].film.ids
    if anonymize or not ids.patient_id:
        return label
    name = format_person_name(ids.patient_name)
    return f"ID {ids.patient_id}" + (f" · {name}" if name else "")


def report_filename(items: Sequence[ScreenedFilm], *, anonymize: bool = False, salt: bytes | str | None = None) -> str:
    """The report's file name: `osteo-report_<PatientID or file stem>.pdf`, or
    `osteo-report_<pseudonym>.pdf` when anonymised (no name or ID in it)."""
    if not items:
        raise ReportError("no films for this report")
    film = items[0].film
    if anonymize:
        part = pseudonym(film.patient_key, salt)
    elif film.ids.patient_id:
        part = safe_filename_part(film.ids.patient_id, "patient")
    else:
        part = safe_filename_part(film.path.stem, "film")
    return f"{FILE_PREFIX}{part}.pdf"


def group_by_patient(items: Iterable[ScreenedFilm]) -> list[list[ScreenedFilm]]:
    """Films grouped by `Film.patient_key`, patients and films in batch order."""
    groups: dict[str, list[ScreenedFilm]] = {}
    for it in items:
        groups.setdefault(it.film.patient_key, []).append(it)
    return list(groups.values())


# -- formatting helpers ------------------------------------------------------------------------------
def _pct(p: float) -> str:
    return f"{100.0 * p:.1f} %"


def _score(s: float) -> str:
    return f"{s:.3f}"


def _num(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


_TOKENS = {"auc": "AUC", "bmd": "BMD", "ci": "CI", "ci95": "95% CI", "ppv": "PPV", "npv": "NPV", "roc": "ROC",
           "f1": "F1", "n": "n", "dxa": "DXA", "cv": "CV", "ece": "ECE", "tpr": "TPR", "fpr": "FPR"}
_VALUE_KEYS = ("value", "estimate", "point", "mean", "auc")
_CI_KEYS = ("ci95", "ci_95", "ci", "95ci", "confidence_interval")


def _pretty_key(key: str) -> str:
    words = re.split(r"[_\s]+", str(key).strip())
    words = [w for w in words if w]
    if not words:
        return str(key)
    out = [_TOKENS.get(w.lower(), w) for w in words]
    if words[0].lower() not in _TOKENS:  # "n", "AUC"... keep their own case
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def _ci_of(d: dict[str, Any]) -> tuple[Any, Any] | None:
    for k in _CI_KEYS:
        v = d.get(k)
        if isinstance(v, (list, tuple)) and len(v) == 2:
            return v[0], v[1]
        if isinstance(v, dict):
            lo, hi = v.get("low", v.get("lower")), v.get("high", v.get("upper"))
            if lo is not None and hi is not None:
                return lo, hi
    lo = d.get("ci_low", d.get("ci_lower", d.get("lower")))
    hi = d.get("ci_high", d.get("ci_upper", d.get("upper")))
    if lo is not None and hi is not None:
        return lo, hi
    return None


def metric_rows(metrics: dict[str, Any], limit: int = 18) -> list[tuple[str, str]]:
    """Validation metrics as (label, text) rows, whatever their nesting.

    A dict with a value and a confidence interval (`{"value": .81, "ci95": [.76, .86]}`, or
    `ci_low`/`ci_high`) becomes one row "0.810 (95% CI 0.760–0.860)"; other dicts are flattened with
    "label / sub-label"; lists of numbers are joined.
    """
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, dict):
            main = next((value[k] for k in _VALUE_KEYS if k in value and not isinstance(value[k], (dict, list))), None)
            ci = _ci_of(value)
            if main is not None:
                text = _num(main) + (f" (95% CI {_num(ci[0])}–{_num(ci[1])})" if ci else "")
                extras = [f"{_pretty_key(k)} {_num(v)}" for k, v in value.items()
                          if k in ("n", "n_patients", "n_films", "n_images", "prevalence") and not isinstance(v, (dict, list))]
                rows.append((prefix, text + (f"; {', '.join(extras)}" if extras else "")))
                return
            if depth >= 3:
                rows.append((prefix, ", ".join(f"{_pretty_key(k)} {_num(v)}" for k, v in value.items())[:200]))
                return
            for k, v in value.items():
                walk(f"{prefix} / {_pretty_key(k)}" if prefix else _pretty_key(k), v, depth + 1)
        elif isinstance(value, (list, tuple)):
            rows.append((prefix, ", ".join(_num(v) for v in value)[:200]))
        else:
            rows.append((prefix, _num(value)[:200]))

    walk("", metrics, 0)
    if len(rows) > limit:
        more = len(rows) - (limit - 1)
        rows = rows[: limit - 1] + [("…", f"{more} more in the model card (MODEL_CARD.md)")]
    return rows


GROUP_METRIC_COLUMNS = ("Group", "Images / patients", "Low-BMD AUC (95% CI)", "Sensitivity", "Specificity",
                        "Age-only AUC")


def group_metric_table(metrics: dict[str, Any]) -> list[list[str]] | None:
    """The training package's metrics (`{"overall": {...}, "knee": {...}, ...}` with `auc_low_bmd`,
    `auc_low_bmd_ci95`, `sensitivity`, ...) as one compact table; None for any other layout."""
    groups = [(k, v) for k, v in metrics.items() if isinstance(v, dict) and "auc_low_bmd" in v]
    if not groups:
        return None

    def with_ci(d: dict[str, Any], key: str) -> str:
        if d.get(key) is None:
            return "—"
        ci = d.get(f"{key}_ci95")
        return f"{d[key]:.2f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "")

    rows = [list(GROUP_METRIC_COLUMNS)]
    for name, d in groups:
        n = f"{d.get('n_images', '—')} / {d.get('n_patients', '—')}"
        rows.append([name, n, with_ci(d, "auc_low_bmd"), with_ci(d, "sensitivity"), with_ci(d, "specificity"),
                     with_ci(d, "age_only_auc_low_bmd")])
    return rows


# -- the document ------------------------------------------------------------------------------------
def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("base", fontName=_FONT, fontSize=8.5, leading=11, textColor=colors.black)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "muted": ParagraphStyle("muted", parent=base, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#444444")),
        "caption": ParagraphStyle("caption", parent=base, fontSize=7.5, leading=9.5, alignment=1, spaceBefore=2,
                                  textColor=colors.HexColor("#444444")),
        "subhead": ParagraphStyle("subhead", parent=base, fontName=_FONT_BOLD, fontSize=8.5, leading=11, spaceBefore=6,
                                  spaceAfter=2),
        "label": ParagraphStyle("label", parent=base, fontName=_FONT_BOLD, fontSize=7.5, leading=9.5,
                                textColor=colors.HexColor("#333333")),
        "title": ParagraphStyle("title", parent=base, fontName=_FONT_BOLD, fontSize=16, leading=20, spaceAfter=2),
        "h2": ParagraphStyle("h2", parent=base, fontName=_FONT_BOLD, fontSize=11.5, leading=14, spaceBefore=8,
                             spaceAfter=4, textColor=colors.HexColor("#1F3A5F")),
        "h3": ParagraphStyle("h3", parent=base, fontName=_FONT_BOLD, fontSize=10, leading=13, spaceAfter=3),
        "bold": ParagraphStyle("bold", parent=base, fontName=_FONT_BOLD),
        "decision": ParagraphStyle("decision", parent=base, fontName=_FONT_BOLD, fontSize=12, leading=15),
        "warn": ParagraphStyle("warn", parent=base, fontSize=8, leading=10.5, textColor=colors.HexColor("#7A4B00")),
    }


def _kv_table(pairs: Sequence[tuple[str, str]], width: float, st: dict[str, Any], columns: int = 2) -> Any:
    """Key/value pairs laid out in `columns` column pairs."""
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    cells = [(Paragraph(_p(k), st["label"]), Paragraph(_p(v) if v else "—", st["base"])) for k, v in pairs]
    rows = []
    for i in range(0, len(cells), columns):
        row: list[Any] = []
        for c in cells[i : i + columns]:
            row += list(c)
        row += [""] * (2 * columns - len(row))
        rows.append(row)
    key_w = min(95.0, width * 0.18 if columns == 2 else width * 0.3)
    val_w = width / columns - key_w
    t = Table(rows, colWidths=[key_w, val_w] * columns, hAlign="LEFT")
    t.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#DDDDDD")),
    ]))
    return t


def _boxed(flowables: list[Any], width: float, border: str, background: str | None = None, pad: float = 6) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    t = Table([[flowables]], colWidths=[width])
    style = [
        ("BOX", (0, 0), (-1, -1), 1.0, colors.HexColor(border)),
        ("LEFTPADDING", (0, 0), (-1, -1), pad),
        ("RIGHTPADDING", (0, 0), (-1, -1), pad),
        ("TOPPADDING", (0, 0), (-1, -1), pad - 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), pad),
    ]
    if background:
        style.append(("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(background)))
    t.setStyle(TableStyle(style))
    return t


def _bar(value: float, width: float, threshold: float | None = None, colour: str = NEUTRAL_BAR_PAPER) -> Any:
    from reportlab.graphics.shapes import Drawing, Line, Rect
    from reportlab.lib import colors

    h = 7.0
    d = Drawing(width, h + 2)
    d.add(Rect(0, 1, width, h, fillColor=colors.HexColor("#E6E6E6"), strokeColor=None))
    d.add(Rect(0, 1, max(0.0, min(1.0, value)) * width, h, fillColor=colors.HexColor(colour), strokeColor=None))
    if threshold is not None:
        x = max(0.0, min(1.0, threshold)) * width
        d.add(Line(x, 0, x, h + 2, strokeColor=colors.black, strokeWidth=1.2))
    return d


def _image_flowable(img: np.ndarray, width: float, height: float) -> Any:
    from PIL import Image as PILImage
    from reportlab.platypus import Image

    buf = io.BytesIO()
    mode = "L" if img.ndim == 2 else "RGB"
    PILImage.fromarray(np.ascontiguousarray(img), mode).save(buf, format="JPEG", quality=88)
    buf.seek(0)
    return Image(buf, width=width, height=height)


class _Builder:
    def __init__(self, entries: list[_FilmEntry], *, config: BundleConfig | None, anonymize: bool,
                 patient_label: str, generated_at: _dt.datetime, width: float, height: float):
        self.entries = entries
        self.config = config
        self.anonymize = anonymize
        self.patient_label = patient_label
        self.generated_at = generated_at
        self.width = width  # frame width (pt)
        self.height = height  # frame height (pt)
        self.st = _styles()
        self.scrub = _Scrubber(entries, anonymize)
        labels = [e.label for e in entries]
        self.result: PatientResult = combine_patient(film_results(labels, [e.anatomy for e in entries],
                                                                  [e.item for e in entries]))
        preds = [e.item.prediction for e in entries if e.item.prediction is not None]
        self.model = preds[0].model if preds else None

    # -- sections
    def title(self) -> list[Any]:
        from reportlab.platypus import Paragraph, Spacer

        st = self.st
        when = self.generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()
        sub = f"Generated {when} by osteo-desktop {__version__}"
        out = [Paragraph(_p(REPORT_TITLE), st["title"]), Paragraph(_p(sub), st["muted"]), Spacer(1, 6)]
        out.append(_boxed([Paragraph(f"<b>Intended use.</b> {_p(INTENDED_USE)}", st["base"])],
                          self.width, "#B08900", "#FFF8DC"))
        return out

    def patient(self) -> list[Any]:
        from reportlab.platypus import Paragraph

        st = self.st
        films = [e.film for e in self.entries]
        ids = [f.ids for f in films]
        out: list[Any] = [Paragraph("Patient", st["h2"])]
        age = format_age(_first(i.patient_age for i in ids), cap_at_90=self.anonymize)
        sex = format_sex(_first(i.patient_sex for i in ids))
        if self.anonymize:
            pairs = [("Pseudonym", self.patient_label), ("Sex", sex), ("Age", age),
                     ("Identifiers", "removed (anonymised report)")]
        else:
            pairs = [
                ("Name", format_person_name(_first(i.patient_name for i in ids))),
                ("Patient ID", _first(i.patient_id for i in ids) or "none (not a DICOM file)"),
                ("Birth date", format_date(_first(i.patient_birth_date for i in ids))),
                ("Sex", sex),
                ("Age", age),
                ("Accession", ", ".join(_distinct(i.accession_number for i in ids))),
                ("Study date", ", ".join(format_date(d) for d in _distinct(i.study_date for i in ids))),
                ("Institution", ", ".join(_distinct(i.institution for i in ids))),
            ]
        out.append(_kv_table(pairs, self.width, st))
        if self.anonymize:
            out.append(Paragraph(_p("Anonymised: names, birth date, IDs, accession numbers, UIDs, dates and file names "
                                    "are left out. Pictures are shown as stored: text burned into a film is not removed."),
                                 st["muted"]))
        names = _distinct(format_person_name(i.patient_name) for i in ids)
        births = _distinct(i.patient_birth_date for i in ids)
        if len(names) > 1 or len(births) > 1:
            log.warning("films under one patient ID carry different names or birth dates")
            out.append(Paragraph(
                "⚠ " + _p("These films share one Patient ID but carry different patient names or birth dates: "
                          "check that they belong to the same person before acting on this report."), st["warn"]))
        return out

    def patient_result(self) -> list[Any]:
        from reportlab.lib import colors
        from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

        st, r = self.st, self.result
        colour = decision_colour(r.decision)
        inner: list[Any] = [
            Paragraph(f'<font color="{colour}">{_p(r.decision_text)}</font>', st["decision"]),
        ]
        if r.score is not None and r.threshold is not None:
            rel = relation_text(r.score, r.threshold)
            inner.append(Paragraph(
                _p(f"Patient low-BMD score {_score(r.score)} ({r.deciding_anatomy} mean) is {rel} the threshold "
                   f"{_score(r.threshold)}. {r.n_screened} of {len(r.films)} film(s) screened."), st["base"]))
            inner.append(Spacer(1, 4))
            head = [Paragraph(f"<b>{h}</b>", st["small"]) for h in ("Anatomy", "Films", "Film scores", "Mean score", "")]
            rows: list[list[Any]] = [head]
            bar_w = 90.0
            for a in r.anatomies:
                rows.append([
                    Paragraph(_p(a.anatomy + (" (decides)" if a.anatomy == r.deciding_anatomy else "")), st["small"]),
                    Paragraph(_p(", ".join(a.film_labels)), st["small"]),
                    Paragraph(_p(", ".join(_score(s) for s in a.film_scores)), st["small"]),
                    Paragraph(f"<b>{_score(a.score)}</b>", st["small"]),
                    _bar(a.score, bar_w, r.threshold, score_bar_colour(a.score, r.threshold)),
                ])
            w = self.width - 14
            t = Table(rows, colWidths=[0.17 * w, 0.24 * w, 0.24 * w, 0.13 * w, 0.22 * w], hAlign="LEFT")
            t.setStyle(TableStyle([
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.HexColor("#999999")),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]))
            inner.append(t)
        inner.append(Spacer(1, 3))
        inner.append(Paragraph(f"<b>Rule.</b> {_p(r.rule + ' The vertical line on each bar marks the threshold.')}",
                               st["muted"]))
        for w in r.warnings:
            inner.append(Paragraph("⚠ " + _p(self.scrub(w)), st["warn"]))
        return [Paragraph("Patient result (all films combined)", self.st["h2"]), _boxed(inner, self.width, colour)]

    def film_summary(self) -> list[Any]:
        from reportlab.lib import colors
        from reportlab.platypus import Paragraph, Table, TableStyle

        st = self.st
        rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", st["small"]) for h in
                                  ("Film", "Anatomy", "View / side", "Low-BMD score", "Result")]]
        for e in self.entries:
            ids, pred = e.film.ids, e.item.prediction
            name = e.label if self.anonymize else f"{e.label}: {e.film.display_name}"
            view = " / ".join(x for x in (ids.view_position, ids.laterality) if x) or "—"
            if pred is None:
                score, res = "—", "Not screened: " + self.scrub(e.item.error or "no reason given")
                colour = decision_colour(Decision.NOT_SCREENED)
            else:
                score = f"{_score(pred.low_bmd_score)} (threshold {_score(pred.threshold)})"
                res, colour = pred.decision_text, decision_colour(pred.decision)
            rows.append([
                Paragraph(_p(name), st["small"]),
                Paragraph(_p(e.anatomy or "unspecified"), st["small"]),
                Paragraph(_p(view), st["small"]),
                Paragraph(_p(score), st["small"]),
                Paragraph(f'<font color="{colour}">{_p(res)}</font>', st["small"]),
            ])
        w = self.width
        t = Table(rows, colWidths=[0.25 * w, 0.12 * w, 0.11 * w, 0.19 * w, 0.33 * w], hAlign="LEFT", repeatRows=1)
        t.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.HexColor("#999999")),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#DDDDDD")),
            ("TOPPADDING", (0, 0), (-1, -1), 1.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ]))
        return [Paragraph("Per-film results", st["h2"]), t]

    def model_section(self) -> list[Any]:
        from reportlab.platypus import Paragraph

        st, cfg, m = self.st, self.config, self.model
        out: list[Any] = [Paragraph("Model", st["h2"])]
        name = m.name if m else (cfg.name if cfg else "unknown")
        version = m.version if m else (cfg.version if cfg else "unknown")
        sha = (m.sha256 if m else (cfg.sha256 if cfg else "")) or ""
        arch = m.architecture if m else (cfg.architecture if cfg else "")
        preds = [e.item.prediction for e in self.entries if e.item.prediction is not None]
        thr = preds[0].threshold if preds else (cfg.threshold if cfg else None)
        goal = preds[0].threshold_goal if preds else (cfg.threshold_goal if cfg else "")
        devices = ", ".join(_distinct(p.device for p in preds))
        pairs = [
            ("Model", f"{name} {version}"),
            ("Weights sha256", (sha[:16] + "…") if sha else "not recorded"),
            ("Architecture", arch),
            ("Operating point", f"threshold {_score(thr)} on the low-BMD score" if thr is not None else ""),
            ("Threshold goal", goal),
            ("Software", f"osteo-desktop {__version__}" + (f" (ran on {devices})" if devices else "")),
        ]
        out.append(_kv_table(pairs, self.width, st))
        if cfg is not None and m is not None and cfg.sha256 and m.sha256 and cfg.sha256 != m.sha256:
            out.append(Paragraph("⚠ " + _p("The validation metrics below belong to a bundle whose weights differ from "
                                            "the model that screened these films."), st["warn"]))
        metrics = cfg.metrics if cfg is not None else {}
        out.append(Paragraph("Validation metrics (from the model bundle)", st["subhead"]))
        table = group_metric_table(metrics) if metrics else None
        rows = metric_rows(metrics) if metrics and table is None else []
        if table is not None:
            from reportlab.lib import colors
            from reportlab.platypus import Table, TableStyle

            cells = [[Paragraph(_p(c), st["label"] if i == 0 else st["base"]) for c in r] for i, r in enumerate(table)]
            widths = [0.12, 0.16, 0.24, 0.16, 0.16, 0.16]
            t = Table(cells, colWidths=[w * self.width for w in widths], hAlign="LEFT")
            t.setStyle(TableStyle([
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#DDDDDD")),
            ]))
            out.append(t)
            if metrics.get("evaluation"):
                out.append(Paragraph(_p(str(metrics["evaluation"]) + ". Sensitivity and specificity at the operating "
                                        "point. Age-only AUC: age alone used as the score (where ages are known)."),
                                     st["muted"]))
        elif rows:
            out.append(_kv_table(rows, self.width, st))
        else:
            out.append(Paragraph(_p("Not available: the model bundle records no validation metrics. "
                                    "Do not rely on this model's results without a validation."), st["warn"]))
        return out

    def film_section(self, e: _FilmEntry) -> list[Any]:
        from reportlab.lib import colors
        from reportlab.platypus import CondPageBreak, KeepTogether, Paragraph, Spacer, Table, TableStyle

        from ..display import choose_display

        st, film, pred = self.st, e.film, e.item.prediction
        ids = film.ids
        anatomy = e.anatomy or "anatomy not recognised"
        head = f"{e.label} of {len(self.entries)} — {anatomy}"
        if not self.anonymize:
            head += f" — {film.display_name}"
        parts: list[Any] = [Paragraph(_p(head), st["h3"])]
        pairs = [("Body part", ids.body_part), ("View", ids.view_position), ("Laterality", ids.laterality),
                 ("Modality", ids.modality or film.source_format)]
        if not self.anonymize:
            pairs += [("Study date", format_date(ids.study_date)), ("Accession", ids.accession_number)]
        parts.append(_kv_table(pairs, self.width, st, columns=3))
        parts.append(Spacer(1, 4))

        warnings: list[str] = list(film.warnings)
        if self.anonymize and film.header is not None and str(film.header.get("BurnedInAnnotation", "")).upper() == "YES":
            warnings.append("The file says its pixels hold burned-in annotation, which may include identifiers: "
                            "check the pictures before sharing this anonymised report.")
        has_pixels = film.pixels is not None and film.pixels.ndim == 2 and film.pixels.size > 0
        if has_pixels:
            pics = film_pictures(film, pred)
            warnings += list(pics.notes)
            gap = 10.0
            cell_w = (self.width - gap) / 2.0
            max_h = max(120.0, min(240.0, self.height / 2.0 - 175.0))  # two films per page when they fit
            dh, dw = pics.display.shape[:2]
            ratios = [dw / dh]
            if pics.overlay is not None:
                ratios.append(pics.overlay.shape[1] / pics.overlay.shape[0])
            img_h = min(max_h, *(cell_w / r for r in ratios))  # one height for both: same scale, no stretch
            try:
                window = choose_display(film).description
            except Exception:  # a caption must not stop the report
                window = ""
            left = [_image_flowable(pics.display, img_h * ratios[0], img_h),
                    Paragraph(_p("Film as displayed" + (f" ({window})" if window else "")), st["caption"])]
            if pics.overlay is not None:
                right = [_image_flowable(pics.overlay, img_h * ratios[1], img_h),
                         Paragraph(_p(f"Grad-CAM heatmap: {ATTENTION_LABEL}, not a lesion"), st["caption"])]
            elif pred is None:
                right = [Paragraph(_p("Not screened: no heatmap."), st["caption"])]
            else:
                right = [Paragraph(_p("No heatmap for this film (Grad-CAM off)."), st["caption"])]
            t = Table([[left, right]], colWidths=[cell_w + gap / 2, cell_w + gap / 2], hAlign="LEFT")
            t.setStyle(TableStyle([
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]))
            parts.append(t)
        else:
            parts.append(Paragraph(_p("No pixels to show for this film."), st["muted"]))
        parts.append(Spacer(1, 4))

        if pred is None:
            grey = decision_colour(Decision.NOT_SCREENED)
            parts.append(Paragraph(
                f'<font color="{grey}"><b>Not screened.</b></font> ' + _p(self.scrub(e.item.error or "no reason given")),
                st["base"]))
        else:
            warnings += list(pred.warnings)
            low_classes = set(self.config.low_bmd_classes) if self.config is not None else set()
            bar_w = 150.0
            rows: list[list[Any]] = [[Paragraph("<b>Class</b>", st["small"]), Paragraph("<b>Probability</b>", st["small"]), ""]]
            for c in pred.class_names:
                p = float(pred.probabilities.get(c, 0.0))
                label = c + (" (low BMD)" if c in low_classes else "") + (" — most probable" if c == pred.predicted_class else "")
                rows.append([Paragraph(_p(label), st["small"]), Paragraph(_p(_pct(p)), st["small"]), _bar(p, bar_w)])
            rows.append([
                Paragraph("<b>Low-BMD score</b>", st["small"]),
                Paragraph(f"<b>{_p(_score(pred.low_bmd_score))}</b>", st["small"]),
                _bar(pred.low_bmd_score, bar_w, pred.threshold, score_bar_colour(pred.low_bmd_score, pred.threshold)),
            ])
            w = self.width
            t = Table(rows, colWidths=[0.40 * w, 0.15 * w, bar_w + 10], hAlign="LEFT")
            t.setStyle(TableStyle([
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.HexColor("#999999")),
                ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.HexColor("#999999")),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ]))
            parts.append(t)
            rel = relation_text(pred.low_bmd_score, pred.threshold)
            parts.append(Paragraph(_p(f"Score {_score(pred.low_bmd_score)} is {rel} the threshold {_score(pred.threshold)} "
                                      f"({pred.threshold_goal})."), st["small"]))
            parts.append(Paragraph(f'<font color="{decision_colour(pred.decision)}"><b>{_p(pred.decision_text)}</b></font>',
                                   st["base"]))
        for w in _distinct(warnings):
            parts.append(Paragraph("⚠ " + _p(self.scrub(w)), st["warn"]))
        parts.append(Spacer(1, 10))
        return [CondPageBreak(80), KeepTogether(parts)]

    def signature(self) -> list[Any]:
        from reportlab.lib import colors
        from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle

        st = self.st
        w = self.width
        rows = [
            [Paragraph("Reviewed by (name)", st["label"]), "", Paragraph("Signature", st["label"]), "", Paragraph("Date", st["label"]), ""],
        ]
        t = Table(rows, colWidths=[0.20 * w, 0.28 * w, 0.11 * w, 0.22 * w, 0.06 * w, 0.13 * w], rowHeights=[28])
        t.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
            ("LINEBELOW", (1, 0), (1, 0), 0.6, colors.black),
            ("LINEBELOW", (3, 0), (3, 0), 0.6, colors.black),
            ("LINEBELOW", (5, 0), (5, 0), 0.6, colors.black),
            ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ]))
        notes = Table([[Paragraph("Reviewer's notes / decision on DXA referral", st["label"])], [""]],
                      colWidths=[w], rowHeights=[14, 48])
        notes.setStyle(TableStyle([("BOX", (0, 1), (0, 1), 0.6, colors.HexColor("#888888")),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 2)]))
        return [KeepTogether([
            Paragraph("Review", st["h2"]),
            Paragraph(_p("This report was produced by software and is not valid until reviewed. The reviewer decides "
                         "on referral for DXA; the model's result does not replace clinical judgement."), st["small"]),
            Spacer(1, 4), t, Spacer(1, 8), notes,
        ])]

    def story(self) -> list[Any]:
        story = self.title() + self.patient() + self.patient_result() + self.film_summary() + self.model_section()
        for e in self.entries:
            story += self.film_section(e)
        story += self.signature()
        return story


def _canvas_class(header_left: str, footer_left: str, font: str, font_bold: str, margin: float) -> type:
    from reportlab.lib import colors
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    def fit(text: str, fnt: str, size: float, width: float) -> str:
        if stringWidth(text, fnt, size) <= width:
            return text
        while text and stringWidth(text + "…", fnt, size) > width:
            text = text[:-1]
        return text + "…"

    class NumberedCanvas(canvas.Canvas):
        """Draws header and footer on every page once the page count is known ("page X of Y")."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            w, h = self._pagesize
            self.saveState()
            self.setStrokeColor(colors.HexColor("#999999"))
            self.setLineWidth(0.5)
            top = h - margin + 14
            right_text = DISCLAIMER
            self.setFont(font_bold, 8)
            rw = stringWidth(right_text, font_bold, 8)
            self.drawRightString(w - margin, top, right_text)
            self.setFont(font, 8)
            self.drawString(margin, top, fit(header_left, font, 8, w - 2 * margin - rw - 12))
            self.line(margin, top - 4, w - margin, top - 4)
            bottom = margin - 20
            self.line(margin, bottom + 10, w - margin, bottom + 10)
            page = f"Page {self._pageNumber} of {total}"
            pw = stringWidth(page, font_bold, 8)
            self.setFont(font_bold, 8)
            self.drawRightString(w - margin, bottom, page)
            self.setFont(font, 7)
            self.drawString(margin, bottom, fit(footer_left, font, 7, w - 2 * margin - pw - 12))
            self.restoreState()

    return NumberedCanvas


def build_report_pdf(
    items: Sequence[ScreenedFilm],
    *,
    bundle: Bundle | BundleConfig | None,
    anonymize: bool = False,
    page_size: str = "A4",
    salt: bytes | str | None = None,
    generated_at: _dt.datetime | None = None,
) -> bytes:
    """The PDF bytes of one patient's report (all `items` must share `Film.patient_key`)."""
    from reportlab.lib.pagesizes import A4, LETTER
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    if not items:
        raise ReportError("no films for this report")
    keys = {it.film.patient_key for it in items}
    if len(keys) != 1:
        raise ReportError(f"one report holds one patient's films; got {len(keys)} patients (use write_patient_reports)")
    sizes = {"A4": A4, "LETTER": LETTER}
    size = sizes.get(str(page_size).strip().upper())
    if size is None:
        raise ReportError(f"unknown page size {page_size!r}: use A4 or Letter")
    _setup_fonts()
    generated_at = generated_at or _dt.datetime.now().astimezone()
    entries = [_FilmEntry(i + 1, f"Film {i + 1}", it, film_anatomy(it)) for i, it in enumerate(items)]
    label = _patient_label(entries, anonymize, salt)
    margin = 16 * mm
    frame_w = size[0] - 2 * margin
    frame_h = size[1] - 2 * margin
    try:
        builder = _Builder(entries, config=_config_of(bundle), anonymize=anonymize, patient_label=label,
                           generated_at=generated_at, width=frame_w, height=frame_h)
    except ValueError as e:
        raise ReportError(f"cannot combine the films of one patient: {e}") from e
    model = builder.model
    model_text = f"model {model.name} {model.version}" if model else "no model result"
    when = generated_at.strftime("%Y-%m-%d %H:%M")
    header_left = f"Patient: {_header_label(entries, anonymize, label)}"
    footer_left = f"{REPORT_TITLE} · osteo-desktop {__version__} · {model_text} · generated {when}"
    buf = io.BytesIO()
    title = f"{REPORT_TITLE} — {label}" if anonymize else REPORT_TITLE
    doc = SimpleDocTemplate(
        buf, pagesize=size, leftMargin=margin, rightMargin=margin, topMargin=margin, bottomMargin=margin,
        title=_t(title), author=f"osteo-desktop {__version__}", subject=DISCLAIMER,
        creator=f"osteo-desktop {__version__}", keywords="screening aid, not a diagnosis",
    )
    doc.build(builder.story(), canvasmaker=_canvas_class(_t(header_left), _t(footer_left), _FONT, _FONT_BOLD, margin))
    return buf.getvalue()


def write_report_for_patient(
    items: Sequence[ScreenedFilm],
    out_path: str | os.PathLike[str],
    *,
    bundle: Bundle | BundleConfig | None,
    anonymize: bool = False,
    force: bool = False,
    page_size: str = "A4",
    salt: bytes | str | None = None,
    generated_at: _dt.datetime | None = None,
) -> Path:
    """Write one patient's report to `out_path` (atomic; refuses to overwrite unless `force`)."""
    target = Path(out_path)
    if not force and target.exists():
        from .common import ReportExistsError

        raise ReportExistsError(target)
    data = build_report_pdf(items, bundle=bundle, anonymize=anonymize, page_size=page_size, salt=salt,
                            generated_at=generated_at)
    path = write_new_file(target, data, force=force)
    log.info("wrote report %s (%d film(s), %d bytes)", path.name if anonymize else path, len(items), len(data))
    return path


def write_patient_reports(
    items: Sequence[ScreenedFilm],
    out_dir: str | os.PathLike[str],
    *,
    bundle: Bundle | BundleConfig | None,
    anonymize: bool = False,
    force: bool = False,
    page_size: str = "A4",
    salt: bytes | str | None = None,
    generated_at: _dt.datetime | None = None,
) -> list[Path]:
    """One PDF per patient in `out_dir` (named by `report_filename`); returns the paths in batch order.

    Before writing anything it checks every target: without `force`, one existing file stops the
    whole batch (ReportExistsError naming it), so a batch is never half-written over old reports.
    """
    from .common import ReportExistsError

    if anonymize and salt is None:
        from .common import installation_salt

        salt = installation_salt()
    out = Path(out_dir)
    groups = group_by_patient(items)
    taken: set[Path] = set()
    targets = [unique_path(out / report_filename(g, anonymize=anonymize, salt=salt), taken) for g in groups]
    if not force:
        for t in targets:
            if t.exists():
                raise ReportExistsError(t)
    generated_at = generated_at or _dt.datetime.now().astimezone()
    return [
        write_report_for_patient(g, t, bundle=bundle, anonymize=anonymize, force=force, page_size=page_size,
                                 salt=salt, generated_at=generated_at)
        for g, t in zip(groups, targets, strict=False)
    ]
