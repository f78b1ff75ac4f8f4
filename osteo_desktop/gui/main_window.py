"""The main window: film view in the middle, study browser on the left, results on the right.

Everything slow happens elsewhere: films load in `FilmLoader`'s pool, the model loads and screens in
`ScreeningController`'s thread, and report exports (PDF, DICOM SR / SC) are written there too. Errors
become messages in the panel above the film and in the status bar; nothing here opens a modal error
dialog (the export dialogs and "Replace?" are questions, asked before anything starts).
"""

from __future__ import annotations

import importlib.util
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from .. import INTENDED_USE, __version__
from ..core.overlay import stamp
from ..resources_path import demo_film_path
from . import report_export as rx
from . import screening as scr
from .film_view import FilmView
from .imaging import LoadedFilm, rgb_qimage
from .loader import FilmLoader
from .messages import ERROR, INFO, WARNING, MessagePanel
from .results_panel import ResultsPanel
from .shortcuts import PRESET_GROUP, ShortcutsDialog
from .study_browser import StudyBrowser
from .tag_browser import TagBrowser

log = logging.getLogger(__name__)

APP_NAME = "osteo-desktop"
MAX_RECENT = 10
FILM_CACHE = 6
RESULT_CACHE = 16
EXPORT_STAMP = "NOT FOR DIAGNOSTIC USE"
FILE_FILTER = "Films (*.dcm *.dicom *.DCM *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"


PDF_TIP = "Write the screening report of this film's patient (every film of the patient open here) as a PDF"
DICOM_TIP = "Write this film's result as a DICOM structured report and/or a secondary capture with the attention map"


def _module_found(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def pdf_report_support() -> tuple[bool, str]:
    """Whether the PDF report export can be offered (True, tooltip), or why not (False, reason).
    Checks without importing: reportlab is imported only when a report is written."""
    if not _module_found("osteo_desktop.core.reports"):
        return False, "PDF reports are not available in this build (osteo_desktop.core.reports is missing)."
    if not _module_found("reportlab"):
        return False, "PDF reports are not available: the reportlab package is not installed."
    return True, PDF_TIP


def dicom_export_support() -> tuple[bool, str]:
    if not _module_found("osteo_desktop.core.reports"):
        return False, "DICOM outputs are not available in this build (osteo_desktop.core.reports is missing)."
    if not _module_found("pydicom"):
        return False, "DICOM outputs are not available: the pydicom package is not installed."
    return True, DICOM_TIP


class MainWindow(QMainWindow):
    # for automation (--screenshot / --exit-after-result) and tests
    film_shown = Signal(str)
    film_failed = Signal(str, str)
    load_finished = Signal(int, int)
    screening_done = Signal(str, object)
    screening_failed = Signal(str, str)
    screening_cancelled = Signal(str)
    unexpected_error = Signal(str)
    export_finished = Signal(int, object)  # job id, [Path] written
    export_failed = Signal(int, str)  # job id, message (also cancelled: "cancelled")

    def __init__(
        self,
        settings: QSettings | None = None,
        *,
        bundle: Any = None,
        device: str = "auto",
        auto_screen: bool | None = None,
        screener_factory: scr.ScreenerFactory | None = None,
        persist_settings: bool = True,
        stats: Any = None,
    ):
        super().__init__()
        self.settings = settings if settings is not None else QSettings()
        self._persist = persist_settings
        self._stats = stats
        self.setWindowTitle(f"{APP_NAME} {__version__}")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.view = FilmView(self)
        self.messages = MessagePanel(self)
        central = QWidget(self)
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.messages)
        cl.addWidget(self.view, 1)
        self.setCentralWidget(central)

        self.browser = StudyBrowser(self)
        self.browser_dock = self._dock("Studies", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea, "studiesDock")
        self.results = ResultsPanel(self)
        self.results_dock = self._dock("AI screening", self.results, Qt.DockWidgetArea.RightDockWidgetArea, "resultsDock")
        self.tags = TagBrowser(self)

        self.loader = FilmLoader(self)
        self.controller = scr.ScreeningController(bundle, device, screener_factory, self)

        self._films: OrderedDict[str, LoadedFilm] = OrderedDict()
        self._results: OrderedDict[str, Any] = OrderedDict()
        self._current: str | None = None
        self._rid_path: dict[int, str] = {}
        self._show_first: set[int] = set()
        self._want: dict[int, str] = {}  # load job -> the film to show when it arrives
        self._export_kind: dict[int, str] = {}  # running export jobs -> "PDF report" / "DICOM"
        self._closing = False

        self._build_status_bar()
        self._build_actions()
        self._restore_settings(auto_screen)
        self._connect()
        self._refresh_status()
        self.results.clear("No film open. Open one with Ctrl+O or drop it here.")

    # -- construction ------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        d.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable
                      | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, d)
        return d

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.cursor_label = QLabel("")
        self.wl_label = QLabel("")
        self.zoom_label = QLabel("")
        self.model_label = QLabel("Model: not loaded")
        for w in (self.cursor_label, self.wl_label, self.zoom_label, self.model_label):
            w.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(w)

    def _act(self, text: str, keys: str | Iterable[str] | None, slot: Callable[..., Any] | None,
             menu: QMenu | None = None, checkable: bool = False, tip: str | None = None) -> QAction:
        a = QAction(text, self)
        if keys:
            seqs = [keys] if isinstance(keys, str) else list(keys)
            a.setShortcuts([QKeySequence(k) for k in seqs])
        if checkable:
            a.setCheckable(True)
        if slot is not None:
            (a.toggled if checkable else a.triggered).connect(slot)
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        self.addAction(a)  # shortcuts work whatever has focus inside the window
        if menu is not None:
            menu.addAction(a)
        self._actions.append(a)
        return a

    def _build_actions(self) -> None:
        self._actions: list[QAction] = []
        mb = self.menuBar()
        v = self.view
        m = mb.addMenu("&File")
        self._act("&Open films…", "Ctrl+O", self.open_dialog, m)
        self._act("Open &folder…", "Ctrl+Shift+O", self.open_folder_dialog, m)
        self._act("Open &demo film", None, self.open_demo, m)
        self.recent_menu = m.addMenu("Open &recent")
        m.addSeparator()
        self._act("&Next film", "PgDown", lambda: self.step_film(1), m)
        self._act("&Previous film", "PgUp", lambda: self.step_film(-1), m)
        m.addSeparator()
        self.export_action = self._act("&Export PNG snapshot…", "Ctrl+E", self.export_dialog, m,
                                       tip="Save the view as shown, stamped NOT FOR DIAGNOSTIC USE")
        ok, why = pdf_report_support()
        self.pdf_action = self._act("Export PDF &report…", "Ctrl+Shift+E", self.export_pdf_dialog, m, tip=why)
        self.pdf_action.setEnabled(ok)
        ok, why = dicom_export_support()
        self.dicom_action = self._act("Export DICOM S&R / SC…", None, self.export_dicom_dialog, m, tip=why)
        self.dicom_action.setEnabled(ok)
        m.addSeparator()
        self._act("&Quit", "Ctrl+Q", self.close, m)

        m = mb.addMenu("&View")
        pm = m.addMenu("Window &presets")
        self.preset_actions = [self._act(f"Preset {i}", str(i), (lambda _=False, i=i: self.apply_preset(i - 1)), pm) for i in range(1, 10)]
        for a in self.preset_actions:
            a.setData(PRESET_GROUP)
        self.invert_action = self._act("&Invert", "I", self._toggle_invert, m)
        m.addSeparator()
        self._act("Zoom to &fit", "F", v.fit, m)
        self._act("Zoom &1:1 (one film pixel per screen pixel)", "Ctrl+1", v.actual_size, m)
        self._act("Zoom &in", ["+", "="], lambda: v.zoom_by(1.25), m)
        self._act("Zoom &out", "-", lambda: v.zoom_by(0.8), m)
        m.addSeparator()
        self._act("&Rotate 90° clockwise", "R", lambda: v.rotate(1), m)
        self._act("Rotate 90° &counter-clockwise", "Shift+R", lambda: v.rotate(-1), m)
        self._act("Flip &horizontal", "H", lambda: v.flip(True), m)
        self._act("Flip &vertical", "V", lambda: v.flip(False), m)
        self._act("Rese&t view", ["Esc", "0"], self.reset_view, m)
        m.addSeparator()
        self.cam_action = self._act("Show &attention map (Grad-CAM)", "G", self.set_cam_visible, m, checkable=True)
        self._act("Attention map more opaque", "]", lambda: self._nudge_opacity(+10), m)
        self._act("Attention map less opaque", "[", lambda: self._nudge_opacity(-10), m)
        self.text_action = self._act("Corner &text", "O", self._set_text_overlays, m, checkable=True)
        m.addSeparator()
        self._act("DICOM &tags…", "Ctrl+T", self.show_tags, m)
        m.addSeparator()
        m.addAction(self.browser_dock.toggleViewAction())
        m.addAction(self.results_dock.toggleViewAction())

        m = mb.addMenu("&Tools")
        self.measure_action = self._act("&Distance (mm)", "D", self._set_measure_mode, m, checkable=True,
                                        tip="Drag on the film to measure; says where its calibration comes from")
        self._act("&Clear measurements", ["Delete", "Backspace"], v.clear_measurements, m)

        m = mb.addMenu("&Screening")
        self._act("&Screen this film", "S", self.screen_current, m)
        self._act("&Cancel screening", "Ctrl+.", self.cancel_screening, m)
        self.auto_action = self._act("Screen films &automatically", None, self._set_auto_screen, m, checkable=True)

        m = mb.addMenu("&Help")
        self._act("&Keyboard shortcuts", "F1", self.show_shortcuts, m)
        self._act("&About", None, self.show_about, m)

    def _restore_settings(self, auto_override: bool | None) -> None:
        s = self.settings
        auto = bool(s.value("screening/auto", True, type=bool)) if auto_override is None else auto_override
        self.auto_action.blockSignals(True)
        self.auto_action.setChecked(auto)
        self.auto_action.blockSignals(False)
        self._auto_screen = auto
        opacity = int(s.value("overlay/opacity", 45, type=int))
        self.results.opacity.setValue(max(0, min(100, opacity)))
        self.view.set_cam_opacity(self.results.opacity.value() / 100.0)
        cam = bool(s.value("overlay/visible", True, type=bool))
        self.cam_action.setChecked(cam)
        self.set_cam_visible(cam)
        text = bool(s.value("view/text", True, type=bool))
        self.text_action.setChecked(text)
        self.view.overlays_visible = text
        self.geometry_restored = False
        if self._persist:
            geo = s.value("window/geometry")
            if geo is not None:
                self.geometry_restored = bool(self.restoreGeometry(geo))
            state = s.value("window/state")
            if state is not None:
                self.restoreState(state)
        self._rebuild_recent()

    def _save_settings(self) -> None:
        if not self._persist:
            return
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("overlay/opacity", self.results.opacity.value())
        s.setValue("overlay/visible", self.cam_action.isChecked())
        s.setValue("view/text", self.text_action.isChecked())
        s.sync()

    def _connect(self) -> None:
        v = self.view
        v.cursor_moved.connect(self._on_cursor)
        v.window_changed.connect(self._refresh_status)
        v.view_changed.connect(self._refresh_status)
        v.measured.connect(lambda t: self.statusBar().showMessage(f"Distance: {t}", 8000))
        v.mode_changed.connect(lambda mode: self.measure_action.setChecked(mode == "measure"))
        self.browser.film_activated.connect(self.show_path)
        self.results.screen_requested.connect(self.screen_current)
        self.results.cancel_requested.connect(self.cancel_screening)
        self.results.cam_toggled.connect(lambda on: self.cam_action.setChecked(on))
        self.results.opacity_changed.connect(self._on_opacity)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.loader.finished.connect(self._on_load_finished)
        c = self.controller
        c.model_state_changed.connect(self._on_model_state)
        c.notice.connect(lambda t: self.post(WARNING, t))
        c.progress.connect(self._on_progress)
        c.finished.connect(self._on_result)
        c.failed.connect(self._on_screen_failed)
        c.cancelled.connect(self._on_cancelled)
        c.export_progress.connect(self._on_export_progress)
        c.export_screened.connect(self._on_export_screened)
        c.export_done.connect(self._on_export_done)
        c.export_failed.connect(self._on_export_failed)
        c.export_cancelled.connect(self._on_export_cancelled)
        self.unexpected_error.connect(lambda t: self.post(ERROR, t))

    # -- public API ----------------------------------------------------------------------------------
    def start_background(self) -> None:
        """Load the model in the background (call once the window is visible)."""
        self.controller.start()

    def post(self, level: str, text: str, actions: Iterable[tuple[str, Callable[[], object]]] = ()) -> None:
        self.messages.post(level, text, list(actions))
        self.statusBar().showMessage(text.splitlines()[0] if text else "", 10000)

    @property
    def current(self) -> LoadedFilm | None:
        return self._films.get(self._current) if self._current else None

    def open_paths(self, paths: Iterable[str | Path], remember: bool = True) -> int:
        paths = [Path(p) for p in paths]
        if not paths:
            return 0
        jid = self.loader.load(paths)
        self._show_first.add(jid)
        self.statusBar().showMessage(f"Opening {len(paths)} item(s)…", 5000)
        if remember:
            for p in reversed(paths):
                self._add_recent(p)
        return jid

    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open films", self._last_dir(), FILE_FILTER)
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open a folder of films", self._last_dir())
        if d:
            self.open_paths([d])

    def open_demo(self) -> int | None:
        """Open the bundled demo film; returns the load job id, or None (with a message) when it is missing."""
        p = demo_film_path()
        if not p.is_file():
            msg = f"The demo film is not installed ({p})."
            self.post(ERROR, msg)
            self.film_failed.emit(str(p), msg)
            return None
        return self.open_paths([p], remember=False)

    def show_path(self, path: str) -> None:
        if path == self._current:
            return
        lf = self._films.get(path)
        if lf is not None:
            self._films.move_to_end(path)
            self._display(lf)
            return
        jid = self.loader.load([path])  # evicted from the cache: load it again
        self._want[jid] = path

    def step_film(self, delta: int) -> None:
        paths = self.browser.paths()
        if not paths:
            return
        i = paths.index(self._current) if self._current in paths else -1
        self.show_path(paths[(i + delta) % len(paths)])

    def apply_preset(self, index: int) -> None:
        if self.view.apply_preset(index):
            self.statusBar().showMessage(f"Window: {self.view.window_text()}", 4000)

    def reset_view(self) -> None:
        """Esc / 0: leave the distance tool if it is on, else reset the view."""
        if self.view.mode == "measure":
            self.view.set_measure_mode(False)
            return
        self.view.reset()

    def set_cam_visible(self, on: bool) -> None:
        self.view.set_cam_visible(on)
        if self.results.cam_check.isChecked() != on:
            self.results.cam_check.setChecked(on)

    def screen_current(self) -> int | None:
        """Screen the film on display (supersedes any running request)."""
        lf = self.current
        if lf is None:
            self.statusBar().showMessage("No film to screen: open one first.", 5000)
            return None
        rid = self.controller.request(lf.film)
        self._rid_path = {rid: lf.key}  # older ids are stale from now on
        if self.controller.model_available:
            waiting = self.controller.model_state in (scr.LOADING, scr.NOT_STARTED)
            self.results.show_busy("Loading the model, then screening…" if waiting else "Screening…", None if waiting else 0.0)
            self._enter("screening")
        return rid

    def cancel_screening(self) -> None:
        """Ctrl+.: cancel the screening on display, else a report export that has not written yet."""
        if self.controller.cancel() is not None:
            return
        if self.controller.cancel_export() is not None:
            self.statusBar().showMessage("Cancelling the export…", 3000)
            return
        self.statusBar().showMessage("Nothing to cancel.", 3000)

    def export_dialog(self) -> None:
        if self.current is None:
            self.statusBar().showMessage("Nothing to export: open a film first.", 5000)
            return
        name = f"{Path(self._current or 'film').stem}_view.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG snapshot", str(Path(self._last_dir()) / name), "PNG (*.png)")
        if path:
            self.export_png(path)

    def export_png(self, path: str | Path) -> bool:
        """Save the view as shown (overlays, attention map, measurements) with the stamp."""
        if self.current is None:
            return False
        rgb = stamp(self.view.snapshot_rgb(), EXPORT_STAMP)
        ok = rgb_qimage(rgb).save(str(path), "PNG")
        if ok:
            self.statusBar().showMessage(f"Saved {path}", 6000)
            log.info("exported a PNG snapshot")
        else:
            self.post(ERROR, f"{path}: the snapshot could not be written (check the folder and free space).")
        return ok

    # -- report export -------------------------------------------------------------------------------
    def patient_films(self) -> list[rx.ExportFilm]:
        """Every film of the current film's patient open in the study browser (display order), with
        the film and its result where they are still in memory."""
        if self._current is None:
            return []
        paths = self.browser.patient_paths(self._current) or [self._current]
        out = []
        for p in paths:
            lf = self._films.get(p)
            out.append(rx.ExportFilm(p, lf.film if lf is not None else None, self._results.get(p)))
        return out

    def _export_blocked(self) -> bool:
        if self.current is None:
            self.statusBar().showMessage("Nothing to export: open a film first.", 5000)
            return True
        if self._export_kind:
            self.statusBar().showMessage("An export is still being written: wait for it (or Ctrl+. to cancel it).", 5000)
            return True
        return False

    def _report_dir(self, key: str) -> str:
        d = str(self.settings.value(key, "") or "")
        return d if d and Path(d).is_dir() else rx.documents_dir()

    def _screening_summary(self, films: list[rx.ExportFilm]) -> str:
        n = len(films)
        have = sum(1 for f in films if f.prediction is not None)
        todo = n - have
        head = f"The report covers {'the one film' if n == 1 else f'all {n} films'} of this patient open in the viewer"
        if todo == 0:
            return head + (": screened." if n == 1 else ", all screened.")
        if self.controller.model_available:
            return head + f": {have} screened; {todo} will be screened first, in the background."
        return head + f": {have} screened; {todo} cannot be screened ({self._no_model_short()}) and will be listed as not screened."

    def _no_model_short(self) -> str:
        return "no model is installed" if self.controller.model_state == scr.NO_MODEL else "the model could not be loaded"

    def export_pdf_dialog(self) -> None:
        """File > Export PDF report…: ask (file, page size, anonymised), then export_pdf()."""
        if self._export_blocked():
            return
        from ..core.errors import ReportError
        from ..core.reports import ScreenedFilm, report_filename
        from ..core.reports.common import format_person_name

        self.controller.preload_reports()  # in the worker, while the user answers the dialog
        lf = self.current
        assert lf is not None
        films = self.patient_films()
        first = self._films.get(films[0].path) if films else None
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
            self, folder=self._report_dir(rx.DIR_KEY), name=name, anon_name=anon_name,
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
        if self._export_blocked():
            return None
        path = Path(path)
        if path.is_dir():
            self.post(ERROR, f"{path} is a folder: the report needs a file name.")
            return None
        if force is None:
            force = False
            if path.exists():
                if not rx.confirm_replace(self, [path]):
                    self.statusBar().showMessage(f"Not exported: {path.name} was left as it was.", 6000)
                    return None
                force = True
        self.settings.setValue(rx.PAGE_SIZE_KEY, page_size)
        self.settings.setValue(rx.DIR_KEY, str(path.parent))
        job = rx.ExportJob(rx.PDF, self.patient_films(), path, page_size=page_size, anonymize=anonymize, force=force)
        return self._start_export(job, "PDF report")

    def export_dicom_dialog(self) -> None:
        """File > Export DICOM SR / SC…: the current film's result as DICOM, into a folder."""
        if self._export_blocked():
            return
        lf = self.current
        assert lf is not None
        kinds = str(self.settings.value(rx.DICOM_KINDS_KEY, "SR") or "SR")
        state = "screened" if lf.key in self._results else (
            "not screened yet: it will be screened first" if self.controller.model_available else
            f"not screened ({self._no_model_short()}): nothing can be written")
        opts = rx.ask_dicom_options(self, folder=self._report_dir(rx.DICOM_DIR_KEY),
                                    summary=f"Film: {lf.film.display_name} ({state}).",
                                    sr="SR" in kinds, sc="SC" in kinds)
        if opts is not None:
            self.export_dicom(opts.folder, sr=opts.sr, sc=opts.sc)

    def export_dicom(self, folder: str | Path, *, sr: bool = True, sc: bool = False, force: bool | None = None) -> int | None:
        """Write `<stem>_SR.dcm` / `<stem>_SC.dcm` of the current film into `folder` (asks before replacing)."""
        if self._export_blocked():
            return None
        folder = Path(folder)
        films = [f for f in self.patient_films() if f.path == self._current]
        if force is None:
            existing = [p for p in rx.dicom_targets(films, folder, sr, sc) if p.exists()]
            force = False
            if existing:
                if not rx.confirm_replace(self, existing):
                    self.statusBar().showMessage("Not exported: the existing files were left as they were.", 6000)
                    return None
                force = True
        self.settings.setValue(rx.DICOM_DIR_KEY, str(folder))
        self.settings.setValue(rx.DICOM_KINDS_KEY, "+".join(k for k, on in (("SR", sr), ("SC", sc)) if on))
        return self._start_export(rx.ExportJob(rx.DICOM, films, folder, sr=sr, sc=sc, force=force), "DICOM")

    def _start_export(self, job: rx.ExportJob, what: str) -> int:
        jid = self.controller.export(job)
        self._export_kind[jid] = what
        self._enter("exporting")
        waiting = self.controller.model_state in (scr.LOADING, scr.NOT_STARTED)
        self.statusBar().showMessage(f"Exporting the {what}" + (" once the model has loaded…" if waiting else "…"))
        return jid

    def _export_ended(self, jid: int) -> str | None:
        what = self._export_kind.pop(jid, None)
        if what is not None:
            self._leave("exporting")
        return what

    def _on_export_progress(self, jid: int, text: str) -> None:
        if jid in self._export_kind:
            self.statusBar().showMessage(f"{self._export_kind[jid]}: {text}")

    def _on_export_screened(self, path: str, pred: Any) -> None:
        """A film screened for a report: cache it like any result (and show it if it is on display)."""
        self._cache_result(path, pred)
        if path == self._current and self.controller.active is None and self.results.prediction is None:
            self._show_prediction(pred)

    def _on_export_done(self, jid: int, paths: Any, notes: Any) -> None:
        what = self._export_ended(jid)
        if what is None:
            return
        paths = [Path(p) for p in paths]
        folder = paths[0].parent if paths else None
        if not paths:
            text = f"{what}: nothing was written (no screened film)."
        elif len(paths) == 1:
            text = f"{what} saved: {paths[0]}"
        else:
            text = f"{what} saved in {folder}: " + ", ".join(p.name for p in paths)
        if notes:
            text += "\n" + "\n".join(notes)
        actions = [("Open folder", lambda f=folder: self.open_folder(f))] if folder is not None else []
        self.post(WARNING if notes else INFO, text, actions)
        log.info("export %d written (%d file(s))", jid, len(paths))
        self.export_finished.emit(jid, paths)

    def _on_export_failed(self, jid: int, message: str) -> None:
        what = self._export_ended(jid)
        if what is None:
            return
        self.post(ERROR, message)
        self.export_failed.emit(jid, message)

    def _on_export_cancelled(self, jid: int) -> None:
        what = self._export_ended(jid)
        if what is None:
            return
        self.statusBar().showMessage(f"{what} export cancelled: nothing was written.", 6000)
        self.export_failed.emit(jid, "cancelled")

    def open_folder(self, folder: Path | None) -> bool:
        """Show a folder in the system's file manager."""
        if folder is None:
            return False
        ok = QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        if not ok:
            self.statusBar().showMessage(f"Could not open {folder}", 6000)
        return ok

    def show_tags(self) -> None:
        self.tags.set_film(self.current.film if self.current else None)
        self.tags.show()
        self.tags.raise_()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self._actions, self).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", f"<b>{APP_NAME} {__version__}</b><p>{INTENDED_USE}</p>")

    # -- internals -------------------------------------------------------------------------------------
    def _enter(self, phase: str) -> None:
        if self._stats is not None:
            self._stats.meter.enter(phase)

    def _leave(self, phase: str) -> None:
        if self._stats is not None:
            self._stats.meter.leave(phase)

    def _last_dir(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def recent_files(self) -> list[str]:
        v = self.settings.value("recent", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in (v or [])]

    def _add_recent(self, p: Path) -> None:
        key = str(p.resolve()) if p.exists() else str(p)
        items = [key] + [x for x in self.recent_files() if x != key]
        self.settings.setValue("recent", items[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        items = self.recent_files()
        for p in items:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_paths([p]))
        if not items:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.setValue("recent", [])
        self._rebuild_recent()

    def _set_measure_mode(self, on: bool) -> None:
        self.view.set_measure_mode(on)
        film = self.view.film
        if on and film is not None:
            self.statusBar().showMessage(f"Distance tool: drag on the film. Calibration: {film.spacing.describe()}.", 10000)

    def _toggle_invert(self) -> None:
        self.view.toggle_invert()

    def _set_text_overlays(self, on: bool) -> None:
        self.view.overlays_visible = on
        self.view.update()

    def _set_auto_screen(self, on: bool) -> None:
        self._auto_screen = on
        self.settings.setValue("screening/auto", on)

    def _nudge_opacity(self, delta: int) -> None:
        self.results.opacity.setValue(max(0, min(100, self.results.opacity.value() + delta)))

    def _on_opacity(self, value: float) -> None:
        self.view.set_cam_opacity(value)

    def _on_cursor(self, cur: object) -> None:
        self.cursor_label.setText(self.view.cursor_text())

    def _refresh_status(self) -> None:
        self.wl_label.setText(self.view.window_text())
        self.zoom_label.setText(f"{self.view.zoom_percent():.0f}%" if self.view.film is not None else "")

    def _refresh_presets(self) -> None:
        names = self.view.preset_names()
        for i, a in enumerate(self.preset_actions):
            if i < len(names):
                a.setText(f"{i + 1}: {names[i]}")
                a.setEnabled(True)
            else:
                a.setText(f"Preset {i + 1} (none)")
                a.setEnabled(False)

    def _cache_film(self, lf: LoadedFilm) -> None:
        self._films[lf.key] = lf
        self._films.move_to_end(lf.key)
        while len(self._films) > FILM_CACHE:
            old = next(iter(self._films))
            if old == self._current:
                self._films.move_to_end(old)
                continue
            del self._films[old]

    def _on_loaded(self, jid: int, lf: LoadedFilm) -> None:
        if self._closing:
            return
        self._cache_film(lf)
        self.browser.add_film(lf.film, lf.thumbnail)
        if jid in self._show_first:
            self._show_first.discard(jid)
            self._display(lf)
        elif self._want.get(jid) == lf.key:
            del self._want[jid]
            self._display(lf)

    def _on_load_failed(self, jid: int, path: str, message: str) -> None:
        if self._closing:
            return
        log.warning("could not open %s", Path(path).name)
        self.post(ERROR, message)
        self.film_failed.emit(path, message)

    def _on_load_finished(self, jid: int, n: int) -> None:
        self._show_first.discard(jid)
        self._want.pop(jid, None)
        if n:
            self.statusBar().showMessage(f"Opened {n} film(s).", 4000)
        self.load_finished.emit(jid, n)

    def _display(self, lf: LoadedFilm) -> None:
        self._current = lf.key
        self.view.set_film(lf)
        self.browser.select(lf.key)
        self.setWindowTitle(f"{APP_NAME} {__version__} — {lf.film.display_name}")
        self._refresh_presets()
        self._refresh_status()
        for w in list(lf.film.warnings) + list(lf.choice.warnings):
            self.post(WARNING, w)
        if self.tags.isVisible():
            self.tags.set_film(lf.film)
        self.film_shown.emit(lf.key)
        cached = self._results.get(lf.key)
        if cached is not None:
            self._show_prediction(cached)
        elif self._auto_screen:
            self.screen_current()  # without a model this fails fast, with the "no model" message
        elif not self.controller.model_available:
            self.results.show_error(self._no_model_text(), screen_enabled=False)
        else:
            self.results.clear("Not screened yet. Press S (or Screen) to screen this film.", screen_enabled=True)

    def _no_model_text(self) -> str:
        if self.controller.model_state == scr.NO_MODEL:
            return "Screening unavailable: no model is installed. The viewer works without it.\n\n" + self.controller.model_message
        return "Screening unavailable: the model could not be loaded.\n\n" + self.controller.model_message

    def _show_prediction(self, pred: Any) -> None:
        self.results.show_prediction(pred)
        self.view.set_cam(pred.cam, pred.cam_status)

    def _on_model_state(self, state: str, message: str) -> None:
        if state == scr.LOADING:
            self.model_label.setText("Model: loading…")
            self._enter("model-loading")
            return
        self._leave("model-loading")
        if state == scr.READY:
            info = self.controller.model_info
            self.model_label.setText(f"Model: {info.name} {info.version}" if info is not None else "Model: ready")
            self.results.show_model(info)
            log.info("%s", message)
        else:
            self.model_label.setText("Model: none" if state == scr.NO_MODEL else "Model: error")
            self.results.show_model(None, none_text="No model installed." if state == scr.NO_MODEL else "The model could not be loaded.")
            self.post(WARNING if state == scr.NO_MODEL else ERROR, (
                "No model installed: screening is off; the viewer works as usual. " if state == scr.NO_MODEL else
                "The model could not be loaded: screening is off. ") + message)
            if self.current is not None and self._current not in self._results:
                self.results.show_error(self._no_model_text(), screen_enabled=False)

    def _on_progress(self, rid: int, frac: float, text: str) -> None:
        if self._rid_path.get(rid) == self._current:
            self.results.show_progress(frac, text)

    def _on_result(self, rid: int, pred: Any) -> None:
        self._leave("screening")
        path = self._rid_path.pop(rid, None)
        if path is None:
            return
        self._cache_result(path, pred)
        if path == self._current:
            self._show_prediction(pred)
            for w in pred.warnings:
                if w.endswith("on the CPU instead."):  # the GPU failed: say so where it is seen
                    self.post(WARNING, w)
        self.statusBar().showMessage(f"Screened {Path(path).name}: {pred.decision_text}", 8000)
        self.screening_done.emit(path, pred)

    def _cache_result(self, path: str, pred: Any) -> None:
        self._results[path] = pred
        self._results.move_to_end(path)
        while len(self._results) > RESULT_CACHE:
            self._results.popitem(last=False)

    def _on_screen_failed(self, rid: int, message: str) -> None:
        self._leave("screening")
        path = self._rid_path.pop(rid, None)
        if path is None:
            return
        if self.controller.model_available:
            self.post(ERROR, message)
            if path == self._current:
                self.results.show_error(message)
        elif path == self._current:
            self.results.show_error(self._no_model_text(), screen_enabled=False)
        self.screening_failed.emit(path, message)

    def _on_cancelled(self, rid: int) -> None:
        self._leave("screening")
        path = self._rid_path.pop(rid, None)
        if path is None:
            return
        if path == self._current:
            self.results.clear("Screening cancelled. Press S (or Screen) to screen again.", screen_enabled=True)
        self.statusBar().showMessage("Screening cancelled.", 4000)
        self.screening_cancelled.emit(path)

    # -- Qt events --------------------------------------------------------------------------------------
    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)
            e.acceptProposedAction()

    def shutdown(self) -> bool:
        """Stop the worker thread and the loader (idempotent). True when both ended."""
        self._closing = True
        ok_c = self.controller.shutdown()
        ok_l = self.loader.shutdown()
        return ok_c and ok_l

    def closeEvent(self, e: QCloseEvent) -> None:
        self._save_settings()
        self.tags.close()
        self.shutdown()
        super().closeEvent(e)

