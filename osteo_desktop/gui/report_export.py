"""Report export from the viewer: the PDF screening report of the current film's patient, and the
DICOM SR / Secondary Capture of the current film, written by the same core code as
`osteo-screen --pdf / --dicom-sr / --dicom-sc` (`osteo_desktop.core.reports`).

The GUI thread only asks (the dialogs here) and gathers what it already has: the patient's films
open in the study browser, the films still in memory and their cached results. Everything else
happens in the screening worker, in order with the screening requests (`run_export`): films that
left the memory cache are read again, films not screened yet are screened (with Grad-CAM, for the
report's heatmaps), then the files are written. Nothing is ever overwritten unless the user said
"Replace" (then `force=True`).

The dialogs are module-level functions (`ask_pdf_options`, `ask_dicom_options`, `confirm_replace`)
so that tests can replace them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLocale, QStandardPaths, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLayout,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.export_job import DICOM, PDF, ExportCancelled, ExportFilm, ExportJob, run_export
from .path_field import path_field
from .theme import MUTED, WARN

__all__ = ["DICOM", "PDF", "ExportCancelled", "ExportFilm", "ExportJob", "run_export"]  # re-exported: moved to core

log = logging.getLogger(__name__)

PAGE_SIZES = ("A4", "Letter")
PAGE_SIZE_KEY = "report/page_size"
DIR_KEY = "report/dir"
DICOM_DIR_KEY = "report/dicom_dir"
DICOM_KINDS_KEY = "report/dicom_kinds"


def default_page_size() -> str:
    """Letter where the locale measures in US units, else A4."""
    return "Letter" if QLocale.system().measurementSystem() == QLocale.MeasurementSystem.ImperialUSSystem else "A4"


def documents_dir() -> str:
    d = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return d if d and Path(d).is_dir() else str(Path.home())


def dicom_targets(films: Sequence[Any], folder: Path, sr: bool, sc: bool) -> list[Path]:
    """The files `core.reports.write_dicom_outputs` writes for these films (to ask before replacing)."""
    from ..core.reports.common import safe_filename_part, unique_path

    taken: set[Path] = set()
    out = []
    for f in films:
        stem = safe_filename_part(Path(f.path).stem, "film")
        for kind, wanted in (("SR", sr), ("SC", sc)):
            if wanted:
                out.append(unique_path(folder / f"{stem}_{kind}.dcm", taken))
    return out


# -- dialogs (GUI thread) ------------------------------------------------------------------------------
@dataclass
class PdfOptions:
    path: Path
    page_size: str = "A4"
    anonymize: bool = False


@dataclass
class DicomOptions:
    folder: Path
    sr: bool = True
    sc: bool = False


def _names_a_folder(text: str) -> bool:
    """The typed text ends like a folder ("/", "~/", ".../sub/"): no file name yet."""
    text = text.strip()
    seps = tuple({"/", os.sep, os.altsep or "/"})
    return bool(text) and (text.endswith(seps) or Path(text).expanduser().name in ("", ".", ".."))


def _with_suffix(text: str, folder: str, suffix: str) -> Path | None:
    """The file the typed text names, with `suffix` added when missing; None while it names no file
    (empty, or a folder such as "/" or "~/" while the user is still typing)."""
    text = text.strip()
    if not text or _names_a_folder(text):
        return None
    p = Path(text).expanduser()
    if not p.is_absolute():
        p = Path(folder) / p
    if p.is_dir():  # an existing folder typed without the final "/": the dialog says to add a file name
        return p
    if p.suffix.lower() != suffix:
        p = p.with_name(p.name + suffix)
    return p


def _export_buttons(dialog: QDialog, lay: QVBoxLayout) -> tuple[QDialogButtonBox, QPushButton]:
    """Cancel + a default "Export" button, wired to the dialog's accept/reject, added to `lay`."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
    export = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
    export.setDefault(True)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    lay.addWidget(buttons)
    return buttons, export


class PdfReportDialog(QDialog):
    """File, page size and anonymisation for one patient's PDF report."""

    def __init__(self, parent: QWidget | None, *, folder: str, name: str, anon_name: str, page_size: str,
                 anonymize: bool, summary: str, identifiers: Sequence[str] = ()):
        super().__init__(parent)
        self.setWindowTitle("Export PDF report")
        self.setMinimumWidth(560)
        self._folder, self._names = folder, (name, anon_name)
        self._identifiers = [s.lower() for s in identifiers if s and len(s) >= 3]
        lay = QVBoxLayout(self)
        lay.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # grows when the warning shows
        self.summary = QLabel(summary)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.summary)
        form = QFormLayout()
        row, self.path_edit = path_field(str(Path(folder) / (anon_name if anonymize else name)), self._browse)
        self.path_edit.setMinimumWidth(360)
        form.addRow("Save as:", row)
        self.page_combo = QComboBox()
        self.page_combo.addItems(list(PAGE_SIZES))
        self.page_combo.setCurrentText(page_size if page_size in PAGE_SIZES else "A4")
        form.addRow("Page size:", self.page_combo)
        self.anon_check = QCheckBox("Anonymised: no name, birth date, IDs or file names (a pseudonym instead)")
        self.anon_check.setChecked(anonymize)
        self.anon_check.toggled.connect(self._anon_toggled)
        form.addRow("", self.anon_check)
        lay.addLayout(form)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {WARN.name()};")
        lay.addWidget(self.warning)
        note = QLabel("Screening aid — not a diagnosis. The report must be reviewed and signed.")
        note.setStyleSheet(f"color: {MUTED.name()};")
        lay.addWidget(note)
        self.buttons, self.export_button = _export_buttons(self, lay)
        self.path_edit.textChanged.connect(self._check)
        self._check()

    def _browse(self) -> None:
        cur = self.options()
        start = str(cur.path) if cur else self._folder
        path, _ = QFileDialog.getSaveFileName(self, "Save the PDF report as", start, "PDF (*.pdf)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)  # asked once, on export
        if path:
            self.path_edit.setText(path)

    def _anon_toggled(self, on: bool) -> None:
        p = Path(self.path_edit.text().strip())
        old, new = (self._names[0], self._names[1]) if on else (self._names[1], self._names[0])
        if p.name == old:  # the suggested name: swap it, so that an anonymised file is not named after the patient
            self.path_edit.setText(str(p.with_name(new)))
        self._check()

    def _check(self) -> None:
        opts = self.options()
        self.export_button.setEnabled(opts is not None)
        warn = ""
        if opts is not None and opts.anonymize:
            name = opts.path.name.lower()
            if any(i in name for i in self._identifiers):
                warn = "The file name contains the patient's name or ID: choose another name for an anonymised report."
        if opts is not None and opts.path.is_dir():
            warn = "This is a folder: add a file name."
            self.export_button.setEnabled(False)
        elif opts is None and _names_a_folder(self.path_edit.text()):
            warn = "This is a folder: add a file name."
        if warn != self.warning.text() or bool(warn) != self.warning.isVisibleTo(self):
            self.warning.setText(warn)
            self.warning.setVisible(bool(warn))
            self._fit_height()

    def _fit_height(self) -> None:
        """Grow to fit wrapped text (a QVBoxLayout's minimum size ignores the labels' height-for-width)."""
        lay = self.layout()
        if lay is None:
            return
        lay.activate()
        need = lay.totalHeightForWidth(self.width()) if lay.hasHeightForWidth() else lay.sizeHint().height()
        if need > self.height():
            self.resize(self.width(), need)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit_height()

    def options(self) -> PdfOptions | None:
        path = _with_suffix(self.path_edit.text(), self._folder, ".pdf")
        if path is None:
            return None
        return PdfOptions(path, self.page_combo.currentText(), self.anon_check.isChecked())


class DicomExportDialog(QDialog):
    def __init__(self, parent: QWidget | None, *, folder: str, summary: str, sr: bool, sc: bool):
        super().__init__(parent)
        self.setWindowTitle("Export DICOM SR / Secondary Capture")
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        lay.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        s = QLabel(summary)
        s.setWordWrap(True)
        s.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(s)
        form = QFormLayout()
        row, self.folder_edit = path_field(folder, self._browse)
        form.addRow("Folder:", row)
        self.sr_check = QCheckBox("Structured report (TID 1500 SR): scores and decision, for PACS")
        self.sr_check.setChecked(sr)
        self.sc_check = QCheckBox("Secondary Capture: the film with the attention map burned in")
        self.sc_check.setChecked(sc)
        form.addRow("", self.sr_check)
        form.addRow("", self.sc_check)
        lay.addLayout(form)
        note = QLabel("Both go into the film's study and keep its patient data (they are not anonymised).")
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {MUTED.name()};")
        lay.addWidget(note)
        self.buttons, self.export_button = _export_buttons(self, lay)
        for sig in (self.folder_edit.textChanged, self.sr_check.toggled, self.sc_check.toggled):
            sig.connect(self._check)
        self._check()

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder for the DICOM files", self.folder_edit.text())
        if d:
            self.folder_edit.setText(d)

    def _check(self) -> None:
        self.export_button.setEnabled(self.options() is not None)

    def options(self) -> DicomOptions | None:
        text = self.folder_edit.text().strip()
        if not text or not (self.sr_check.isChecked() or self.sc_check.isChecked()):
            return None
        return DicomOptions(Path(text).expanduser(), self.sr_check.isChecked(), self.sc_check.isChecked())


def ask_pdf_options(parent: QWidget | None, **kw: Any) -> PdfOptions | None:
    """The PDF dialog (modal); None when cancelled. Keyword arguments: see PdfReportDialog."""
    d = PdfReportDialog(parent, **kw)
    try:
        return d.options() if d.exec() == QDialog.DialogCode.Accepted else None
    finally:
        d.deleteLater()


def ask_dicom_options(parent: QWidget | None, **kw: Any) -> DicomOptions | None:
    d = DicomExportDialog(parent, **kw)
    try:
        return d.options() if d.exec() == QDialog.DialogCode.Accepted else None
    finally:
        d.deleteLater()


def confirm_replace(parent: QWidget | None, paths: Sequence[Path]) -> bool:
    """Ask before overwriting; No is the default."""
    paths = list(paths)
    if len(paths) == 1:
        text = f"{paths[0].name} already exists in {paths[0].parent}.\n\nReplace it?"
    else:
        text = "These files already exist:\n" + "\n".join(f"  {p}" for p in paths) + "\n\nReplace them?"
    answer = QMessageBox.question(parent, "Replace?", text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
