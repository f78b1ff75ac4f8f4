"""The window's side of the measurement kit: which tool is on (in every viewport), the calibration
question, and keeping each film's measurements (`core.measure_store`): read back when a film is
shown, saved as soon as they change, and exported as a DICOM presentation state on request.

The data folder is the settings' `measurements/data_dir` when set (tests), else the platform's
application data folder. `measurements/beside_film` (default on) keeps a PNG/JPEG film's
measurements in a sidecar file beside it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QStandardPaths
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from ..core.errors import OsteoError
from ..core.measure import Calibration, Kind, MeasureError, Measurement
from ..core.measure_store import MeasurementStore
from ..core.presentation_state import FilmMeasurements
from .messages import ERROR, INFO, WARNING

if TYPE_CHECKING:
    from .film_view import FilmView
    from .main_window import MainWindow

log = logging.getLogger(__name__)

BESIDE_KEY = "measurements/beside_film"
DATA_DIR_KEY = "measurements/data_dir"
DEFAULT_KNOWN_MM = 25.0  # the calibration ball of the demo film
TOOL_NAMES = {
    Kind.DISTANCE: "Distance", Kind.ANGLE: "Angle", Kind.COBB: "Cobb angle", Kind.ELLIPSE: "Ellipse ROI",
    Kind.RECTANGLE: "Rectangle ROI", Kind.CALIBRATION: "Calibrate from a known object",
}
TOOL_HINTS = {
    Kind.DISTANCE: "drag, or click the two ends",
    Kind.ANGLE: "click an arm's end, the vertex, then the other arm's end",
    Kind.COBB: "draw the two endplate lines (drag each, or click their ends)",
    Kind.ELLIPSE: "drag across the region",
    Kind.RECTANGLE: "drag across the region",
    Kind.CALIBRATION: "draw a line along an object of known size (e.g. the 25 mm ball)",
}


def ask_known_length(parent: QWidget | None, measured: str) -> float | None:
    """The true length of the calibration object in mm (None: cancelled). Tests replace this."""
    value, ok = QInputDialog.getDouble(parent, "Calibrate", f"The line measures {measured}.\n\nIts true length in mm:",
                                       DEFAULT_KNOWN_MM, 0.01, 10000.0, 2)
    return float(value) if ok else None


def default_data_dir() -> Path:
    d = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(d) if d else Path.home() / ".osteo-desktop"


class MeasureController(QObject):
    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.w = window
        s = window.settings
        data = str(s.value(DATA_DIR_KEY, "", type=str) or "")
        self.store = MeasurementStore(Path(data) if data else default_data_dir(),
                                      beside_film=bool(s.value(BESIDE_KEY, True, type=bool)))
        self.views: list[FilmView] = []
        self.kind: Kind | None = None

    def attach(self, view: FilmView) -> None:
        """Keep this view's measurements (load on each film, save on each change)."""
        self.views.append(view)
        view.film_changed.connect(lambda v=view: self._load(v))
        view.tools.changed.connect(lambda v=view: self._save(v))
        view.tools.calibration_drawn.connect(lambda m, v=view: self._calibrate(v, m))
        view.measured.connect(lambda text: self.w.statusBar().showMessage(text, 10000))
        view.set_tool(self.kind)

    # -- tools ---------------------------------------------------------------------------------
    def set_tool(self, kind: Kind | None) -> None:
        """Turn a tool on in every viewport (the same tool again turns it off)."""
        self.kind = kind
        for v in self.views:
            v.set_tool(kind)
        for k, a in self.w.tool_actions.items():
            a.blockSignals(True)
            a.setChecked(k == kind)
            a.blockSignals(False)
        self.w.measure_action.setChecked(kind is Kind.DISTANCE)
        film = self.w.view.film
        if kind is not None and film is not None:
            scale = self.w.view.tools.scale()
            self.w.statusBar().showMessage(f"{TOOL_NAMES[kind]}: {TOOL_HINTS[kind]}. Calibration: {scale.describe()}.", 10000)

    def toggle_tool(self, kind: Kind, on: bool) -> None:
        self.set_tool(kind if on else (None if self.kind is kind else self.kind))

    def cancel_drawing(self) -> bool:
        """Esc: drop a measurement being drawn in any viewport. True when there was one."""
        cancelled = False
        for v in self.views:
            if v.tools.cancel():
                cancelled = True
                v.update()
        return cancelled

    def delete_selected(self) -> None:
        if not self.w.view.tools.remove_selected():
            self.w.statusBar().showMessage("No measurement to delete.", 3000)
        self.w.view.update()

    def clear(self) -> None:
        self.w.view.clear_measurements()

    def clear_calibration(self) -> None:
        if self.w.view.tools.calibration is not None:
            self.w.view.tools.set_calibration(None)
            self.w.statusBar().showMessage(f"Calibration removed: {self.w.view.tools.scale().describe()}.", 6000)

    def set_beside_film(self, on: bool) -> None:
        self.store.beside_film = bool(on)
        self.w.settings.setValue(BESIDE_KEY, bool(on))

    def _calibrate(self, view: FilmView, line: Measurement) -> None:
        measured = view.tools.scale().length_text(*line.points)
        known = ask_known_length(self.w, measured)
        if known is None:
            view.update()
            return
        try:
            cal = Calibration(line.points[0], line.points[1], known)
        except MeasureError as e:
            self.w.post(WARNING, f"Calibration not set: {e}.", film=self._key(view))
            return
        view.tools.set_calibration(cal)
        view.update()
        self.w.statusBar().showMessage(f"Calibrated: {known:g} mm. Measurements on this film now say \"calibrated by user\".", 10000)

    # -- keeping -------------------------------------------------------------------------------
    @staticmethod
    def _key(view: FilmView) -> str | None:
        lf = view.loaded
        return lf.key if lf is not None else None

    def _load(self, view: FilmView) -> None:
        film = view.film
        if film is None:
            return
        try:
            loaded = self.store.load(film)
        except OsteoError as e:  # pragma: no cover - load() turns file problems into notes
            self.w.post(WARNING, str(e), film=self._key(view))
            return
        if loaded is None:
            return
        view.tools.set_measurements(loaded.measurements.items, loaded.measurements.calibration)
        view.update()
        for note in loaded.notes:
            self.w.post(WARNING, note, film=self._key(view))
        n = len(loaded.measurements.items)
        if n and view is self.w.view:
            self.w.statusBar().showMessage(f"{n} measurement(s) of this film restored from {loaded.path.name}.", 6000)

    def _save(self, view: FilmView) -> None:
        film = view.film
        if film is None:
            return
        fm = FilmMeasurements(view.tools.items, view.tools.calibration)
        try:
            saved = self.store.save(film, fm, window=view.display_window)
        except OsteoError as e:
            self.w.post(ERROR, f"Measurements not saved: {e}", film=self._key(view))
            return
        for note in saved.notes:
            self.w.post(INFO, note, film=self._key(view))

    def export_gsps_dialog(self) -> None:
        view = self.w.view
        film = view.film
        if film is None or not film.is_dicom:
            self.w.statusBar().showMessage("A presentation state needs a DICOM film on display.", 5000)
            return
        if not view.tools.items and view.tools.calibration is None:
            self.w.statusBar().showMessage("No measurements to save on this film.", 5000)
            return
        start = str(Path(self.w.recent.last_dir()) / f"{film.path.stem}_GSPS.dcm")
        path, _ = QFileDialog.getSaveFileName(self.w, "Save measurements as a DICOM presentation state", start, "DICOM (*.dcm)")
        if path:
            self.export_gsps(path)

    def export_gsps(self, path: str | Path) -> Path | None:
        view = self.w.view
        if view.film is None:
            return None
        try:
            out = self.store.export_gsps(view.film, FilmMeasurements(view.tools.items, view.tools.calibration), path,
                                         window=view.display_window)
        except OsteoError as e:
            self.w.post(ERROR, str(e))
            return None
        self.w.statusBar().showMessage(f"Saved {out}", 6000)
        return out
