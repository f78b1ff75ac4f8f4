"""Exports from the viewer, orchestrated: File > Export PNG snapshot / PDF report / DICOM SR / SC.

The controller asks (the dialogs of `report_export`), gathers what the session already holds (the
patient's films open in the study browser, films still in memory, cached results), hands the job to
the screening worker (`ScreeningController.export`), and reports the outcome in the message panel
and the status bar. It keeps the running export's kind so that a second export waits for the first.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QByteArray, QObject, QSettings, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImageWriter
from PySide6.QtWidgets import QFileDialog, QWidget

from ..core.inference import Prediction
from ..core.overlay import stamp
from ..core.session import Session
from . import report_export as rx
from . import screening as scr
from .imaging import LoadedFilm, rgb_qimage
from .messages import ERROR, INFO, WARNING

if TYPE_CHECKING:
    from .study_browser import StudyBrowser

log = logging.getLogger(__name__)

PDF_TIP = "Write the screening report of this film's patient (every film of the patient open here) as a PDF"
DICOM_TIP = "Write this film's result as a DICOM structured report and/or a secondary capture with the attention map"

EXPORT_STAMP = "NOT FOR DIAGNOSTIC USE"

PostFn = Callable[[str, str, Iterable[tuple[str, Callable[[], object]]]], None]
StatusFn = Callable[[str, int], None]
PhaseFn = Callable[[str], None]


def _module_found(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def pdf_report_support() -> tuple[bool, str]:
    """Whether the PDF export can be offered (True, tooltip), or why not (False, reason).
    Checks without importing: reportlab is imported only when a report is written."""
    if not _module_found("reportlab"):
        return False, "PDF reports are not available: the reportlab package is not installed."
    return True, PDF_TIP


CLINIC_NAME_KEY = "report/clinic_name"
CLINIC_ADDRESS_KEY = "report/clinic_address"


def clinic_lines(settings: QSettings) -> tuple[str, ...]:
    """The clinic's name and address lines for the report header (Settings > Report header)."""
    from ..core.reports.common import clinic_header_lines as split

    name = str(settings.value(CLINIC_NAME_KEY, "") or "")
    address = str(settings.value(CLINIC_ADDRESS_KEY, "") or "")
    return tuple(split(name, address))


def dicom_export_support() -> tuple[bool, str]:
    if not _module_found("pydicom"):
        return False, "DICOM outputs are not available: the pydicom package is not installed."
    return True, DICOM_TIP


class ExportController(QObject):
    """Export orchestration for one main window (its session, browser, worker and settings)."""

    finished = Signal(int, object)  # job id, [Path] written
    failed = Signal(int, str)  # job id, message ("cancelled" when cancelled)
    screened = Signal(str, object)  # path, Prediction: a film screened for a report

    def __init__(self, parent: QWidget, *, session: Session[LoadedFilm, Prediction], browser: StudyBrowser,
                 screening: scr.ScreeningController, settings: QSettings, post: PostFn, status: StatusFn,
                 enter: PhaseFn, leave: PhaseFn, snapshot: Callable[[], np.ndarray], last_dir: Callable[[], str]):
        super().__init__(parent)
        self._parent = parent
        self.session = session
        self.browser = browser
        self.screening = screening
        self.settings = settings
        self._post, self._status, self._enter, self._leave = post, status, enter, leave
        self._snapshot, self._last_dir = snapshot, last_dir
        self._kind: dict[int, str] = {}  # running export jobs -> "PDF report" / "DICOM"
        self._printing: dict[int, Path] = {}  # print jobs -> their temporary folder
        self.print_hook: Callable[[Path], object] | None = None  # tests: receives the PDF instead of a printer
        c = screening
        c.export_progress.connect(self._on_progress)
        c.export_screened.connect(self._on_screened)
        c.export_done.connect(self._on_done)
        c.export_failed.connect(self._on_failed)
        c.export_cancelled.connect(self._on_cancelled)

    @property
    def busy(self) -> bool:
        return bool(self._kind)

    # -- what an export covers -----------------------------------------------------------------
    def patient_films(self) -> list[rx.ExportFilm]:
        """Every film of the current film's patient open in the study browser (display order), with
        the film and its result where they are still in memory."""
        current = self.session.current_key
        if current is None:
            return []
        paths = self.browser.patient_paths(current) or [current]
        out = []
        for p in paths:
            lf = self.session.film(p)
            out.append(rx.ExportFilm(p, lf.film if lf is not None else None, self.session.result(p)))
        return out

    def _blocked(self) -> bool:
        if self.session.current is None:
            self._status("Nothing to export: open a film first.", 5000)
            return True
        if self._kind:
            self._status("An export is still being written: wait for it (or Ctrl+. to cancel it).", 5000)
            return True
        return False

    def _report_dir(self, key: str) -> str:
        d = str(self.settings.value(key, "") or "")
        return d if d and Path(d).is_dir() else rx.documents_dir()

    def no_model_short(self) -> str:
        return ("no model is installed" if self.screening.model_state == scr.ModelState.NO_MODEL
                else "the model could not be loaded")

    def _screening_summary(self, films: list[rx.ExportFilm]) -> str:
        n = len(films)
        have = sum(1 for f in films if f.prediction is not None)
        todo = n - have
        head = f"The report covers {'the one film' if n == 1 else f'all {n} films'} of this patient open in the viewer"
        if todo == 0:
            return head + (": screened." if n == 1 else ", all screened.")
        if self.screening.model_available:
            return head + f": {have} screened; {todo} will be screened first, in the background."
        return head + f": {have} screened; {todo} cannot be screened ({self.no_model_short()}) and will be listed as not screened."

    # -- PNG snapshot --------------------------------------------------------------------------
    def png_dialog(self) -> None:
        """File > Export PNG snapshot…: ask where, then export_png()."""
        if self.session.current is None:
            self._status("Nothing to export: open a film first.", 5000)
            return
        name = f"{Path(self.session.current_key or 'film').stem}_view.png"
        path, _ = QFileDialog.getSaveFileName(self._parent, "Export PNG snapshot", str(Path(self._last_dir()) / name),
                                              "PNG (*.png)")
        if path:
            self.export_png(path)

    def export_png(self, path: str | Path) -> bool:
        """Save the view as shown (overlays, attention map, measurements), stamped NOT FOR DIAGNOSTIC USE."""
        if self.session.current is None:
            return False
        rgb = stamp(self._snapshot(), EXPORT_STAMP)
        ok = QImageWriter(str(path), QByteArray(b"PNG")).write(rgb_qimage(rgb))
        if ok:
            self._status(f"Saved {path}", 6000)
            log.info("exported a PNG snapshot")
        else:
            self._post(ERROR, f"{path}: the snapshot could not be written (check the folder and free space).", ())
        return ok

    # -- PDF -----------------------------------------------------------------------------------
    def pdf_dialog(self) -> None:
        """File > Export PDF report…: ask (file, page size, anonymised), then export_pdf()."""
        if self._blocked():
            return
        from ..core.errors import ReportError
        from ..core.reports import ScreenedFilm, report_filename
        from ..core.reports.common import format_person_name

        self.screening.preload_reports()  # in the worker, while the user answers the dialog
        lf = self.session.current
        assert lf is not None  # _blocked() said so
        films = self.patient_films()
        first = self.session.film(films[0].path) if films else None
        film0 = first.film if first is not None else lf.film
        name = report_filename([ScreenedFilm(film0, None)])
        try:
            anon_name = report_filename([ScreenedFilm(film0, None)], anonymize=True)
        except ReportError as e:  # the pseudonym salt cannot be created: the export will say so too
            log.warning("no pseudonym for the suggested file name: %s", e)
            anon_name = "osteo-report_anonymised.pdf"
        ids = lf.film.ids
        who = format_person_name(ids.patient_name)
        patient = (f"{who} (ID {ids.patient_id})" if who else f"ID {ids.patient_id}") if ids.patient_id else lf.film.display_name
        summary = f"Patient: {patient}\n{self._screening_summary(films)}"
        identifiers = [ids.patient_id, *str(ids.patient_name or "").replace("=", "^").split("^")]
        opts = rx.ask_pdf_options(
            self._parent, folder=self._report_dir(rx.DIR_KEY), name=name, anon_name=anon_name,
            page_size=str(self.settings.value(rx.PAGE_SIZE_KEY, rx.default_page_size())), anonymize=False,
            summary=summary, identifiers=[i for i in identifiers if i],
        )
        if opts is not None:
            self.export_pdf(opts.path, page_size=opts.page_size, anonymize=opts.anonymize)

    def export_pdf(self, path: str | Path, *, page_size: str = "A4", anonymize: bool = False,
                   force: bool | None = None) -> int | None:
        """Write the current patient's PDF report to `path` in the worker; returns the export job id.

        `force=None` asks "Replace?" when the file exists (None returned, nothing written, if the user
        declines); True / False are passed on as the core's `force`.
        """
        if self._blocked():
            return None
        path = Path(path)
        if path.is_dir():
            self._post(ERROR, f"{path} is a folder: the report needs a file name.", ())
            return None
        if force is None:
            force = False
            if path.exists():
                if not rx.confirm_replace(self._parent, [path]):
                    self._status(f"Not exported: {path.name} was left as it was.", 6000)
                    return None
                force = True
        self.settings.setValue(rx.PAGE_SIZE_KEY, page_size)
        self.settings.setValue(rx.DIR_KEY, str(path.parent))
        job = rx.ExportJob(rx.PDF, self.patient_films(), path, page_size=page_size, anonymize=anonymize, force=force,
                           clinic=clinic_lines(self.settings), clinical=self._clinical())
        return self._start(job, "PDF report")

    def _clinical(self) -> Any:
        lf = self.session.current
        return self.session.clinical(lf.film.patient_key) if lf is not None else None

    # -- Print ---------------------------------------------------------------------------------
    def print_report(self) -> int | None:
        """File > Print report…: the same PDF as the export, written to a temporary file, then Qt's
        print dialog. Returns the export job id (the dialog opens when the PDF is ready)."""
        if self._blocked():
            return None
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="osteo-print-"))
        page_size = str(self.settings.value(rx.PAGE_SIZE_KEY, rx.default_page_size()))
        job = rx.ExportJob(rx.PDF, self.patient_films(), folder / "report.pdf", page_size=page_size, force=True,
                           clinic=clinic_lines(self.settings), clinical=self._clinical())
        jid = self._start(job, "report for printing")
        self._printing[jid] = folder
        return jid

    def _print_written(self, jid: int, written: list[Path]) -> None:
        import shutil

        folder = self._printing.pop(jid)
        try:
            if written:
                from .printing import print_pdf

                if self.print_hook is not None:
                    self.print_hook(written[0])
                elif print_pdf(written[0], self._parent):
                    self._status("Report sent to the printer.", 6000)
                else:
                    self._status("Printing cancelled.", 4000)
        except Exception as e:  # a printer problem is a message, never a crash
            log.exception("printing failed")
            self._post(ERROR, f"The report could not be printed ({type(e).__name__}: {e}).", ())
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- DICOM ---------------------------------------------------------------------------------
    def dicom_dialog(self) -> None:
        """File > Export DICOM SR / SC…: the current film's result as DICOM, into a folder."""
        if self._blocked():
            return
        lf = self.session.current
        assert lf is not None  # _blocked() said so
        kinds = str(self.settings.value(rx.DICOM_KINDS_KEY, "SR") or "SR")
        state = "screened" if self.session.has_result(lf.key) else (
            "not screened yet: it will be screened first" if self.screening.model_available else
            f"not screened ({self.no_model_short()}): nothing can be written")
        opts = rx.ask_dicom_options(self._parent, folder=self._report_dir(rx.DICOM_DIR_KEY),
                                    summary=f"Film: {lf.film.display_name} ({state}).",
                                    sr="SR" in kinds, sc="SC" in kinds)
        if opts is not None:
            self.export_dicom(opts.folder, sr=opts.sr, sc=opts.sc)

    def export_dicom(self, folder: str | Path, *, sr: bool = True, sc: bool = False, force: bool | None = None) -> int | None:
        """Write `<stem>_SR.dcm` / `<stem>_SC.dcm` of the current film into `folder` (asks before replacing)."""
        if self._blocked():
            return None
        folder = Path(folder)
        films = [f for f in self.patient_films() if f.path == self.session.current_key]
        if force is None:
            existing = [p for p in rx.dicom_targets(films, folder, sr, sc) if p.exists()]
            force = False
            if existing:
                if not rx.confirm_replace(self._parent, existing):
                    self._status("Not exported: the existing files were left as they were.", 6000)
                    return None
                force = True
        self.settings.setValue(rx.DICOM_DIR_KEY, str(folder))
        self.settings.setValue(rx.DICOM_KINDS_KEY, "+".join(k for k, on in (("SR", sr), ("SC", sc)) if on))
        return self._start(rx.ExportJob(rx.DICOM, films, folder, sr=sr, sc=sc, force=force), "DICOM")

    # -- the job's life ------------------------------------------------------------------------
    def _start(self, job: rx.ExportJob, what: str) -> int:
        jid = self.screening.export(job)
        self._kind[jid] = what
        self._enter("exporting")
        waiting = self.screening.model_state in (scr.ModelState.LOADING, scr.ModelState.NOT_STARTED)
        self._status(f"Exporting the {what}" + (" once the model has loaded…" if waiting else "…"), 0)
        return jid

    def _ended(self, jid: int) -> str | None:
        what = self._kind.pop(jid, None)
        if what is not None:
            self._leave("exporting")
        return what

    def _on_progress(self, jid: int, text: str) -> None:
        if jid in self._kind:
            self._status(f"{self._kind[jid]}: {text}", 0)

    def _on_screened(self, path: str, pred: Prediction) -> None:
        self.screened.emit(path, pred)

    def _on_done(self, jid: int, paths: Any, notes: Any) -> None:
        what = self._ended(jid)
        if what is None:
            return
        written = [Path(p) for p in paths]
        if jid in self._printing:
            self._print_written(jid, written)
            if notes:
                self._post(WARNING, "\n".join(notes), ())
            self.finished.emit(jid, written)
            return
        folder = written[0].parent if written else None
        if not written:
            text = f"{what}: nothing was written (no screened film)."
        elif len(written) == 1:
            text = f"{what} saved: {written[0]}"
        else:
            text = f"{what} saved in {folder}: " + ", ".join(p.name for p in written)
        if notes:
            text += "\n" + "\n".join(notes)
        actions = [("Open folder", lambda f=folder: self.open_folder(f))] if folder is not None else []
        self._post(WARNING if notes else INFO, text, actions)
        log.info("export %d written (%d file(s))", jid, len(written))
        self.finished.emit(jid, written)

    def _on_failed(self, jid: int, message: str) -> None:
        if self._ended(jid) is None:
            return
        self._discard_print(jid)
        self._post(ERROR, message, ())
        self.failed.emit(jid, message)

    def _on_cancelled(self, jid: int) -> None:
        what = self._ended(jid)
        if what is None:
            return
        self._discard_print(jid)
        self._status(f"{what} export cancelled: nothing was written.", 6000)
        self.failed.emit(jid, "cancelled")

    def _discard_print(self, jid: int) -> None:
        import shutil

        folder = self._printing.pop(jid, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def open_folder(self, folder: Path | None) -> bool:
        """Show a folder in the system's file manager."""
        if folder is None:
            return False
        ok = QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        if not ok:
            self._status(f"Could not open {folder}", 6000)
        return ok
