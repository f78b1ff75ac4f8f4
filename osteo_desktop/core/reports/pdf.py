"""One PDF screening report per patient: the layout (reportlab platypus), i.e. how it looks.

What the report says is decided in `report_content.build_content` (reportlab-free data), what an
anonymised report leaves out in `anonymise`. This module turns that content into pages, with the
fonts, styles, tables, bars and pictures of `pdf_style` and a header and footer on every page (the
patient, "Screening aid — not a diagnosis", "page X of Y"). Colours of decisions come from
`core.scoring`'s one colour rule (suspected red, not suspected blue, never green; not screened grey).
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ... import __version__
from ..bundle import Bundle, BundleConfig
from ..errors import ReportError
from ..os_errors import describe_os_error
from ..scoring import Decision, decision_colour, score_bar_colour
from .anonymise import report_filename
from .common import ReportExistsError, ScreenedFilm, installation_salt, unique_path, write_new_file
from .pdf_style import (
    MAX_CELL_CHARS,
    bar,
    boxed,
    escaped,
    font_names,
    image_flowable,
    kv_table,
    numbered_canvas_class,
    ruled_rows,
    safe_text,
    setup_fonts,
    styles,
)
from .report_content import (
    DISCLAIMER,
    NOTES_LABEL,
    REVIEW_TEXT,
    FilmResult,
    FilmSection,
    ReportContent,
    build_content,
    group_by_patient,
    pct,
    score_text,
)

log = logging.getLogger(__name__)

PAGE_SIZES = ("A4", "Letter")

class _Layout:
    """Lays out a `ReportContent` as platypus flowables (the order of `story`)."""

    def __init__(self, content: ReportContent, width: float, height: float):
        self.c = content
        self.width = width  # frame width (pt)
        self.height = height  # frame height (pt)
        self.st = styles()

    def warning(self, text: str) -> Any:
        from reportlab.platypus import Paragraph

        return Paragraph("⚠ " + escaped(text), self.st["warn"])

    # -- sections
    def title(self) -> list[Any]:
        from reportlab.platypus import Paragraph, Spacer

        st, c = self.st, self.c
        out: list[Any] = []
        if c.clinic:
            out.append(Paragraph(escaped(c.clinic[0]), st["bold"]))
            out += [Paragraph(escaped(line), st["muted"]) for line in c.clinic[1:]]
            out.append(Spacer(1, 6))
        out += [Paragraph(escaped(c.title), st["title"]), Paragraph(escaped(c.subtitle), st["muted"]), Spacer(1, 6)]
        out.append(boxed([Paragraph(f"<b>Intended use.</b> {escaped(c.intended_use)}", st["base"])],
                          self.width, "#B08900", "#FFF8DC"))
        return out

    def patient(self) -> list[Any]:
        from reportlab.platypus import Paragraph

        st, p = self.st, self.c.patient
        out: list[Any] = [Paragraph("Patient", st["h2"]), kv_table(p.pairs, self.width, st)]
        if p.note:
            out.append(Paragraph(escaped(p.note), st["muted"]))
        out += [self.warning(w) for w in p.warnings]
        return out

    def patient_result(self) -> list[Any]:
        from reportlab.lib import colors
        from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

        st, r = self.st, self.c.result
        colour = decision_colour(r.decision)
        inner: list[Any] = [
            Paragraph(f'<font color="{colour}">{escaped(r.decision_text)}</font>', st["decision"]),
        ]
        if r.anatomies:
            inner.append(Paragraph(escaped(r.summary), st["base"]))
            inner.append(Spacer(1, 4))
            head = [Paragraph(f"<b>{h}</b>", st["small"]) for h in ("Anatomy", "Films", "Film scores", "Mean / threshold", "")]
            rows: list[list[Any]] = [head]
            bar_w = 90.0
            for a in r.anatomies:
                rows.append([
                    Paragraph(escaped(a.anatomy, MAX_CELL_CHARS), st["small"]),
                    Paragraph(escaped(a.films, MAX_CELL_CHARS), st["small"]),
                    Paragraph(escaped(a.film_scores, MAX_CELL_CHARS), st["small"]),
                    Paragraph(f"<b>{a.mean}</b>", st["small"]),
                    bar(a.score, bar_w, a.threshold, score_bar_colour(a.score, a.threshold, validated=a.validated)),
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
        if r.not_screened:
            inner.append(Spacer(1, 3))
            inner.append(Paragraph("<b>Not screened</b> (take no part in the result):", st["small"]))
            inner += [Paragraph(f"{escaped(label)}: {escaped(reason)}", st["small"]) for label, reason in r.not_screened]
        inner.append(Spacer(1, 3))
        inner.append(Paragraph(f"<b>Rule.</b> {escaped(r.rule)}", st["muted"]))
        inner += [self.warning(w) for w in r.warnings]
        return [Paragraph("Patient result (all films combined)", st["h2"]), boxed(inner, self.width, colour)]

    def film_summary(self) -> list[Any]:
        from reportlab.lib import colors
        from reportlab.platypus import Paragraph, Table, TableStyle

        st = self.st
        rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", st["small"]) for h in
                                  ("Film", "Anatomy", "View / side", "Low-BMD score", "Result")]]
        for s in self.c.summary:
            rows.append([
                Paragraph(escaped(s.film, MAX_CELL_CHARS), st["small"]),
                Paragraph(escaped(s.anatomy, MAX_CELL_CHARS), st["small"]),
                Paragraph(escaped(s.view, MAX_CELL_CHARS), st["small"]),
                Paragraph(escaped(s.score, MAX_CELL_CHARS), st["small"]),
                Paragraph(f'<font color="{decision_colour(s.decision, validated=s.validated)}">'
                          f'{escaped(s.result, MAX_CELL_CHARS)}</font>', st["small"]),
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
        from reportlab.platypus import Paragraph, Table

        st, m = self.st, self.c.model
        out: list[Any] = [Paragraph("Model", st["h2"]), kv_table(m.pairs, self.width, st)]
        out += [self.warning(w) for w in m.warnings]
        out.append(Paragraph("Validation metrics (from the model bundle)", st["subhead"]))
        if m.score_table is not None:
            cells = [[Paragraph(escaped(c), st["label"] if i == 0 else st["small"]) for c in r] for i, r in enumerate(m.score_table)]
            widths = [0.11, 0.17, 0.22, 0.12, 0.12, 0.11, 0.15]
            t = Table(cells, colWidths=[w * self.width for w in widths], hAlign="LEFT", repeatRows=1)
            t.setStyle(ruled_rows())
            out += [t, Paragraph(escaped(m.score_note), st["muted"])]
            if m.guard_text:
                out.append(Paragraph(escaped(m.guard_text), st["muted"]))
        elif m.metric_table is not None:
            cells = [[Paragraph(escaped(c), st["label"] if i == 0 else st["base"]) for c in r] for i, r in enumerate(m.metric_table)]
            widths = [0.12, 0.16, 0.24, 0.16, 0.16, 0.16]
            t = Table(cells, colWidths=[w * self.width for w in widths], hAlign="LEFT")
            t.setStyle(ruled_rows())
            out.append(t)
            if m.metric_note:
                out.append(Paragraph(escaped(m.metric_note), st["muted"]))
        elif m.metric_rows:
            out.append(kv_table(m.metric_rows, self.width, st))
        else:
            out.append(Paragraph(escaped(m.missing), st["warn"]))
        return out

    def pictures(self, f: FilmSection) -> Any:
        from reportlab.platypus import Paragraph, Table, TableStyle

        st = self.st
        assert f.pictures is not None
        pics = f.pictures() if callable(f.pictures) else f.pictures  # one film's pictures at a time
        gap = 10.0
        cell_w = (self.width - gap) / 2.0
        max_h = max(120.0, min(240.0, self.height / 2.0 - 175.0))  # two films per page when they fit
        dh, dw = pics.display.shape[:2]
        ratios = [dw / dh]
        if pics.overlay is not None:
            ratios.append(pics.overlay.shape[1] / pics.overlay.shape[0])
        img_h = min(max_h, *(cell_w / r for r in ratios))  # one height for both: same scale, no stretch
        left = [image_flowable(pics.display, img_h * ratios[0], img_h), Paragraph(escaped(f.display_caption), st["caption"])]
        if pics.overlay is not None:
            right = [image_flowable(pics.overlay, img_h * ratios[1], img_h), Paragraph(escaped(f.overlay_caption), st["caption"])]
        else:
            right = [Paragraph(escaped(f.overlay_caption), st["caption"])]
        t = Table([[left, right]], colWidths=[cell_w + gap / 2, cell_w + gap / 2], hAlign="LEFT")
        t.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("ALIGN", (0, 0), (-1, -1), "CENTER"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ]))
        return t

    def film_result(self, res: FilmResult) -> list[Any]:
        from reportlab.lib import colors
        from reportlab.platypus import Paragraph, Table, TableStyle

        st = self.st
        bar_w = 150.0
        rows: list[list[Any]] = [[Paragraph("<b>Class</b>", st["small"]), Paragraph("<b>Probability</b>", st["small"]), ""]]
        for c in res.classes:
            rows.append([Paragraph(escaped(c.label, MAX_CELL_CHARS), st["small"]), Paragraph(escaped(pct(c.probability)), st["small"]),
                         bar(c.probability, bar_w)])
        rows.append([
            Paragraph(f"<b>Low-BMD score</b> ({escaped(res.basis)})" if res.basis else "<b>Low-BMD score</b>", st["small"]),
            Paragraph(f"<b>{escaped(score_text(res.score))}</b>", st["small"]),
            bar(res.score, bar_w, res.threshold, score_bar_colour(res.score, res.threshold, validated=res.validated)),
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
        out: list[Any] = [t, Paragraph(escaped(f"{res.explanation}. {res.comparison}"), st["small"])]
        if res.inputs:
            out.append(Paragraph(escaped(res.inputs), st["small"]))
        colour = decision_colour(res.decision, validated=res.validated)
        out.append(Paragraph(f'<font color="{colour}"><b>{escaped(res.decision_text)}</b></font>', st["base"]))
        if res.reliability:
            out.append(Paragraph(escaped(res.reliability), st["small"] if res.validated else st["warn"]))
        return out

    def film_section(self, f: FilmSection) -> list[Any]:
        from reportlab.platypus import CondPageBreak, KeepTogether, Paragraph, Spacer

        st = self.st
        parts: list[Any] = [Paragraph(escaped(f.heading), st["h3"]), kv_table(f.pairs, self.width, st, columns=3), Spacer(1, 4)]
        if f.pictures is not None:
            parts.append(self.pictures(f))
        else:
            parts.append(Paragraph(escaped("No pixels to show for this film."), st["muted"]))
        parts.append(Spacer(1, 4))
        if f.result is None:
            grey = decision_colour(Decision.NOT_SCREENED)
            parts.append(Paragraph(f'<font color="{grey}"><b>Not screened.</b></font> ' + escaped(f.not_screened), st["base"]))
        else:
            parts += self.film_result(f.result)
        parts += [self.warning(w) for w in f.warnings]
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
        notes = Table([[Paragraph(escaped(NOTES_LABEL), st["label"])], [""]],
                      colWidths=[w], rowHeights=[14, 48])
        notes.setStyle(TableStyle([("BOX", (0, 1), (0, 1), 0.6, colors.HexColor("#888888")),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 2)]))
        return [KeepTogether([
            Paragraph("Review", st["h2"]),
            Paragraph(escaped(REVIEW_TEXT), st["small"]),
            Spacer(1, 4), t, Spacer(1, 8), notes,
        ])]

    def story(self) -> list[Any]:
        story = self.title() + self.patient() + self.patient_result() + self.film_summary() + self.model_section()
        for f in self.c.films:
            story += self.film_section(f)
        story += self.signature()
        return story


def build_report_pdf(
    items: Sequence[ScreenedFilm],
    *,
    bundle: Bundle | BundleConfig | None,
    anonymize: bool = False,
    page_size: str = "A4",
    salt: bytes | str | None = None,
    generated_at: _dt.datetime | None = None,
    clinic: Sequence[str] = (),
) -> bytes:
    """The PDF bytes of one patient's report (all `items` must share `Film.patient_key`)."""
    from reportlab.lib.pagesizes import A4, LETTER
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    if not items:
        raise ReportError("no films for this report")
    sizes = {"A4": A4, "LETTER": LETTER}
    size = sizes.get(str(page_size).strip().upper())
    if size is None:
        raise ReportError(f"unknown page size {page_size!r}: use A4 or Letter")
    content = build_content(items, bundle=bundle, anonymize=anonymize, salt=salt, generated_at=generated_at, clinic=clinic)
    setup_fonts()
    margin = 16 * mm
    layout = _Layout(content, width=size[0] - 2 * margin, height=size[1] - 2 * margin)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=size, leftMargin=margin, rightMargin=margin, topMargin=margin, bottomMargin=margin,
        title=safe_text(content.metadata_title), author=f"osteo-desktop {__version__}", subject=DISCLAIMER,
        creator=f"osteo-desktop {__version__}", keywords="screening aid, not a diagnosis",
    )
    canvasmaker = numbered_canvas_class(safe_text(content.header_left), safe_text(content.footer_left), *font_names(), margin)
    doc.build(layout.story(), canvasmaker=canvasmaker)
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
    clinic: Sequence[str] = (),
) -> Path:
    """Write one patient's report to `out_path` (atomic; refuses to overwrite unless `force`)."""
    target = Path(out_path)
    if not force and target.exists():
        raise ReportExistsError(target)
    data = build_report_pdf(items, bundle=bundle, anonymize=anonymize, page_size=page_size, salt=salt,
                            generated_at=generated_at, clinic=clinic)
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
    clinic: Sequence[str] = (),
    errors: list[ReportError] | None = None,
) -> list[Path]:
    """One PDF per patient in `out_dir` (named by `report_filename`); returns the paths written, in
    batch order.

    One patient's failure (an existing file without `force`, identifiers that defeat the layout, a
    full disk) never stops the others: each failure becomes a `ReportError` naming the file; they
    are appended to `errors` when given, else the first is raised once every other patient's
    report has been written.
    """
    if anonymize and salt is None:
        salt = installation_salt()
    out = Path(out_dir)
    groups = group_by_patient(items)
    taken: set[Path] = set()
    targets = [unique_path(out / report_filename(g, anonymize=anonymize, salt=salt), taken) for g in groups]
    generated_at = generated_at or _dt.datetime.now().astimezone()
    written: list[Path] = []
    failures: list[ReportError] = []
    for group, target in zip(groups, targets, strict=True):
        try:
            written.append(write_report_for_patient(group, target, bundle=bundle, anonymize=anonymize, force=force,
                                                    page_size=page_size, salt=salt, generated_at=generated_at,
                                                    clinic=clinic))
        except ReportError as e:
            failures.append(e)
        except OSError as e:
            failures.append(ReportError(describe_os_error(e, target)))
        except Exception as e:  # reportlab's LayoutError and kin: this patient only
            log.warning("report %s failed: %s", target.name, type(e).__name__, exc_info=log.isEnabledFor(logging.DEBUG))
            failures.append(ReportError(f"{target}: the report could not be laid out ({type(e).__name__}: "
                                        f"{str(e).splitlines()[0][:200] if str(e) else 'no detail'})."))
    if errors is not None:
        errors.extend(failures)
    elif failures:
        raise failures[0]
    return written
