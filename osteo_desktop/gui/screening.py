"""Screening off the GUI thread: the model runs in a process of its own (or, for tests, in a worker
thread); request ids discard stale results.

The controller (GUI thread) numbers every request. A newer request makes every older one stale, and
`cancel()` makes the current one stale: a stale request is asked to stop at the core's next
checkpoint (`should_cancel`), and its result is dropped if it still arrives. The engine holds at
most one screening request: while it works on one, the newest request waits in the controller and
replaces any older one waiting there, so a request that is already stale is never sent (flipping
through films screens only the film the user stops at). The GUI never waits for the engine.

By default the engine is a child process (`gui.engine_client`, `core.engine_process`): the viewer's
process never imports torch, the model's threads are capped (`core.threads`: cores - 1, at lower
priority), a decoder that crashes on a film takes down only the child (that film gets an error, the
child is restarted), and closing the viewer terminates it at once. With a `factory` (a screener
made in this process: the tests' stand-ins) the engine is a worker QThread instead, as before.

The model loads once, right after the window is shown, and ends with `Screener.warm_up()`
(Grad-CAM imported, one blank pass), so that the first film is not slowed down.

Report exports (`export`) run in the engine too, in order with the screening requests: they use
the loaded model to screen the films of the report that have no result yet (`core.export_job`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ..core import engine_process as ep
from ..core.export_job import EXPORT_CANCELLED, EXPORT_DONE, export_outcome
from ..core.threads import screening_threads

if TYPE_CHECKING:
    from ..core.bundle import Bundle
    from ..core.clinical import ClinicalInputs
    from ..core.export_job import ExportJob
    from ..core.film import Film
    from ..core.inference import ModelInfo, Prediction, ScreenerLike
    from .engine_client import EngineClient

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
    """The real `Screener`, made in this process (imports torch): the in-process worker's factory."""
    return ep.default_screener(bundle, device)


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
        outcome = ep.load_screener(self._factory, bundle, device)
        for text in outcome.notices:
            self.notice.emit(text)
        if outcome.screener is None:
            self._model_problem = outcome.problem
            self.model_failed.emit(outcome.state, outcome.message)
            return
        self._screener = outcome.screener
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
            else:
                self.failed.emit(rid, ep.screening_failure(e))
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
        ep.preload_reports()

    @Slot(object)
    def export(self, job: ExportJob) -> None:
        """A report export (`core.export_job.ExportJob`): screen what has no result yet, then write."""

        def screened(path: str, pred: Prediction) -> None:
            self._remember(path, pred)
            self.export_screened.emit(path, pred)

        kind, value = export_outcome(
            job, self._screener, recent=self._recent.get, no_model_reason=self._model_problem,
            progress=lambda text: self.export_progress.emit(job.jid, text), on_screened=screened,
        )
        if kind == EXPORT_DONE:
            self.export_done.emit(job.jid, *value)
        elif kind == EXPORT_CANCELLED:
            self.export_cancelled.emit(job.jid)
        else:
            self.export_failed.emit(job.jid, value)


class ScreeningController(QObject):
    """GUI-side face of the engine (a child process, or a worker thread). Emits only for the newest
    request."""

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
                 parent: QObject | None = None, *, threads: int | None = None, engine_factory: str = ""):
        """`factory`: make the screener in this process, in a worker thread (tests); None: the engine
        process. `threads`: the thread-budget setting (None or 0: automatic, `core.threads`).
        `engine_factory`: a `module:name` screener factory for the engine process (tests)."""
        super().__init__(parent)
        self._bundle, self._device = bundle, device
        self._factory = factory
        self._threads_setting = threads
        self._engine_factory = engine_factory
        self._latest = 0
        self._cancel_upto = 0
        self._active: int | None = None
        self._in_flight: int | None = None  # the screening request the engine holds (queued or running)
        self._pending: tuple[int, Film, ClinicalInputs | None] | None = None  # the newest request, waiting
        self.model_state = ModelState.NOT_STARTED
        self.model_message = ""
        self.model_info: ModelInfo | None = None
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self.engine: EngineClient | None = None
        self._export_jid = 0
        self._exports: dict[int, ExportJob] = {}  # running / queued export jobs
        self._preloaded = False
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def in_process(self) -> bool:
        """True when the screener runs in this process (a worker thread), False for the engine process."""
        return self._factory is not None

    def engine_settings(self) -> ep.EngineSettings:
        bundle = self._bundle
        path = getattr(bundle, "path", bundle)  # a Bundle object: its folder (the engine reads it again)
        return ep.EngineSettings(bundle=None if path is None else str(path), device=self._device,
                                 threads=screening_threads(self._threads_setting), factory=self._engine_factory,
                                 log_level=logging.getLogger().getEffectiveLevel())

    def start(self) -> None:
        """Start the engine and load the model there (once)."""
        if self._started:
            return
        self._started = True
        if self.in_process:
            self._start_thread()
        else:
            self._start_process()
        self._set_model_state(LOADING, "Loading the model…")

    def _connect(self, w: _Worker | EngineClient) -> None:
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

    def _start_process(self) -> None:
        from .engine_client import EngineClient

        self.engine = EngineClient(self.engine_settings(), self)
        self._connect(self.engine)
        self.engine.restarting.connect(self._on_engine_restarting)
        self.engine.start()

    def _start_thread(self) -> None:
        assert self._factory is not None
        self._thread = QThread()
        self._thread.setObjectName("osteo-screening")
        self._worker = _Worker(self._factory, self.is_stale)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._load_requested.connect(self._worker.load)
        self._screen_requested.connect(self._worker.screen)
        self._export_requested.connect(self._worker.export)
        self._preload_requested.connect(self._worker.preload_reports)
        self._connect(self._worker)
        self._thread.start()
        self._load_requested.emit(self._bundle, self._device)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Make everything stale and stop the engine: the process is terminated at once; a worker
        thread is waited for (up to `timeout_ms`). True when it ended."""
        self._cancel_upto = self._latest
        self._active = None
        self._pending = None
        for job in self._exports.values():
            job.cancel.set()
        if self.engine is not None:
            engine, self.engine = self.engine, None
            return engine.shutdown(min(timeout_ms, 1000))
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
        if self.engine is not None:
            return self.engine.running
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
        self._stale_upto(rid - 1)
        if not self._started:
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
        else:  # the engine is busy (with a request that is stale now): wait, replacing any older waiting one
            self._pending = (rid, film, clinical)
        return rid

    def _stale_upto(self, upto: int) -> None:
        """Every request up to `upto` is stale: the engine process is told (a worker thread asks `is_stale`)."""
        if self.engine is not None and self._in_flight is not None and self._in_flight <= upto:
            self.engine.stale(upto)

    def _send(self, rid: int, film: Film, clinical: ClinicalInputs | None = None) -> None:
        self._in_flight = rid
        if self.engine is not None:
            from .engine_client import film_path_for_request

            path, whole = film_path_for_request(film)
            self.engine.screen(ep.ScreenRequest(rid, path, film=whole, clinical=clinical))
        else:
            self._screen_requested.emit(rid, film, clinical)

    def _worker_done(self, rid: int) -> None:
        """The engine ended request `rid` (result, failure or cancel): send the waiting one, if still wanted."""
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
        self._stale_upto(rid)
        self._active = None
        self.cancelled.emit(rid)
        return rid

    # -- exports -------------------------------------------------------------------------------------
    def export(self, job: ExportJob) -> int:
        """Queue a `report_export.ExportJob` in the worker (after any screening already queued)."""
        self._export_jid += 1
        job.jid = self._export_jid
        self._exports[job.jid] = job
        if not self._started:
            self.start()
        if self.engine is not None:
            self.engine.export(job)
        else:
            self._export_requested.emit(job)
        return job.jid

    def preload_reports(self) -> None:
        """Have the worker import the report writer (once), e.g. while an export dialog is open."""
        if self._preloaded:
            return
        self._preloaded = True
        if not self._started:
            self.start()
        if self.engine is not None:
            self.engine.preload_reports()
        else:
            self._preload_requested.emit()

    @property
    def exporting(self) -> bool:
        return bool(self._exports)

    def cancel_export(self) -> int | None:
        """Ask the running export to stop (before it writes); returns its id, or None."""
        for jid, job in self._exports.items():
            job.cancel.set()
            if self.engine is not None:
                self.engine.cancel_export(jid)
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

    @Slot(str)
    def _on_engine_restarting(self, why: str) -> None:
        """The engine process died and starts again: the model loads again (the film it had gets its
        own error from the engine client)."""
        self.notice.emit(why)
        self._set_model_state(LOADING, "Loading the model again…")

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
