"""The main window: film view in the middle, study browser on the left, results on the right.

This module wires widgets and signals. What is open and known (films, results, the film on display,
which request belongs to which film) is the Qt-free `core.session.Session`; the menus are built in
`menus`, what screening shows in `ScreeningPresenter`, exports are orchestrated by
`ExportController`, the settings kept between sessions in `window_settings`. Everything slow happens
elsewhere: opened files and folders are listed from their headers in `FilmLister`'s pool
(thumbnails follow from `ThumbnailLoader`'s), the film shown loads in `FilmLoader`'s pool, the model
loads and screens in the screening process (`ScreeningController`), and report exports are written
there too. Errors become messages in the panel above the film and in the status bar; nothing here
opens a modal error dialog (the export dialogs and "Replace?" are questions, asked before anything
starts).

Why a little over 500 lines: the window still holds the flow that opens films (listing, loading, the
first film shown, superseded loads), which the reader-process work of issue 11 is reshaping; it is
the next piece to move out (a Qt-light "opener" beside `core.opening.OpenJobs`) once that settles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
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
from ..core.inference import Prediction
from ..core.loading.header import FilmHeader
from ..core.measure import Kind
from ..core.opening import OpenJobs
from ..core.session import Session
from ..resources_path import demo_film_path
from . import report_export as rx
from . import screening as scr
from .clinical_presenter import ClinicalPresenter
from .export_controller import ExportController
from .film_view import FilmView
from .imaging import LoadedFilm
from .layouts import ViewerGrid
from .listing import FilmLister
from .loader import FilmLoader
from .menus import build_menus
from .messages import ERROR, WARNING, MessagePanel
from .reading_tools import ReadingTools
from .recent import RecentFiles
from .results_panel import ResultsPanel
from .screening_presenter import ScreeningPresenter
from .shortcuts import ShortcutsDialog
from .store_link import StoreLink
from .study_browser import StudyBrowser
from .tag_browser import TagBrowser
from .thumbnails import ThumbnailLoader
from .window_settings import WHEEL_KEY, restore_settings, save_settings, threads_setting
from .window_settings import choose_threads as choose_threads_dialog

if TYPE_CHECKING:
    from ..core.bundle import Bundle
    from .stats import Stats

log = logging.getLogger(__name__)

APP_NAME = "osteo-desktop"
FILE_FILTER = "Films (*.dcm *.dicom *.DCM *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"


class MainWindow(QMainWindow):
    auto_screen: bool  # screen each film when it is shown (set by restore_settings, Screening menu)
    geometry_restored: bool  # the window's size and docks came from the settings
    # set by build_menus (menus.py)
    _actions: list[QAction]
    recent_menu: QMenu
    export_action: QAction
    pdf_action: QAction
    dicom_action: QAction
    print_action: QAction
    preset_actions: list[QAction]
    invert_action: QAction
    cam_action: QAction
    text_action: QAction
    measure_action: QAction
    auto_action: QAction
    wheel_action: QAction
    # set by reading_menus (the reading tools)
    tool_actions: dict
    layout_actions: dict[str, QAction]
    sync_action: QAction
    loupe_action: QAction
    cine_action: QAction
    cam_default_action: QAction
    beside_action: QAction
    image_action: QAction
    gsps_action: QAction

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
        bundle: Bundle | str | None = None,
        device: str = "auto",
        auto_screen: bool | None = None,
        screener_factory: scr.ScreenerFactory | None = None,
        persist_settings: bool = True,
        stats: Stats | None = None,
        engine_factory: str = "",
    ):
        super().__init__()
        self.settings = settings if settings is not None else QSettings()
        self.persist_settings = persist_settings
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
        self.grid = ViewerGrid(self.view, central)  # the view alone, or comparison viewports around it
        cl.addWidget(self.grid, 1)
        self.setCentralWidget(central)

        self.browser = StudyBrowser(self)
        self.browser_dock = self._dock("Studies", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea, "studiesDock")
        self.results = ResultsPanel(self)
        self.results_dock = self._dock("AI screening", self.results, Qt.DockWidgetArea.RightDockWidgetArea, "resultsDock")
        self.tags = TagBrowser(self)
        self.store = StoreLink(self)  # the "Local store" worklist dock, the PACS dialog, the audit trail

        self.loader = FilmLoader(self)
        self.lister = FilmLister(self)
        self.thumbs = ThumbnailLoader(self)
        self.opening = OpenJobs()
        self.controller = scr.ScreeningController(bundle, device, screener_factory, self, engine_factory=engine_factory,
                                                  threads=threads_setting(self.settings))

        self.session: Session[LoadedFilm, Prediction] = Session()
        self.exports = ExportController(
            self, session=self.session, browser=self.browser, screening=self.controller, settings=self.settings,
            post=lambda level, text, actions: self.post(level, text, actions),
            status=lambda text, ms: self.statusBar().showMessage(text, ms), enter=self.enter_phase, leave=self.leave_phase,
            snapshot=self.view.snapshot_rgb, last_dir=lambda: self.recent.last_dir())
        self._closing = False
        self._show_jobs: set[int] = set()  # load jobs started to show one film (superseded ones are cancelled)
        self._film_loads: set[int] = set()  # all of those still running (their end is no open's end)

        self._build_status_bar()
        self.clinical = ClinicalPresenter(self)
        self.reading = ReadingTools(self)  # measurement kit, comparison, frames, loupe, image export
        self.measure, self.compare, self.frames = self.reading.measure, self.reading.compare, self.reading.frames
        build_menus(self)
        self.recent = RecentFiles(self.settings, self.recent_menu, self.open_paths)
        restore_settings(self, auto_screen)
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

    def _connect(self) -> None:
        v = self.view
        v.cursor_moved.connect(self._on_cursor)
        v.window_changed.connect(self._refresh_status)
        v.view_changed.connect(self._refresh_status)
        v.wheel_step.connect(self.step_film)
        self.browser.film_activated.connect(self.show_path)
        self.results.screen_requested.connect(self.screen_current)
        self.results.cancel_requested.connect(self.cancel_screening)
        self.results.cam_toggled.connect(lambda on: self.cam_action.setChecked(on))
        self.results.opacity_changed.connect(self._on_opacity)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.loader.finished.connect(self._on_load_finished)
        self.lister.listed.connect(self._on_listed)
        self.lister.failed.connect(self._on_load_failed)
        self.lister.finished.connect(self._on_list_finished)
        self.thumbs.ready.connect(self.browser.set_thumbnail)
        self.screening = ScreeningPresenter(self)
        self.controller.notice.connect(lambda t: self.post(WARNING, t))
        x = self.exports
        x.finished.connect(self.export_finished)
        x.failed.connect(self.export_failed)
        self.unexpected_error.connect(lambda t: self.post(ERROR, t))

    # -- public API ----------------------------------------------------------------------------------
    def start_background(self) -> None:
        """Load the model and start the film reader in the background (call once the window is visible)."""
        self.controller.start()
        self.loader.start()

    def post(self, level: str, text: str, actions: Iterable[tuple[str, Callable[[], object]]] = (),
             film: str | None = None) -> None:
        """A message above the film; `film`: the film it is about (it goes when another film is shown)."""
        self.messages.post(level, text, list(actions), film=film)
        self.statusBar().showMessage(text.splitlines()[0] if text else "", 10000)

    @property
    def current(self) -> LoadedFilm | None:
        return self.session.current

    def open_paths(self, paths: Iterable[str | Path], remember: bool = True) -> int:
        """Open files and folders: their films are listed from their headers (the study browser fills
        at once, thumbnails follow) and the first one is loaded and shown while the rest are listed.
        Returns the open's job id (`load_finished` says when it is over)."""
        items = [Path(p) for p in paths]
        if not items:
            return 0
        jid = self.lister.list(items)
        self.opening.start(jid)
        self.statusBar().showMessage(f"Opening {len(items)} item(s)…", 5000)
        if remember:
            for p in reversed(items):
                self.recent.add(p)
        return jid

    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open films", self.recent.last_dir(), FILE_FILTER)
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open a folder of films", self.recent.last_dir())
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
        """Show film `path` (from the cache, else load it). Quick requests supersede each other: only
        the last one is shown, and loads nobody waits for any more are dropped."""
        self.opening.user_chose()  # an open that is still listing no longer shows its first film
        self._flush_opens()
        self._request_film(path)

    def _request_film(self, path: str) -> None:
        if path == self.session.requested_key:
            return  # on display, or on its way
        lf = self.session.show(path)
        for jid in self._show_jobs:
            self.loader.cancel(jid)
        self._show_jobs.clear()
        if lf is not None:
            self._display(lf)
            return
        jid = self.loader.load([path])  # not loaded yet, or evicted from the cache
        self._show_jobs.add(jid)
        self._film_loads.add(jid)
        self.session.want(jid, path)

    def step_film(self, delta: int) -> None:
        """Next / previous film (PgDown / PgUp, the wheel with its option on), counted from the film
        last asked for: ten quick presses move ten films, even while they load."""
        key = Session.step(self.browser.paths(), self.session.navigation_key, delta)
        if key is not None:
            self.show_path(key)

    def set_wheel_steps_films(self, on: bool) -> None:
        self.view.wheel_steps_films = on
        self.settings.setValue(WHEEL_KEY, on)

    def apply_preset(self, index: int) -> None:
        if self.view.apply_preset(index):
            self.statusBar().showMessage(f"Window: {self.view.window_text()}", 4000)

    def reset_view(self) -> None:
        """Esc / 0: drop the measurement being drawn, else leave the measuring tool, else reset the view."""
        if self.measure.cancel_drawing():
            return
        if self.view.mode == "measure":
            self.measure.set_tool(None)
            return
        self.view.reset()

    def set_cam_visible(self, on: bool) -> None:
        self.view.set_cam_visible(on)
        if self.results.cam_check.isChecked() != on:
            self.results.cam_check.setChecked(on)

    def screen_current(self) -> int | None:
        """Screen the film on display (supersedes any running request); returns the request id."""
        return self.screening.screen()

    def cancel_screening(self) -> None:
        """Ctrl+.: cancel the screening on display, else a report export that has not written yet."""
        self.screening.cancel()

    def export_dialog(self) -> None:
        self.exports.png_dialog()

    def export_png(self, path: str | Path) -> bool:
        """Save the view as shown (overlays, attention map, measurements) with the stamp."""
        return self.exports.export_png(path)

    def choose_threads(self) -> None:
        """Screening > Model threads…"""
        choose_threads_dialog(self)

    # -- report export (ExportController) ----------------------------------------------------------
    def patient_films(self) -> list[rx.ExportFilm]:
        return self.exports.patient_films()

    def export_pdf_dialog(self) -> None:
        self.exports.pdf_dialog()

    def export_pdf(self, path: str | Path, *, page_size: str = "A4", anonymize: bool = False,
                   force: bool | None = None) -> int | None:
        """Write the current patient's PDF report (see `ExportController.export_pdf`); returns the job id."""
        return self.exports.export_pdf(path, page_size=page_size, anonymize=anonymize, force=force)

    def edit_report_header(self) -> None:
        from .clinic_dialog import ClinicDialog

        ClinicDialog(self.settings, self).exec()

    def export_dicom_dialog(self) -> None:
        self.exports.dicom_dialog()

    def export_dicom(self, folder: str | Path, *, sr: bool = True, sc: bool = False, force: bool | None = None) -> int | None:
        """Write the current film's DICOM SR / SC (see `ExportController.export_dicom`); returns the job id."""
        return self.exports.export_dicom(folder, sr=sr, sc=sc, force=force)

    def open_folder(self, folder: Path | None) -> bool:
        """Show a folder in the system's file manager."""
        return self.exports.open_folder(folder)

    def show_pacs(self) -> None:
        self.store.show_pacs()

    def show_worklist(self) -> None:
        self.store.show_worklist()

    def show_tags(self) -> None:
        self.tags.set_film(self.current.film if self.current else None)
        self.tags.show()
        self.tags.raise_()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self._actions, self).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", f"<b>{APP_NAME} {__version__}</b><p>{INTENDED_USE}</p>")

    # -- internals -------------------------------------------------------------------------------------
    def enter_phase(self, phase: str) -> None:
        if self._stats is not None:
            self._stats.meter.enter(phase)

    def leave_phase(self, phase: str) -> None:
        if self._stats is not None:
            self._stats.meter.leave(phase)

    def recent_files(self) -> list[str]:
        return self.recent.files()

    def _add_recent(self, p: Path) -> None:
        self.recent.add(p)

    def set_measure_mode(self, on: bool) -> None:
        """The distance tool on or off (in every viewport)."""
        self.measure.toggle_tool(Kind.DISTANCE, on)

    def set_text_overlays(self, on: bool) -> None:
        self.reading.set_text_overlays(on)

    def set_auto_screen(self, on: bool) -> None:
        self.auto_screen = on
        self.settings.setValue("screening/auto", on)

    def nudge_opacity(self, delta: int) -> None:
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

    def _on_listed(self, jid: int, header: FilmHeader) -> None:
        if self._closing:
            return
        key = str(header.path)
        first = self.opening.listed(jid, key)
        # the film about to be shown brings its own thumbnail; the others get theirs in the background
        thumb = self.thumbs.cached(key) if first == key else self.thumbs.request(key)
        self.browser.add_film(header, thumb)
        self.reading.film_listed(key, header)
        if first is not None:
            self._request_film(first)

    def _on_list_finished(self, jid: int, n: int) -> None:
        self.opening.listing_done(jid)
        self._flush_opens()

    def _flush_opens(self) -> None:
        for jid, n in self.opening.finished():
            if n:
                self.statusBar().showMessage(f"Opened {n} film(s).", 4000)
            self.load_finished.emit(jid, n)

    def _on_loaded(self, jid: int, lf: LoadedFilm) -> None:
        if self._closing:
            return
        show = self.session.arrived(jid, lf)
        self.reading.film_loaded(lf)
        self.browser.add_film(lf.film)
        if not self.browser.has_thumbnail(lf.key):  # made from the whole film: as good as it gets
            self.thumbs.seed(lf.key, lf.thumbnail)
            self.browser.set_thumbnail(lf.key, lf.thumbnail)
        if show:
            self._display(lf)

    def _on_load_failed(self, jid: int, path: str, message: str) -> None:
        if self._closing:
            return
        if path == self.session.requested_key and path != self.session.current_key:
            self.session.requested_key = self.session.current_key  # asking for it again tries again
        log.warning("could not open %s", Path(path).name)
        self.post(ERROR, message)
        self.film_failed.emit(path, message)
        nxt = self.opening.load_failed(path)  # an open's first film failed: its next one is shown instead
        if nxt is not None:
            self._request_film(nxt)
        self._flush_opens()

    def _on_load_finished(self, jid: int, n: int) -> None:
        self.session.job_finished(jid)
        self._show_jobs.discard(jid)
        if jid in self._film_loads:  # loading one film to show it: the open it serves says when it is over
            self._film_loads.discard(jid)
            return
        self.load_finished.emit(jid, n)

    def _display(self, lf: LoadedFilm) -> None:
        self.opening.shown(lf.key)
        self.session.set_current(lf)
        self.view.set_film(lf)
        self.reading.film_shown(lf)
        self.browser.select(lf.key)
        self.setWindowTitle(f"{APP_NAME} {__version__} — {lf.film.display_name}")
        self._refresh_presets()
        self._refresh_status()
        for w in list(lf.film.warnings) + list(lf.choice.warnings):
            self.post(WARNING, w, film=lf.key)
        self.compare.refresh()
        if self.tags.isVisible():
            self.tags.set_film(lf.film)
        self.clinical.show_film(lf.film)
        self.film_shown.emit(lf.key)
        self._flush_opens()  # after film_shown: an open is over once its film is on display
        cached = self.session.result(lf.key)
        if cached is not None:
            self.screening.show_prediction(cached)
        elif self.auto_screen:
            self.screen_current()  # without a model this fails fast, with the "no model" message
        elif not self.controller.model_available:
            self.results.show_error(self.screening.no_model_text(), screen_enabled=False)
        else:
            self.results.clear("Not screened yet. Press S (or Screen) to screen this film.", screen_enabled=True)

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
        ok_t = self.lister.shutdown(500) & self.thumbs.shutdown(500)
        ok_l = self.loader.shutdown()
        ok_n = self.store.shutdown()
        return ok_c and ok_l and ok_n and ok_t

    def closeEvent(self, e: QCloseEvent) -> None:
        save_settings(self)
        self.tags.close()
        self.shutdown()
        super().closeEvent(e)

