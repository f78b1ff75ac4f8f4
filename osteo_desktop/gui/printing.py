"""Printing a PDF report from the viewer: the pages are rendered (pypdfium2) at the printer's
resolution and painted onto a QPrinter, so what is printed is exactly the PDF that would be saved."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

MAX_DPI = 300  # enough for text and a film on paper; keeps a page's bitmap under ~35 MB


def page_count(pdf_path: str | Path) -> int:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf_path))
    try:
        return len(doc)
    finally:
        doc.close()


def print_pdf_to(pdf_path: str | Path, printer: QPrinter, *, greyscale: bool | None = None) -> int:
    """Paint every page of the PDF onto `printer` (already configured); returns the pages printed.

    Pages are scaled to the printer's page keeping their aspect ratio. `greyscale` None follows the
    printer's colour mode."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf_path))
    painter = QPainter()
    try:
        if not painter.begin(printer):
            raise OSError("the printer could not be started")
        dpi = min(MAX_DPI, max(72, printer.resolution()))
        grey = printer.colorMode() == QPrinter.ColorMode.GrayScale if greyscale is None else greyscale
        first, last = printer.fromPage(), printer.toPage()  # 0, 0: all pages (the user chose no range)
        pages = range(first - 1, min(last, len(doc))) if first > 0 else range(len(doc))
        for n, i in enumerate(pages):
            if n:
                printer.newPage()
            page = doc[i]
            bitmap = page.render(scale=dpi / 72.0, grayscale=grey)
            img = bitmap.to_pil().convert("L" if grey else "RGB")
            fmt = QImage.Format.Format_Grayscale8 if grey else QImage.Format.Format_RGB888
            data = img.tobytes()
            qimg = QImage(data, img.width, img.height, img.width * (1 if grey else 3), fmt).copy()
            area = painter.viewport()
            target = QRectF(area)
            scale = min(target.width() / qimg.width(), target.height() / qimg.height())
            w, h = qimg.width() * scale, qimg.height() * scale
            painter.drawImage(QRectF(target.x() + (target.width() - w) / 2, target.y(), w, h), qimg)
            page.close()
        return len(pages)
    finally:
        if painter.isActive():
            painter.end()
        doc.close()


def print_pdf(pdf_path: str | Path, parent: QWidget | None = None, *, title: str = "Print report") -> bool:
    """Ask with Qt's print dialog, then print. False when the user cancelled."""
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setDocName(Path(pdf_path).name)
    printer.setFromTo(1, page_count(pdf_path))
    dialog = QPrintDialog(printer, parent)
    dialog.setWindowTitle(title)
    dialog.setOption(QPrintDialog.PrintDialogOption.PrintToFile, True)
    if dialog.exec() != QPrintDialog.DialogCode.Accepted:
        return False
    pages = print_pdf_to(pdf_path, printer)
    log.info("printed %d page(s) of %s", pages, Path(pdf_path).name)
    return True

