"""Screening off the GUI thread: one worker QThread owns the model; request ids discard stale results.

The controller (GUI thread) numbers every request. A newer request makes every older one stale, and
`cancel()` makes the current one stale: a stale request is asked to stop at the core's next
checkpoint (`should_cancel`), and its result is dropped if it still arrives. The worker holds at
most one screening request: while it works on one, the newest request waits in the controller and
replaces any older one waiting there, so a request that is already stale is never sent (flipping
through films screens only the film the user stops at). The GUI never waits for the worker, except
in `shutdown()`.

The model loads once, in the worker thread, right after the window is shown: `torch` is imported
there (lazily, through `core.inference`), never on the GUI thread before the window is visible.
Loading ends with `Screener.warm_up()` (Grad-CAM imported, one blank pass), so that the first film
is not slowed down by imports that hold the GIL.

Report exports (`export`) run in the same worker, in order with the screening requests: they use the
loaded model to screen the films of the report that have no result yet (`report_export.run_export`).
"""

from __future__ import annotations

import importlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ..core.errors import BundleError, InferenceError, NoBundleError, OsteoError

if TYPE_CHECKING:
    from ..core.bundle import Bundle
    from ..core.clinical import ClinicalInputs
    from ..core.film import Film
    from ..core.inference import ModelInfo, Prediction, ScreenerLike
    from .report_export import ExportJob

log = logging.getLogger(__name__)

ScreenerFactory = Callable[["Bundle | str | None", str], "ScreenerLike"]


class ModelState(StrEnum):
    NOT_STARTED = "not started"
    LOADING = "loading"
    READY = "ready"
    NO_MODEL = "no model"
    MODEL_ERROR = "model error"


NOT_STARTED, LOADING, READY, NO_MODEL, MODEL_ERROR = (ModelState.NOT_STARTED, ModelState.LOADING, ModelState.READY,
                                                      ModelState.NO_MODEL, ModelState.MODEL_ERROR)


def default_factory(bundle: Bundle | str | None, device: str) -> ScreenerLike:
    from ..core.inference import Screener  # imports torch: worker thread only

    return Screener(bundle, device)


def _warm_up(screener: ScreenerLike) -> None:
    """`Screener.warm_up()` where the screener has it: Grad-CAM's imports hold the GIL (a GUI stall of
    up to ~200 ms), better during model loading than in the middle of the first screening. A failure
    here is not fatal: the first screening reports it properly if it recurs."""
    warm = getattr(screener, "warm_up", None)
    if not callable(warm):
        return
    try:
        warm()
    except Exception as e:
        log.warning("model warm-up failed (%s: %s); the first screening may be slower", type(e).__name__, e)


class _Worker(QObject):
    model_loaded = Signal(object)  # the screener's ModelInfo (or None)
    model_failed = Signal(str, str)  # state (NO_MODEL / MODEL_ERROR), message
    notice = Signal(str)  # a warning worth showing (e.g. CUDA -> CPU fallback)
    progress = Signal(int, float, str)
    result = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)
    export_progress = Signal(int, str)
    export_screened = Signal(str, object)  # path, Prediction (screened for a report)
    export_done = Signal(int, object, object)  # job id, [Path written], [notes]
    export_failed = Signal(int, str)
    export_cancelled = Signal(int)

    RECENT = 16

    def __init__(self, factory: ScreenerFactory, is_stale: Callable[[int], bool]):
        super().__init__()
        self._factory = factory
        self._is_stale = is_stale
        self._screener: ScreenerLike | None = None
        self._model_problem = "no model is loaded"
        self._recent: OrderedDict[str, Prediction] = OrderedDict()  # path -> last result (worker thread only)

    @Slot(object, str)
    def load(self, bundle: Bundle | str | None, device: str) -> None:
        try:
            try:
                self._screener = self._factory(bundle, device)
            except InferenceError as e:
                if device.strip().lower() in ("", "auto", "cpu"):  # only an explicit GPU request falls back
                    raise
                self.notice.emit(f"{e} Falling back to the CPU.")
                self._screener = self._factory(bundle, "cpu")
        except NoBundleError as e:
            self._model_problem = "no model is installed"
            self.model_failed.emit(NO_MODEL, str(e))
            return
        except OsteoError as e:
            state = NO_MODEL if isinstance(e, BundleError) else MODEL_ERROR
            self._model_problem = "no model is installed" if state == NO_MODEL else "the model could not be loaded"
            self.model_failed.emit(state, str(e))
            return
        except Exception as e:  # an unexpected failure must not kill the thread: report it
            log.exception("model loading failed")
            self._model_problem = "the model could not be loaded"
            self.model_failed.emit(MODEL_ERROR, f"The model could not be loaded ({type(e).__name__}: {e}).")
            return
        _warm_up(self._screener)
        self.model_loaded.emit(getattr(self._screener, "model_info", None))

    @Slot(int, object, object)
    def screen(self, rid: int, film: Film, clinical: ClinicalInputs | None = None) -> None:
        if self._is_stale(rid):
            self.cancelled.emit(rid)
            return
        if self._screener is None:
            self.failed.emit(rid, "No model is loaded: the film cannot be screened.")
            return
        try:
            pred = self._screener.screen(
                film,
                gradcam=True,
                progress=lambda frac, text: self.progress.emit(rid, float(frac), str(text)),
                should_cancel=lambda: self._is_stale(rid),
                clinical=clinical,
            )
        except Exception as e:
            if self._is_stale(rid):  # core.inference.Cancelled, or anything raised while being stopped
                self.cancelled.emit(rid)
            elif isinstance(e, OsteoError):
                self.failed.emit(rid, str(e))
            else:
                log.exception("screening failed")
                self.failed.emit(rid, f"Screening failed unexpectedly ({type(e).__name__}: {e}).")
            return
        self._remember(str(film.path), pred)
        self.result.emit(rid, pred)

    def _remember(self, path: str, pred: Prediction) -> None:
        self._recent[path] = pred
        self._recent.move_to_end(path)
        while len(self._recent) > self.RECENT:
            self._recent.popitem(last=False)

    @Slot()
    def preload_reports(self) -> None:
        """Import the PDF writer and load its fonts now (asked when the export dialog opens): the
        imports load C extensions and parse TrueType fonts while holding the GIL, better while the
        user fills in the dialog than while the report is written."""
        try:
            for name in ("reportlab.pdfgen.canvas", "reportlab.platypus"):
                importlib.import_module(name)
            from ..core.reports.pdf import setup_fonts

            setup_fonts()
        except Exception as e:  # the export itself reports real problems
            log.debug("could not preload the report writer: %s", e)

    @Slot(object)
    def export(self, job: ExportJob) -> None:
        """A report export (`report_export.ExportJob`): screen what has no result yet, then write."""
        from ..core.errors import ReportError
        from ..core.reports import ReportExistsError
        from .report_export import ExportCancelled, run_export

        def screened(path: str, pred: Prediction) -> None:
            self._remember(path, pred)
            self.export_screened.emit(path, pred)

        try:
            paths, notes = run_export(
                job, self._screener, recent=self._recent.get, no_model_reason=self._model_problem,
                progress=lambda text: self.export_progress.emit(job.jid, text), on_screened=screened,
            )
        except ExportCancelled:
            self.export_cancelled.emit(job.jid)
        except ReportExistsError as e:
            self.export_failed.emit(job.jid, f"{e.path} already exists, so nothing was written. "
                                             "Export again and choose Replace to overwrite it.")
        except ReportError as e:
            self.export_failed.emit(job.jid, f"The export failed: {e}")
        except Exception as e:  # the worker must live on
            log.exception("report export failed")
            self.export_failed.emit(job.jid, f"The export failed unexpectedly ({type(e).__name__}: {e}).")
        else:
            self.export_done.emit(job.jid, paths, notes)


class ScreeningController(QObject):
    """GUI-side face of the worker. Emits only for the newest request."""

    model_state_changed = Signal(str, str)  # state, message
    notice = Signal(str)
    started = Signal(int)
    progress = Signal(int, float, str)
    finished = Signal(int, object)  # request id, Prediction
    failed = Signal(int, str)
    cancelled = Signal(int)
    export_progress = Signal(int, str)
    export_screened = Signal(str, object)
    export_done = Signal(int, object, object)  # job id, [Path], [notes]
    export_failed = Signal(int, str)
    export_cancelled = Signal(int)

    _load_requested = Signal(object, str)
    _screen_requested = Signal(int, object, object)
    _export_requested = Signal(object)
    _preload_requested = Signal()

    def __init__(self, bundle: Bundle | str | None = None, device: str = "auto", factory: ScreenerFactory | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._bundle, self._device = bundle, device
        self._factory = factory or default_factory
        self._latest = 0
        self._cancel_upto = 0
        self._active: int | None = None
        self._in_flight: int | None = None  # the screening request the worker holds (queued or running)
        self._pending: tuple[int, Film, ClinicalInputs | None] | None = None  # the newest request, waiting
        self.model_state = ModelState.NOT_STARTED
        self.model_message = ""
        self.model_info: ModelInfo | None = None
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._export_jid = 0
        self._exports: dict[int, ExportJob] = {}  # running / queued export jobs
        self._preloaded = False

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread and load the model there (once)."""
        if self._thread is not None:
            return
        self._thread = QThread()
        self._thread.setObjectName("osteo-screening")
        self._worker = _Worker(self._factory, self.is_stale)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._load_requested.connect(self._worker.load)
        self._screen_requested.connect(self._worker.screen)
        self._export_requested.connect(self._worker.export)
        self._preload_requested.connect(self._worker.preload_reports)
        w = self._worker
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self._on_model_failed)
        w.notice.connect(self.notice)
        w.progress.connect(self._on_progress)
        w.result.connect(self._on_result)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_worker_cancelled)
        w.export_progress.connect(self.export_progress)
        w.export_screened.connect(self.export_screened)
        w.export_done.connect(self._on_export_done)
        w.export_failed.connect(self._on_export_failed)
        w.export_cancelled.connect(self._on_export_cancelled)
        self._thread.start()
        self._set_model_state(LOADING, "Loading the model…")
        self._load_requested.emit(self._bundle, self._device)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Make everything stale, stop the thread and wait for it. True when the thread ended."""
        self._cancel_upto = self._latest
        self._active = None
        self._pending = None
        for job in self._exports.values():
            job.cancel.set()
        if self._thread is None:
            return True
        self._thread.quit()
        done = self._thread.wait(timeout_ms)
        if not done:
            log.error("the screening thread did not stop within %d ms", timeout_ms)
            return False
        self._thread = None
        self._worker = None
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    # -- requests ------------------------------------------------------------------------------
    def is_stale(self, rid: int) -> bool:
        """Called from the worker thread too (reads two ints: atomic under the GIL)."""
        return rid != self._latest or rid <= self._cancel_upto

    @property
    def active(self) -> int | None:
        return self._active

    @property
    def model_available(self) -> bool:
        return self.model_state in (NOT_STARTED, LOADING, READY)

    def request(self, film: Film, clinical: ClinicalInputs | None = None) -> int:
        """Screen `film` (with age/sex/weight a user entered for its patient, if any); supersedes any
        earlier request. Returns the request id."""
        self._latest += 1
        rid = self._latest
        if self._thread is None:
            self.start()
        if not self.model_available:
            self._active = None
            msg = self.model_message or "No model is available."
            QTimer.singleShot(0, lambda: self.failed.emit(rid, msg) if rid == self._latest else None)
            return rid
        self._active = rid
        self.started.emit(rid)
        if self._in_flight is None:
            self._send(rid, film, clinical)
        else:  # the worker is busy (with a request that is stale now): wait, replacing any older waiting one
            self._pending = (rid, film, clinical)
        return rid

    def _send(self, rid: int, film: Film, clinical: ClinicalInputs | None = None) -> None:
        self._in_flight = rid
        self._screen_requested.emit(rid, film, clinical)

    def _worker_done(self, rid: int) -> None:
        """The worker ended request `rid` (result, failure or cancel): send the waiting one, if still wanted."""
        if rid != self._in_flight:
            return
        self._in_flight = None
        pending, self._pending = self._pending, None
        if pending is not None and not self.is_stale(pending[0]):
            self._send(*pending)

    def cancel(self) -> int | None:
        """Cancel the current request; returns its id (or None). Its result will be discarded."""
        rid = self._active
        if rid is None:
            return None
        self._cancel_upto = max(self._cancel_upto, rid)
        self._active = None
        self.cancelled.emit(rid)
        return rid

    # -- exports -------------------------------------------------------------------------------------
    def export(self, job: ExportJob) -> int:
        """Queue a `report_export.ExportJob` in the worker (after any screening already queued)."""
        self._export_jid += 1
        job.jid = self._export_jid
        self._exports[job.jid] = job
        if self._thread is None:
            self.start()
        self._export_requested.emit(job)
        return job.jid

    def preload_reports(self) -> None:
        """Have the worker import the report writer (once), e.g. while an export dialog is open."""
        if self._preloaded:
            return
        self._preloaded = True
        if self._thread is None:
            self.start()
        self._preload_requested.emit()

    @property
    def exporting(self) -> bool:
        return bool(self._exports)

    def cancel_export(self) -> int | None:
        """Ask the running export to stop (before it writes); returns its id, or None."""
        for jid, job in self._exports.items():
            job.cancel.set()
            return jid
        return None

    @Slot(int, object, object)
    def _on_export_done(self, jid: int, paths: list[Path], notes: list[str]) -> None:
        self._exports.pop(jid, None)
        self.export_done.emit(jid, paths, notes)

    @Slot(int, str)
    def _on_export_failed(self, jid: int, message: str) -> None:
        self._exports.pop(jid, None)
        self.export_failed.emit(jid, message)

    @Slot(int)
    def _on_export_cancelled(self, jid: int) -> None:
        self._exports.pop(jid, None)
        self.export_cancelled.emit(jid)

    # -- worker signals (GUI thread) -----------------------------------------------------------------
    def _set_model_state(self, state: ModelState, message: str) -> None:
        self.model_state, self.model_message = state, message
        self.model_state_changed.emit(state, message)

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo | None) -> None:
        self.model_info = info
        name = f"{info.name} {info.version}" if info is not None else "model"
        self._set_model_state(ModelState.READY, f"Model {name} ready.")

    @Slot(str, str)
    def _on_model_failed(self, state: str, message: str) -> None:
        self._set_model_state(ModelState(state), message)
        if self._active is not None:
            rid, self._active = self._active, None
            self.failed.emit(rid, message)

    @Slot(int, float, str)
    def _on_progress(self, rid: int, frac: float, text: str) -> None:
        if rid == self._active and not self.is_stale(rid):
            self.progress.emit(rid, frac, text)

    @Slot(int, object)
    def _on_result(self, rid: int, pred: Prediction) -> None:
        self._worker_done(rid)
        if rid != self._active or self.is_stale(rid):
            log.info("discarded the result of superseded/cancelled request %d", rid)
            return
        self._active = None
        self.finished.emit(rid, pred)

    @Slot(int, str)
    def _on_failed(self, rid: int, message: str) -> None:
        self._worker_done(rid)
        if rid != self._active or self.is_stale(rid):
            return
        self._active = None
        self.failed.emit(rid, message)

    @Slot(int)
    def _on_worker_cancelled(self, rid: int) -> None:
        # cancel() already told the GUI; superseded requests need no announcement.
        log.debug("request %d stopped in the worker", rid)
        self._worker_done(rid)
