"""Screening off the GUI thread: one worker QThread owns the model; request ids discard stale results.

The controller (GUI thread) numbers every request. A newer request makes every older one stale, and
`cancel()` makes the current one stale: a stale request is skipped if it has not started, asked to
stop at the core's next checkpoint (`should_cancel`), and its result is dropped if it still arrives.
The GUI never waits for the worker, except in `shutdown()`.

The model loads once, in the worker thread, right after the window is shown: `torch` is imported
there (lazily, through `core.inference`), never on the GUI thread before the window is visible.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ..core.errors import BundleError, InferenceError, NoBundleError, OsteoError

log = logging.getLogger(__name__)

ScreenerFactory = Callable[[Any, str], Any]

NOT_STARTED, LOADING, READY, NO_MODEL, MODEL_ERROR = "not started", "loading", "ready", "no model", "model error"


def default_factory(bundle: Any, device: str) -> Any:
    from ..core.inference import Screener  # imports torch: worker thread only

    screener = Screener(bundle, device)
    _preload("pytorch_grad_cam")  # the core imports it on the first screen(): do it while the model loads
    return screener


def _preload(module: str) -> None:
    """Import a module now, in the worker. Importing C extensions holds the GIL (a GUI stall of up to
    ~200 ms): better during model loading than in the middle of the first screening."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as e:  # the core will report it properly when it needs the module
        log.warning("could not preload %s: %s", module, e)


class _Worker(QObject):
    model_loaded = Signal(object)  # the screener's ModelInfo (or None)
    model_failed = Signal(str, str)  # state (NO_MODEL / MODEL_ERROR), message
    notice = Signal(str)  # a warning worth showing (e.g. CUDA -> CPU fallback)
    progress = Signal(int, float, str)
    result = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)

    def __init__(self, factory: ScreenerFactory, is_stale: Callable[[int], bool]):
        super().__init__()
        self._factory = factory
        self._is_stale = is_stale
        self._screener: Any = None

    @Slot(object, str)
    def load(self, bundle: Any, device: str) -> None:
        try:
            try:
                self._screener = self._factory(bundle, device)
            except InferenceError as e:
                if not device.lower().startswith("cuda"):
                    raise
                self.notice.emit(f"{e} Falling back to the CPU.")
                self._screener = self._factory(bundle, "cpu")
        except NoBundleError as e:
            self.model_failed.emit(NO_MODEL, str(e))
            return
        except OsteoError as e:
            state = NO_MODEL if isinstance(e, BundleError) else MODEL_ERROR
            self.model_failed.emit(state, str(e))
            return
        except Exception as e:  # an unexpected failure must not kill the thread: report it
            log.exception("model loading failed")
            self.model_failed.emit(MODEL_ERROR, f"The model could not be loaded ({type(e).__name__}: {e}).")
            return
        self.model_loaded.emit(getattr(self._screener, "model_info", None))

    @Slot(int, object)
    def screen(self, rid: int, film: Any) -> None:
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
        self.result.emit(rid, pred)


class ScreeningController(QObject):
    """GUI-side face of the worker. Emits only for the newest request."""

    model_state_changed = Signal(str, str)  # state, message
    notice = Signal(str)
    started = Signal(int)
    progress = Signal(int, float, str)
    finished = Signal(int, object)  # request id, Prediction
    failed = Signal(int, str)
    cancelled = Signal(int)

    _load_requested = Signal(object, str)
    _screen_requested = Signal(int, object)

    def __init__(self, bundle: Any = None, device: str = "auto", factory: ScreenerFactory | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._bundle, self._device = bundle, device
        self._factory = factory or default_factory
        self._latest = 0
        self._cancel_upto = 0
        self._active: int | None = None
        self.model_state = NOT_STARTED
        self.model_message = ""
        self.model_info: Any = None
        self._thread: QThread | None = None
        self._worker: _Worker | None = None

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
        w = self._worker
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self._on_model_failed)
        w.notice.connect(self.notice)
        w.progress.connect(self._on_progress)
        w.result.connect(self._on_result)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_worker_cancelled)
        self._thread.start()
        self._set_model_state(LOADING, "Loading the model…")
        self._load_requested.emit(self._bundle, self._device)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Make everything stale, stop the thread and wait for it. True when the thread ended."""
        self._cancel_upto = self._latest
        self._active = None
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

    def request(self, film: Any) -> int:
        """Screen `film`; supersedes any earlier request. Returns the request id."""
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
        self._screen_requested.emit(rid, film)
        return rid

    def cancel(self) -> int | None:
        """Cancel the current request; returns its id (or None). Its result will be discarded."""
        rid = self._active
        if rid is None:
            return None
        self._cancel_upto = max(self._cancel_upto, rid)
        self._active = None
        self.cancelled.emit(rid)
        return rid

    # -- worker signals (GUI thread) -----------------------------------------------------------------
    def _set_model_state(self, state: str, message: str) -> None:
        self.model_state, self.model_message = state, message
        self.model_state_changed.emit(state, message)

    @Slot(object)
    def _on_model_loaded(self, info: Any) -> None:
        self.model_info = info
        name = f"{info.name} {info.version}" if info is not None else "model"
        self._set_model_state(READY, f"Model {name} ready.")

    @Slot(str, str)
    def _on_model_failed(self, state: str, message: str) -> None:
        self._set_model_state(state, message)
        if self._active is not None:
            rid, self._active = self._active, None
            self.failed.emit(rid, message)

    @Slot(int, float, str)
    def _on_progress(self, rid: int, frac: float, text: str) -> None:
        if rid == self._active and not self.is_stale(rid):
            self.progress.emit(rid, frac, text)

    @Slot(int, object)
    def _on_result(self, rid: int, pred: Any) -> None:
        if rid != self._active or self.is_stale(rid):
            log.info("discarded the result of superseded/cancelled request %d", rid)
            return
        self._active = None
        self.finished.emit(rid, pred)

    @Slot(int, str)
    def _on_failed(self, rid: int, message: str) -> None:
        if rid != self._active or self.is_stale(rid):
            return
        self._active = None
        self.failed.emit(rid, message)

    @Slot(int)
    def _on_worker_cancelled(self, rid: int) -> None:
        # cancel() already told the GUI; superseded requests need no announcement.
        log.debug("request %d stopped in the worker", rid)
