"""The screening engine in a process of its own (spawned, never forked); no Qt here.

The viewer's process never imports torch. One child process, started with the `spawn` method (a
fresh interpreter: no copy of the viewer's threads, locks or Qt state), caps its thread pools
(`core.threads`), lowers its priority, loads the bundle once and then serves requests in order:

* screening: a `ScreenRequest` names the film by its path; the child reads and decodes the file
  itself, so a decoder that crashes (openjpeg and CharLS are C code; a hostile file can kill the
  process) takes down only the child. A film with no file behind it travels whole.
* report exports (`core.export_job`): the films are read again there, screened where needed, and
  the files written, all off the viewer's process (reportlab holds the GIL for seconds).

Messages are tuples whose first item says what they are (the constants below). They travel over a
`multiprocessing` pipe between this program's own two processes, pickled with protocol 5: numpy
arrays (a film's pixels, a heatmap) go out of band as raw buffers, read straight into memory
without an extra copy (`core.messages`: `send_message` / `recv_message`).

Requests are numbered by the viewer. "Stale up to N" marks every request up to N as superseded or
cancelled: the running one stops at the core's next checkpoint (`Screener.screen(should_cancel=)`),
and its outcome is reported as cancelled. The viewer keeps at most one screening request in the
child at a time (newer ones wait in the viewer and replace each other), so a stale one is never
started.

The viewer side (start, restart after a crash, the Qt signals) is `gui.engine_client`.
"""

from __future__ import annotations

import faulthandler
import importlib
import logging
import os
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clinical import ClinicalInputs
from .errors import BundleError, InferenceError, NoBundleError, OsteoError
from .film import Film, Window
from .messages import recv_message, send_message

log = logging.getLogger(__name__)

# -- model states (the viewer's ModelState has the same values) ---------------------------------------
NO_MODEL, MODEL_ERROR = "no model", "model error"

# -- viewer -> engine ------------------------------------------------------------------------------
SCREEN = "screen"  # (SCREEN, ScreenRequest)
STALE = "stale"  # (STALE, upto): requests <= upto are superseded or cancelled
EXPORT = "export"  # (EXPORT, ExportJob)
CANCEL_EXPORT = "cancel_export"  # (CANCEL_EXPORT, jid)
PRELOAD_REPORTS = "preload_reports"  # (PRELOAD_REPORTS,)
QUIT = "quit"  # (QUIT,)

# -- engine -> viewer ------------------------------------------------------------------------------
HELLO = "hello"  # (HELLO, EngineInfo): the process runs, before the model loads
READY = "ready"  # (READY, ModelInfo | None, EngineInfo)
MODEL_FAILED = "model_failed"  # (MODEL_FAILED, NO_MODEL | MODEL_ERROR, message)
NOTICE = "notice"  # (NOTICE, text)
PROGRESS = "progress"  # (PROGRESS, rid, fraction, text)
RESULT = "result"  # (RESULT, rid, Prediction, attention layer RGBA uint8 or None)
FAILED = "failed"  # (FAILED, rid, message)
CANCELLED = "cancelled"  # (CANCELLED, rid)
EXPORT_PROGRESS = "export_progress"  # (EXPORT_PROGRESS, jid, text)
EXPORT_SCREENED = "export_screened"  # (EXPORT_SCREENED, path, Prediction)
# an export's end: core.export_job's EXPORT_DONE (jid, paths, notes) / EXPORT_FAILED (jid, message) /
# EXPORT_CANCELLED (jid)

RECENT_RESULTS = 16  # results kept for report exports (path -> Prediction)
RECENT_FILMS = 2  # decoded films kept (re-screening the film on display does not decode it again)


@dataclass(frozen=True)
class EngineSettings:
    """How the screening process starts. `factory` names a callable `module:name(bundle, device)`
    that makes the screener (tests use a stand-in); "" is `core.inference.Screener`."""

    bundle: str | None = None
    device: str = "auto"
    threads: int = 1
    lower_priority: bool = True
    factory: str = ""
    load_model: bool = True  # False: only report `skip_reason` as the model's failure (after a crash while loading)
    skip_reason: str = ""
    log_level: int = logging.INFO


@dataclass(frozen=True)
class EngineInfo:
    pid: int
    threads: int  # compute threads the model uses (torch's intra-op pool once it is loaded)
    priority_lowered: bool


@dataclass(frozen=True)
class DisplaySettings:
    """What the model is shown of a film: the film's default display (`core.display.render`, what
    `osteo-screen` uses too) unless a window is given. The viewer sends the default: the reader's
    live window/level never changes a result."""

    window: Window | None = None
    invert: bool = False

    def render(self, film: Film) -> Any:
        from .display import render

        return render(film, self.window, self.invert or None)


@dataclass(frozen=True)
class ScreenRequest:
    rid: int
    path: str
    film: Film | None = None  # only for a film with no file behind it
    display: DisplaySettings = field(default_factory=DisplaySettings)
    clinical: ClinicalInputs | None = None  # values a user entered for the patient (override the tags)
    gradcam: bool = True


def engine_stopped_message(path: str, how: str) -> str:
    """The per-film error when the engine process died while it had this film."""
    name = Path(path).name or path
    return (f"{name}: the screening engine stopped while reading this file ({how}). The file may be damaged or "
            "hostile to a decoder; the engine was restarted and other films can be screened.")


def describe_exit(exitcode: int | None) -> str:
    """A process's end in words: 'killed by signal SIGKILL', 'exit code 1'..."""
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        import signal

        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        return f"it was stopped by signal {name}" if name in ("SIGKILL", "SIGTERM") else f"it crashed ({name})"
    return f"exit code {exitcode}"


# -- loading and screening, shared with the viewer's in-process worker ------------------------------
@dataclass
class LoadOutcome:
    """What loading the model gave: a screener, or the state (NO_MODEL / MODEL_ERROR) and message."""

    screener: Any = None
    state: str = ""
    message: str = ""
    notices: list[str] = field(default_factory=list)

    @property
    def problem(self) -> str:
        """Why films cannot be screened, in a few words (for a report's notes)."""
        if self.screener is not None:
            return ""
        return "no model is installed" if self.state == NO_MODEL else "the model could not be loaded"


def default_screener(bundle: Any, device: str) -> Any:
    from .inference import Screener  # imports torch: the screening process (or worker) only

    return Screener(bundle, device)


def load_screener(factory: Callable[[Any, str], Any], bundle: Any, device: str) -> LoadOutcome:
    """Make the screener (falling back to the CPU only when a GPU was asked for explicitly), then warm
    it up. Never raises: failures become NO_MODEL (no or broken bundle) or MODEL_ERROR."""
    out = LoadOutcome()
    try:
        try:
            out.screener = factory(bundle, device)
        except InferenceError as e:
            if device.strip().lower() in ("", "auto", "cpu"):  # only an explicit GPU request falls back
                raise
            out.notices.append(f"{e} Falling back to the CPU.")
            out.screener = factory(bundle, "cpu")
    except NoBundleError as e:
        out.state, out.message = NO_MODEL, str(e)
        return out
    except OsteoError as e:
        out.state = NO_MODEL if isinstance(e, BundleError) else MODEL_ERROR
        out.message = str(e)
        return out
    except Exception as e:  # an unexpected failure must not kill the worker: report it
        log.exception("model loading failed")
        out.state, out.message = MODEL_ERROR, f"The model could not be loaded ({type(e).__name__}: {e})."
        return out
    warm_up(out.screener)
    return out


def warm_up(screener: Any) -> None:
    """`Screener.warm_up()` where the screener has it (imports Grad-CAM, one blank pass), so that the
    first film is not slowed down. A failure here is not fatal: the first screening reports it."""
    warm = getattr(screener, "warm_up", None)
    if not callable(warm):
        return
    try:
        warm()
    except Exception as e:
        log.warning("model warm-up failed (%s: %s); the first screening may be slower", type(e).__name__, e)


def screening_failure(e: BaseException) -> str:
    """The message for a screening that raised (not a cancel)."""
    if isinstance(e, OsteoError):
        return str(e)
    if isinstance(e, MemoryError):
        return "Not enough memory to screen this film. Close other programs and films, then screen it again."
    log.error("screening failed", exc_info=e)
    return f"Screening failed unexpectedly ({type(e).__name__}: {e})."


def _import_factory(spec: str) -> Callable[[Any, str], Any]:
    module, _, name = spec.partition(":")
    factory = getattr(importlib.import_module(module), name)
    if not callable(factory):
        raise TypeError(f"{spec} is not callable")
    return factory


# -- the child's side -----------------------------------------------------------------------------------
class _Engine:
    def __init__(self, conn: Any, settings: EngineSettings):
        self.conn = conn
        self.settings = settings
        self._send_lock = threading.Lock()
        self._cv = threading.Condition()
        self._queue: deque[tuple[Any, ...]] = deque()
        self._stale_upto = 0
        self._export_cancel: dict[int, threading.Event] = {}
        self._cancelled_exports: set[int] = set()
        self.screener: Any = None
        self.problem = "no model is loaded"
        self._recent: OrderedDict[str, Any] = OrderedDict()
        self._films: OrderedDict[tuple[str, int, int], Film] = OrderedDict()

    # -- talking to the viewer ---------------------------------------------------------------------
    def send(self, *msg: Any) -> None:
        try:
            with self._send_lock:
                send_message(self.conn, msg)
        except (OSError, EOFError, ValueError):  # the viewer is gone
            os._exit(0)

    def _listen(self) -> None:
        """The listening thread: a cancel must arrive while the main thread screens."""
        while True:
            try:
                msg = recv_message(self.conn)
            except (EOFError, OSError):
                os._exit(0)  # the viewer is gone (closed, or crashed): so are we, at once
            kind = msg[0]
            if kind == STALE:
                self._stale_upto = max(self._stale_upto, int(msg[1]))
            elif kind == CANCEL_EXPORT:
                jid = int(msg[1])
                self._cancelled_exports.add(jid)
                ev = self._export_cancel.get(jid)
                if ev is not None:
                    ev.set()
            elif kind == QUIT:
                os._exit(0)
            else:
                with self._cv:
                    self._queue.append(msg)
                    self._cv.notify()

    def is_stale(self, rid: int) -> bool:
        return rid <= self._stale_upto

    # -- the main thread ---------------------------------------------------------------------------
    def run(self) -> None:
        threading.Thread(target=self._listen, name="osteo-engine-listen", daemon=True).start()
        self._load()
        while True:
            with self._cv:
                while not self._queue:
                    self._cv.wait()
                msg = self._queue.popleft()
            kind = msg[0]
            if kind == SCREEN:
                self._screen(msg[1])
            elif kind == EXPORT:
                self._export(msg[1])
            elif kind == PRELOAD_REPORTS:
                self._preload_reports()
            else:
                log.warning("the screening engine ignored an unknown request %r", kind)

    def _load(self) -> None:
        s = self.settings
        from .threads import apply_thread_budget, lower_priority

        lowered = lower_priority() if s.lower_priority else False
        threads = apply_thread_budget(s.threads, import_torch=s.load_model and not s.factory)
        self.send(HELLO, EngineInfo(os.getpid(), threads, lowered))
        if not s.load_model:
            self.problem = "the model could not be loaded"
            self.send(MODEL_FAILED, MODEL_ERROR, s.skip_reason or "The model could not be loaded.")
            return
        try:
            factory = _import_factory(s.factory) if s.factory else default_screener
        except Exception as e:
            self.send(MODEL_FAILED, MODEL_ERROR, f"The screening engine could not start ({type(e).__name__}: {e}).")
            return
        t0 = time.perf_counter()
        outcome = load_screener(factory, s.bundle, s.device)
        for text in outcome.notices:
            self.send(NOTICE, text)
        if outcome.screener is None:
            self.problem = outcome.problem
            self.send(MODEL_FAILED, outcome.state, outcome.message)
            return
        self.screener = outcome.screener
        torch = sys.modules.get("torch")
        if torch is not None:
            threads = int(torch.get_num_threads())
        log.info("screening engine ready in %.1f s (pid %d, %d thread(s)%s)", time.perf_counter() - t0, os.getpid(),
                 threads, ", lower priority" if lowered else "")
        self.send(READY, getattr(self.screener, "model_info", None), EngineInfo(os.getpid(), threads, lowered))

    def _film(self, req: ScreenRequest) -> Film:
        if req.film is not None:
            return req.film
        from .loading import load_film

        path = Path(req.path)
        try:
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if key is not None and key in self._films:
            self._films.move_to_end(key)
            return self._films[key]
        film = load_film(path)
        if key is not None:
            self._films[key] = film
            while len(self._films) > RECENT_FILMS:
                self._films.popitem(last=False)
        return film

    def _screen(self, req: ScreenRequest) -> None:
        rid = req.rid
        if self.is_stale(rid):
            self.send(CANCELLED, rid)
            return
        if self.screener is None:
            self.send(FAILED, rid, f"No model is loaded: the film cannot be screened ({self.problem}).")
            return
        from .inference import Cancelled

        try:
            self.send(PROGRESS, rid, 0.0, "reading the film")
            film = self._film(req)
            if self.is_stale(rid):
                raise Cancelled("superseded")
            pred = self.screener.screen(
                film, gradcam=req.gradcam, display=req.display.render(film), clinical=req.clinical,
                progress=lambda frac, text: self.send(PROGRESS, rid, float(frac), str(text)),
                should_cancel=lambda: self.is_stale(rid),
            )
        except Exception as e:
            if self.is_stale(rid):  # Cancelled, or anything raised while being stopped
                self.send(CANCELLED, rid)
            else:
                self.send(FAILED, rid, screening_failure(e))
            return
        self._remember(req.path, pred)
        layer = None
        if getattr(pred, "cam", None) is not None:  # the viewer's attention layer, made here, not on its GUI thread
            from .film_render import attention_rgba

            layer = attention_rgba(pred.cam)
        self.send(RESULT, rid, pred, layer)

    def _remember(self, path: str, pred: Any) -> None:
        self._recent[path] = pred
        self._recent.move_to_end(path)
        while len(self._recent) > RECENT_RESULTS:
            self._recent.popitem(last=False)

    def _preload_reports(self) -> None:
        preload_reports()

    def _export(self, job: Any) -> None:
        from .export_job import EXPORT_CANCELLED, EXPORT_DONE, export_outcome

        self._export_cancel[job.jid] = job.cancel
        if job.jid in self._cancelled_exports:
            job.cancel.set()

        def screened(path: str, pred: Any) -> None:
            self._remember(path, pred)
            self.send(EXPORT_SCREENED, path, pred)

        try:
            kind, value = export_outcome(
                job, self.screener, recent=self._recent.get, no_model_reason=self.problem,
                progress=lambda text: self.send(EXPORT_PROGRESS, job.jid, text), on_screened=screened,
            )
        finally:
            self._export_cancel.pop(job.jid, None)
            self._cancelled_exports.discard(job.jid)
        if kind == EXPORT_DONE:
            self.send(kind, job.jid, *value)
        elif kind == EXPORT_CANCELLED:
            self.send(kind, job.jid)
        else:
            self.send(kind, job.jid, value)


def preload_reports() -> None:
    """Import the PDF writer and load its fonts (C extensions and TrueType parsing hold the GIL):
    better while the user fills in the export dialog than while the report is written."""
    try:
        for name in ("reportlab.pdfgen.canvas", "reportlab.platypus"):
            importlib.import_module(name)
        from .reports.pdf import setup_fonts

        setup_fonts()
    except Exception as e:  # the export itself reports real problems
        log.debug("could not preload the report writer: %s", e)


def _setup_logging(level: int) -> None:
    fmt = "%(asctime)s %(levelname)s [screening engine] %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
    from .logs import escape_log_messages, quiet_third_party_logs

    quiet_third_party_logs()
    escape_log_messages(fmt)


def engine_main(conn: Any, settings: EngineSettings) -> None:
    """The screening process's entry point (`multiprocessing` spawns it with this target)."""
    from .threads import thread_env

    os.environ.update(thread_env(settings.threads))  # before torch (and its OpenMP pool) is imported
    if sys.stderr is not None:
        faulthandler.enable()  # a crash in C code leaves a trace in the log
    _setup_logging(settings.log_level)
    _Engine(conn, settings).run()
