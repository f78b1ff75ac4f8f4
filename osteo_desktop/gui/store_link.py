"""The viewer's link to the local study store and the PACS: the "Local store" worklist dock, the PACS
dialog, and the audit trail of what the viewer does (screenings of store films, every export).

Kept out of main_window: the window only creates a `StoreLink` and adds two menu entries.
Store problems (locked, damaged) become messages above the film; they never stop the viewer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt

from ..core.errors import OsteoError
from .messages import WARNING
from .pacs_dialog import PacsDialog
from .worklist import WorklistPanel

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)

SOURCE = "viewer"


def configured_store_dir(settings_path: Path | None = None) -> Path:
    """The store folder of the network settings, else the default one."""
    from ..core.net import NetworkSettings
    from ..core.store import default_store_dir

    try:
        net = NetworkSettings.load(settings_path)
    except OsteoError:
        return default_store_dir()
    return Path(net.store_dir) if net.store_dir else default_store_dir()


class StoreLink(QObject):
    def __init__(self, window: MainWindow, *, store_dir: Path | None = None, settings_path: Path | None = None):
        super().__init__(window)
        self.w = window
        self.settings_path = settings_path
        self._store_dir = store_dir
        self.worklist = WorklistPanel(self.store_dir(), window)
        self.dock = window._dock("Local store", self.worklist, Qt.DockWidgetArea.LeftDockWidgetArea, "storeDock")
        window.tabifyDockWidget(window.browser_dock, self.dock)
        window.browser_dock.raise_()
        self.dock.visibilityChanged.connect(lambda shown: shown and self.worklist.refresh())
        self.worklist.open_requested.connect(self._open)
        self.dialog: PacsDialog | None = None
        window.screening_done.connect(self._screened)
        window.export_finished.connect(self._exported)

    def store_dir(self) -> Path:
        return self._store_dir if self._store_dir is not None else configured_store_dir(self.settings_path)

    # -- actions -----------------------------------------------------------------------------
    def show_worklist(self) -> None:
        self.dock.show()
        self.dock.raise_()
        self.worklist.set_store_dir(self.store_dir())

    def show_pacs(self) -> PacsDialog:
        if self.dialog is None:
            self.dialog = PacsDialog(self.w, settings_path=self.settings_path, store_dir=self._store_dir)
            self.dialog.open_requested.connect(self._open)
            self.dialog.retrieved.connect(lambda _uid: self.worklist.set_store_dir(self.store_dir()))
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    def _open(self, paths: list[str]) -> None:
        self.w.open_paths(paths, remember=False)

    # -- the audit trail ---------------------------------------------------------------------
    def _store(self):
        """The worklist's open store (created if there is none yet). Raises StoreError."""
        from ..core.store import LocalStore

        folder = self.store_dir()
        if self.worklist.store_dir != folder:
            self.worklist.set_store_dir(folder)
        store = self.worklist.store()
        if store is None:
            LocalStore(folder).close()  # the first record creates the store
            store = self.worklist.store()
        assert store is not None
        return store

    def _in_store(self, path: str) -> bool:
        try:
            return Path(path).resolve().is_relative_to((self.store_dir() / "studies").resolve())
        except (OSError, ValueError):
            return False

    def _screened(self, path: str, pred: Any) -> None:
        """A film of the store screened in the viewer: its result goes into the store (and the worklist)."""
        if not self._in_store(path):
            return
        from ..cli.screen import FilmOutcome

        lf = self.w.session.film(path)
        film = lf.film if lf is not None else None
        ids = film.ids if film is not None else None
        row = FilmOutcome(Path(path), film, pred).to_dict()
        try:
            self._store().record_result(row, sop_uid=ids.sop_instance_uid if ids else "",
                                        series_uid=ids.series_instance_uid if ids else "",
                                        study_uid=ids.study_instance_uid if ids else "",
                                        patient_id=ids.patient_id if ids else "", source=SOURCE)
        except OsteoError as e:
            self.w.post(WARNING, f"The result was not recorded in the local store: {e}")
            return
        if self.dock.isVisible():
            self.worklist.refresh()

    def _exported(self, jid: int, paths: Any) -> None:
        """Every PDF / SR / SC the viewer writes is recorded in the store's audit trail."""
        written = [Path(p) for p in paths or []]
        if not written:
            return
        pred = self.w.session.result(self.w.session.current_key)
        model = getattr(pred, "model", None)
        try:
            store = self._store()
            for p in written:
                store.audit_export(p, model=model, details={"source": SOURCE, "job": jid})
        except OsteoError as e:
            self.w.post(WARNING, f"The export was written but not recorded in the local store's audit trail: {e}")

    def shutdown(self) -> bool:
        ok = self.dialog.shutdown() if self.dialog is not None else True
        self.worklist.close_store()
        return ok
