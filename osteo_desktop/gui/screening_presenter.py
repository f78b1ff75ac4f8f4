"""What the screening worker does, shown for the film on display: busy, progress, the result with its
attention map, failures, cancels and the model's state (status bar, results panel, messages).

The window owns the widgets; the presenter decides what they show. Results are cached in the
window's session (`core.session.Session`), also those screened for a report.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.inference import Prediction
from . import screening as scr
from .messages import ERROR, WARNING

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


class ScreeningPresenter:
    def __init__(self, window: MainWindow):
        self.w = window
        c = window.controller
        c.model_state_changed.connect(self.on_model_state)
        c.progress.connect(self.on_progress)
        c.finished.connect(self.on_result)
        c.failed.connect(self.on_screen_failed)
        c.cancelled.connect(self.on_cancelled)
        window.exports.screened.connect(self.on_export_screened)

    def screen(self) -> int | None:
        """Screen the film on display (supersedes any running request)."""
        lf = self.w.current
        if lf is None:
            self.w.statusBar().showMessage("No film to screen: open one first.", 5000)
            return None
        rid = self.w.controller.request(lf.film, self.w.session.clinical(lf.film.patient_key))
        self.w.session.start_request(rid, lf.key)  # older ids are stale from now on
        if self.w.controller.model_available:
            waiting = self.w.controller.model_state in (scr.ModelState.LOADING, scr.ModelState.NOT_STARTED)
            self.w.results.show_busy("Loading the model, then screening…" if waiting else "Screening…", None if waiting else 0.0)
            self.w.enter_phase("screening")
        return rid

    def cancel(self) -> None:
        """Ctrl+.: cancel the screening on display, else a report export that has not written yet."""
        if self.w.controller.cancel() is not None:
            return
        if self.w.controller.cancel_export() is not None:
            self.w.statusBar().showMessage("Cancelling the export…", 3000)
            return
        self.w.statusBar().showMessage("Nothing to cancel.", 3000)

    def on_export_screened(self, path: str, pred: Prediction) -> None:
        """A film screened for a report: cache it like any result (and show it if it is on display)."""
        self.w.session.cache_result(path, pred)
        if path == self.w.session.current_key and self.w.controller.active is None and self.w.results.prediction is None:
            self.show_prediction(pred)

    def no_model_text(self) -> str:
        if self.w.controller.model_state == scr.ModelState.NO_MODEL:
            return "Screening unavailable: no model is installed. The viewer works without it.\n\n" + self.w.controller.model_message
        return "Screening unavailable: the model could not be loaded.\n\n" + self.w.controller.model_message

    def show_prediction(self, pred: Prediction) -> None:
        self.w.results.show_prediction(pred)
        self.w.view.set_cam(pred.cam, pred.cam_status)

    def on_model_state(self, state: str, message: str) -> None:
        if state == scr.ModelState.LOADING:
            self.w.model_label.setText("Model: loading…")
            self.w.enter_phase("model-loading")
            return
        self.w.leave_phase("model-loading")
        if state == scr.ModelState.READY:
            info = self.w.controller.model_info
            self.w.model_label.setText(f"Model: {info.name} {info.version}" if info is not None else "Model: ready")
            self.w.results.show_model(info)
            log.info("%s", message)
        else:
            none = state == scr.ModelState.NO_MODEL
            self.w.model_label.setText("Model: none" if none else "Model: error")
            self.w.results.show_model(None, none_text="No model installed." if none else "The model could not be loaded.")
            self.w.post(WARNING if none else ERROR, (
                "No model installed: screening is off; the viewer works as usual. " if none else
                "The model could not be loaded: screening is off. ") + message)
            if self.w.current is not None and not self.w.session.has_result(self.w.session.current_key):
                self.w.results.show_error(self.no_model_text(), screen_enabled=False)

    def on_progress(self, rid: int, frac: float, text: str) -> None:
        key = self.w.session.request_key(rid)
        if key is not None and key == self.w.session.current_key:
            self.w.results.show_progress(frac, text)

    def on_result(self, rid: int, pred: Prediction) -> None:
        self.w.leave_phase("screening")
        path = self.w.session.end_request(rid)
        if path is None:
            return
        self.w.session.cache_result(path, pred)
        if path == self.w.session.current_key:
            self.show_prediction(pred)
            for w in pred.warnings:
                if w.endswith("on the CPU instead."):  # the GPU failed: say so where it is seen
                    self.w.post(WARNING, w)
        self.w.statusBar().showMessage(f"Screened {Path(path).name}: {pred.decision_text}", 8000)
        self.w.screening_done.emit(path, pred)

    def on_screen_failed(self, rid: int, message: str) -> None:
        self.w.leave_phase("screening")
        path = self.w.session.end_request(rid)
        if path is None:
            return
        if self.w.controller.model_available:
            self.w.post(ERROR, message)
            if path == self.w.session.current_key:
                self.w.results.show_error(message)
        elif path == self.w.session.current_key:
            self.w.results.show_error(self.no_model_text(), screen_enabled=False)
        self.w.screening_failed.emit(path, message)

    def on_cancelled(self, rid: int) -> None:
        self.w.leave_phase("screening")
        path = self.w.session.end_request(rid)
        if path is None:
            return
        if path == self.w.session.current_key:
            self.w.results.clear("Screening cancelled. Press S (or Screen) to screen again.", screen_enabled=True)
        self.w.statusBar().showMessage("Screening cancelled.", 4000)
        self.w.screening_cancelled.emit(path)
