"""The viewer's side of the screening process (`core.engine_process`): start it, talk to it, restart
it when it dies, stop it at once on exit.

`EngineClient` has the same signals as the in-process worker of `screening`, so the
`ScreeningController` drives either. Two plain threads move the messages, so that the GUI thread
never waits on the pipe: a writer (a queue: sending a film or a report job never blocks the GUI)
and a reader, which turns each message into a queued Qt signal. When the reader finds the pipe
closed, the child is gone: the film it had gets its own error ("the screening engine stopped while
reading this file"), report exports in flight fail with a message, and a new child is started
(the model loads again). A child that dies while loading the model is not started again with the
model: the model is reported as not loadable, and the new child only writes reports.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ..core import engine_process as ep
from ..core.export_job import EXPORT_CANCELLED, EXPORT_DONE, EXPORT_FAILED
from .imaging import remember_attention

log = logging.getLogger(__name__)

_STOP = object()  # tells the writer thread to end


class _Child:
    """One child process and its two pipe threads (one generation of the engine)."""

    def __init__(self, gen: int, settings: ep.EngineSettings, on_message: Any, on_closed: Any):
        ctx = multiprocessing.get_context("spawn")
        self.gen = gen
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=ep.engine_main, args=(child_conn, settings), name="osteo-screening-engine",
                                   daemon=True)
        self.process.start()
        child_conn.close()  # the child holds its end: when it dies, our reads end with EOF
        self.outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._on_message, self._on_closed = on_message, on_closed
        self.reader = threading.Thread(target=self._read, name=f"osteo-engine-read-{gen}", daemon=True)
        self.writer = threading.Thread(target=self._write, name=f"osteo-engine-write-{gen}", daemon=True)
        self.reader.start()
        self.writer.start()
        self.info: ep.EngineInfo | None = None
        self.ready = False  # the model loaded (or failed cleanly): a death from now on is not a loading crash

    def send(self, *msg: Any) -> None:
        self.outbox.put(msg)

    def _write(self) -> None:
        while True:
            msg = self.outbox.get()
            if msg is _STOP:
                return
            try:
                ep.send_message(self.conn, msg)
            except (OSError, EOFError, ValueError):  # the child is gone: the reader reports it
                return

    def _read(self) -> None:
        while True:
            try:
                msg = ep.recv_message(self.conn)
            except (EOFError, OSError):
                break
            except Exception:  # a message that cannot be read: the child is not trusted any more
                log.exception("unreadable message from the screening engine")
                break
            try:
                self._on_message(self.gen, msg)
            except RuntimeError:  # the client is being deleted (exit)
                return
        try:
            self._on_closed(self.gen)
        except RuntimeError:
            pass

    def stop(self, timeout_s: float = 1.0) -> bool:
        """Terminate the child at once; True when it is gone."""
        self.outbox.put(_STOP)
        p = self.process
        if p.is_alive():
            p.kill()  # at once: nothing in the child needs to be saved (report files are written atomically)
            p.join(timeout_s)
        try:
            self.conn.close()
        except OSError:
            pass
        alive = p.is_alive()  # the two pipe threads end by themselves (end of file, and the stop message)
        if not alive:
            p.close()
        return not alive

    def exitcode(self, wait_s: float = 1.0) -> int | None:
        try:
            self.process.join(wait_s)
            return self.process.exitcode
        except ValueError:  # already closed
            return None


class EngineClient(QObject):
    model_loaded = Signal(object)  # ModelInfo (or None)
    model_failed = Signal(str, str)  # state (NO_MODEL / MODEL_ERROR), message
    notice = Signal(str)
    progress = Signal(int, float, str)
    result = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)
    export_progress = Signal(int, str)
    export_screened = Signal(str, object)
    export_done = Signal(int, object, object)
    export_failed = Signal(int, str)
    export_cancelled = Signal(int)
    restarting = Signal(str)  # the engine died and is starting again (why, in words)
    engine_started = Signal(object)  # EngineInfo of a new child (pid, threads, priority)

    _arrived = Signal(int, object)  # generation, message (from the reader thread)
    _closed = Signal(int)  # generation (from the reader thread)

    def __init__(self, settings: ep.EngineSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self._child: _Child | None = None
        self._gen = 0
        self._closing = False
        self._screen: tuple[int, str] | None = None  # the screening request the child has: (rid, path)
        self._exports: set[int] = set()  # export jobs the child has
        self.restarts = 0
        self._gave_up = False
        self.started_at = 0.0
        self._arrived.connect(self._on_message)
        self._closed.connect(self._on_closed)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._child is not None or self._closing or self._gave_up:
            return
        self._spawn(self.settings)

    def _spawn(self, settings: ep.EngineSettings) -> None:
        self._gen += 1
        self.started_at = time.perf_counter()
        self._child = _Child(self._gen, settings, self._arrived.emit, self._closed.emit)
        log.info("screening engine started (pid %s)", self._child.process.pid)

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._child.process.pid if self._child is not None else None

    @property
    def info(self) -> ep.EngineInfo | None:
        return self._child.info if self._child is not None else None

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Terminate the child at once (whatever it is doing). True when it is gone."""
        self._closing = True
        child, self._child = self._child, None
        self._screen = None
        self._exports.clear()
        if child is None:
            return True
        ok = child.stop(timeout_ms / 1000.0)
        if not ok:
            log.error("the screening engine (pid %s) did not stop", child.process.pid)
        return ok

    # -- requests -----------------------------------------------------------------------------------
    def screen(self, req: ep.ScreenRequest) -> None:
        if self._child is None:
            self.start()
        if self._child is None:
            rid = req.rid  # said after the caller has recorded the request
            QTimer.singleShot(0, lambda: self.failed.emit(rid, "The screening engine is not running: the film cannot be screened."))
            return
        self._screen = (req.rid, req.path)
        self._child.send(ep.SCREEN, req)

    def stale(self, upto: int) -> None:
        """Requests up to `upto` are superseded or cancelled: the child stops the running one."""
        if self._child is not None:
            self._child.send(ep.STALE, upto)

    def export(self, job: Any) -> None:
        if self._child is None:
            self.start()
        if self._child is None:  # shut down, or the engine cannot run at all
            jid = job.jid
            QTimer.singleShot(0, lambda: self.export_failed.emit(jid, "The export failed: the screening engine is not running."))
            return
        self._exports.add(job.jid)
        self._child.send(ep.EXPORT, job.without_files_in_memory())

    def cancel_export(self, jid: int) -> None:
        if self._child is not None:
            self._child.send(ep.CANCEL_EXPORT, jid)

    def preload_reports(self) -> None:
        if self._child is None:
            self.start()
        if self._child is not None:
            self._child.send(ep.PRELOAD_REPORTS)

    # -- messages (GUI thread) ------------------------------------------------------------------------
    @Slot(int, object)
    def _on_message(self, gen: int, msg: tuple[Any, ...]) -> None:
        child = self._child
        if child is None or gen != child.gen or self._closing:
            return  # from a child that is gone
        kind = msg[0]
        if kind == ep.PROGRESS:
            self.progress.emit(msg[1], msg[2], msg[3])
        elif kind in (ep.RESULT, ep.FAILED, ep.CANCELLED):
            if self._screen is not None and self._screen[0] == msg[1]:
                self._screen = None
            if kind == ep.RESULT:
                cam = getattr(msg[2], "cam", None)
                if cam is not None and len(msg) > 3 and msg[3] is not None:
                    remember_attention(cam, msg[3])
                self.result.emit(msg[1], msg[2])
            elif kind == ep.FAILED:
                self.failed.emit(msg[1], msg[2])
            else:
                self.cancelled.emit(msg[1])
        elif kind == ep.HELLO:
            child.info = msg[1]
            self.engine_started.emit(msg[1])
        elif kind == ep.READY:
            child.ready = True
            child.info = msg[2]
            log.info("screening engine ready %.1f s after its start (pid %s, %d thread(s))",
                     time.perf_counter() - self.started_at, msg[2].pid, msg[2].threads)
            self.model_loaded.emit(msg[1])
        elif kind == ep.MODEL_FAILED:
            child.ready = True
            self.model_failed.emit(msg[1], msg[2])
        elif kind == ep.NOTICE:
            self.notice.emit(msg[1])
        elif kind == ep.EXPORT_PROGRESS:
            self.export_progress.emit(msg[1], msg[2])
        elif kind == ep.EXPORT_SCREENED:
            self.export_screened.emit(msg[1], msg[2])
        elif kind in (EXPORT_DONE, EXPORT_FAILED, EXPORT_CANCELLED):
            self._exports.discard(msg[1])
            if kind == EXPORT_DONE:
                self.export_done.emit(msg[1], msg[2], msg[3])
            elif kind == EXPORT_FAILED:
                self.export_failed.emit(msg[1], msg[2])
            else:
                self.export_cancelled.emit(msg[1])
        else:
            log.warning("unknown message from the screening engine: %r", kind)

    @Slot(int)
    def _on_closed(self, gen: int) -> None:
        child = self._child
        if child is None or gen != child.gen or self._closing:
            return
        how = ep.describe_exit(child.exitcode())
        child.stop()
        self._child = None
        screen, self._screen = self._screen, None
        exports, self._exports = sorted(self._exports), set()
        self.restarts += 1
        if child.ready and self.settings.load_model:
            log.error("the screening engine stopped (%s); starting it again", how)
            self._spawn(self.settings)
            self.restarting.emit(f"The screening engine stopped ({how}) and is starting again.")
            film_error = ep.engine_stopped_message(screen[1], how) if screen is not None else ""
        elif self.settings.load_model:
            log.error("the screening engine stopped while loading the model (%s)", how)
            reason = (f"The screening engine stopped while loading the model ({how}). Screening is off; "
                      "reinstall the model bundle, or report the problem.")
            from dataclasses import replace

            self.settings = replace(self.settings, load_model=False, skip_reason=reason)
            self._spawn(self.settings)  # without the model: report exports still work
            film_error = reason
        else:  # even the engine without a model died: do not try again
            log.error("the screening engine stopped again (%s); it is not started again", how)
            film_error = f"The screening engine stopped ({how}); screening and report exports are off."
            self._gave_up = True
            self.model_failed.emit(ep.MODEL_ERROR, film_error)
        if screen is not None:
            self.failed.emit(screen[0], film_error)
        for jid in exports:
            self.export_failed.emit(jid, f"The export failed: the screening engine stopped while preparing it ({how}). "
                                         "Nothing was written; export again.")


def film_path_for_request(film: Any) -> tuple[str, Any]:
    """(path, film to send): a film that is a file on disk is read again by the engine; one without
    a file behind it travels whole."""
    path = str(film.path)
    try:
        on_disk = Path(path).is_file()
    except OSError:
        on_disk = False
    return path, (None if on_disk else film)
