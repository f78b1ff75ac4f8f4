"""reportlab building blocks of the PDF report: fonts, paragraph styles, key/value tables, boxes,
score bars, pictures, and the canvas that puts a header and footer on every page ("page X of Y").

Only `pdf.py` uses these; they say nothing about the screening result (see `report_content`).
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from ..scoring import NEUTRAL_BAR_PAPER
from ..text import strip_controls
from .report_content import DISCLAIMER

log = logging.getLogger(__name__)

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


def setup_fonts() -> None:
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


#: Identifiers and other values from files have no length limit of their own (a 10,000-character
#: PatientID once made reportlab's layout fail); the report shows at most this many characters of
#: one value, then an ellipsis.
MAX_VALUE_CHARS = 160
MAX_CELL_CHARS = 300  # a narrow table column
MAX_TEXT_CHARS = 1000


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"


def safe_text(text: object, limit: int = MAX_TEXT_CHARS) -> str:
    """Plain text safe for the current font: control characters removed, at most `limit` characters
    (then "…"), characters the font cannot draw become '?'."""
    s = clip(strip_controls(text), limit)
    if not _UNICODE:
        s = s.encode("cp1252", errors="replace").decode("cp1252")
    return s


def escaped(text: object, limit: int = MAX_TEXT_CHARS) -> str:
    """Plain text escaped for a Paragraph (see `safe_text`)."""
    return escape(safe_text(text, limit))



def font_names() -> tuple[str, str]:
    """(regular, bold): DejaVu Sans once `setup_fonts` found it, else Helvetica."""
    return _FONT, _FONT_BOLD


# -- building blocks --------------------------------------------------------------------------------
def styles() -> dict[str, Any]:
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


def kv_table(pairs: Sequence[tuple[str, str]], width: float, st: dict[str, Any], columns: int = 2) -> Any:
    """Key/value pairs laid out in `columns` column pairs."""
    from reportlab.platypus import Paragraph, Table

    cells = [(Paragraph(escaped(k, MAX_VALUE_CHARS), st["label"]),
              Paragraph(escaped(v, MAX_VALUE_CHARS) if v else "—", st["base"])) for k, v in pairs]
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
    t.setStyle(ruled_rows())
    return t


def ruled_rows() -> Any:
    """The report's plain table style: cells aligned at the top, tight padding, a light rule under every row."""
    from reportlab.lib import colors
    from reportlab.platypus import TableStyle

    return TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#DDDDDD")),
    ])


def boxed(flowables: list[Any], width: float, border: str, background: str | None = None, pad: float = 6) -> Any:
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


def bar(value: float, width: float, threshold: float | None = None, colour: str = NEUTRAL_BAR_PAPER) -> Any:
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


def image_flowable(img: np.ndarray, width: float, height: float) -> Any:
    """The picture as a JPEG flowable that holds only the JPEG bytes once drawn (see `_jpeg_image_class`)."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    mode = "L" if img.ndim == 2 else "RGB"
    PILImage.fromarray(np.ascontiguousarray(img), mode).save(buf, format="JPEG", quality=88)
    return _jpeg_image_class()(buf.getvalue(), width, height)


@functools.cache
def _jpeg_image_class() -> type:
    """reportlab's `Image` decodes its picture when drawn (the decoded pixels serve as a digest) and
    keeps them in its reader as long as the flowable lives, that is until the whole report is built,
    and the reader of a JPEG is a reference cycle (it holds a bound method of itself), so even then
    only the cyclic garbage collector frees them: ~5 MB per film, 80 MB for a patient with 15 films.
    This one makes its reader when drawn and empties it after; the PDF embeds the JPEG as it is
    either way."""
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    class JpegImage(Image):
        def __init__(self, jpeg: bytes, width: float, height: float):
            super().__init__(io.BytesIO(jpeg), width=width, height=height)
            self._jpeg = jpeg
            self._img = None  # the size is known; the reader is made again when drawn

        def draw(self) -> None:
            reader = self._img = ImageReader(io.BytesIO(self._jpeg))
            try:
                super().draw()
            finally:
                self._img = None
                reader.__dict__.clear()  # the decoded pixels go now, not at the next garbage collection

    return JpegImage


def numbered_canvas_class(header_left: str, footer_left: str, font: str, font_bold: str, margin: float) -> type:
    from reportlab.lib import colors
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    def fit(text: str, fnt: str, size: float, width: float) -> str:
        text = text[:400]  # a line of the page holds far fewer characters; keeps the loop short
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


