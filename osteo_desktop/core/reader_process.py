"""Reading films in a process of their own (spawned), for the viewer; no Qt here.

Two reasons. A decoder that crashes on a damaged or hostile file (openjpeg, CharLS and libjpeg are C
code) takes down only this process: the film gets an error that says so, and the next call starts a
new one. And decoders hold the GIL while they work (openjpeg does, for the 1.6 s a 2500 x 2000
JPEG 2000 film takes): in the viewer's process that would freeze the window for as long.

`ReaderProcess.call` sends one request and blocks the calling thread (a worker's, never the GUI's)
until the answer comes; the result is plain data (`core.film_render.PreparedFilm` for a film, a
uint8 array for a thumbnail), numpy arrays travelling out of band (`core.engine_process`'s wire).
`close()` ends the process at once, which also wakes a call waiting on it.
"""

from __future__ import annotations

import faulthandler
import importlib
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine_process import describe_exit
from .errors import FilmLoadError, OsteoError
from .messages import recv_message, send_message

log = logging.getLogger(__name__)

FILM, THUMBNAIL = "film", "thumbnail"
OK, ERROR = "ok", "error"


@dataclass(frozen=True)
class ReaderSettings:
    lower_priority: bool = False  # thumbnails: yes; the film on display: no
    handler: str = ""  # "module:name" of a `(kind, args) -> result` callable (tests); "" = `serve`
    log_level: int = logging.INFO


def serve(kind: str, args: tuple[Any, ...]) -> Any:
    """One request: FILM (path) -> PreparedFilm; THUMBNAIL (path, size) -> uint8 array."""
    if kind == FILM:
        from .film_render import prepare_film
        from .loading import load_film

        return prepare_film(load_film(Path(args[0])))
    if kind == THUMBNAIL:
        from .loading.thumbnail import make_thumbnail

        return make_thumbnail(Path(args[0]), int(args[1]))
    raise ValueError(f"unknown request {kind!r}")


def _handler(spec: str) -> Callable[[str, tuple[Any, ...]], Any]:
    if not spec:
        return serve
    module, _, name = spec.partition(":")
    fn: Callable[[str, tuple[Any, ...]], Any] = getattr(importlib.import_module(module), name)
    return fn


def reader_main(conn: Any, settings: ReaderSettings) -> None:
    """The reader process's entry point."""
    from .threads import lower_priority, thread_env

    os.environ.update(thread_env(1))  # one film at a time, on one core
    if sys.stderr is not None:
        faulthandler.enable()  # a crash in a decoder leaves a trace in the log
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s [film reader] %(name)s: %(message)s")
    from .logs import quiet_third_party_logs

    quiet_third_party_logs()
    if settings.lower_priority:
        lower_priority()
    handle = _handler(settings.handler)
    try:  # import the decoders now, while nobody waits for a film
        for name in ("film_render", "loading", "loading.dicom", "loading.raster", "loading.thumbnail"):
            importlib.import_module(f"{__package__}.{name}")
    except Exception as e:  # a missing decoder is said film by film
        log.debug("could not preload the decoders: %s", e)
    while True:
        try:
            rid, kind, args = recv_message(conn)
        except (EOFError, OSError):
            os._exit(0)  # the viewer is gone
        path = args[0] if args else "?"
        try:
            reply: tuple[Any, ...] = (rid, OK, handle(kind, args))
        except OsteoError as e:
            reply = (rid, ERROR, str(e))
        except MemoryError:
            reply = (rid, ERROR, f"{path}: not enough memory to open this film. Close other films and retry.")
        except Exception as e:  # a bad file must never end the reader
            log.exception("unexpected error reading %s", Path(str(path)).name)
            reply = (rid, ERROR, f"{path}: could not be opened ({type(e).__name__}: {e}).")
        try:
            send_message(conn, reply)
        except (OSError, ValueError):
            os._exit(0)


class ReaderProcess:
    """A film reader process; thread-safe, one request at a time."""

    def __init__(self, name: str = "osteo-film-reader", settings: ReaderSettings | None = None):
        self.name = name
        self.settings = settings or ReaderSettings(log_level=logging.getLogger().getEffectiveLevel())
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Any = None
        self._closed = False
        self._rid = 0
        self.starts = 0

    @property
    def pid(self) -> int | None:
        p = self._proc
        return p.pid if p is not None else None

    def start(self) -> None:
        """Start the process now (it starts on the first call otherwise)."""
        if self._lock.acquire(blocking=False):
            try:
                self._ensure()
            finally:
                self._lock.release()

    def _ensure(self) -> None:
        if self._closed or (self._proc is not None and self._proc.is_alive()):
            return
        self._drop()
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(target=reader_main, args=(child, self.settings), name=self.name, daemon=True)
        self._proc.start()
        child.close()
        self.starts += 1

    def _drop(self) -> int | None:
        """Forget a dead (or killed) process; its exit code."""
        code = None
        if self._proc is not None:
            self._proc.join(1.0)
            code = self._proc.exitcode
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(1.0)
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
        self._proc = self._conn = None
        return code

    def call(self, kind: str, path: str | Path, *args: Any) -> Any:
        """Ask the reader; blocks until the answer. Raises FilmLoadError (the film's own error, or the
        reader's crash, said as such)."""
        with self._lock:
            if self._closed:
                raise FilmLoadError(f"{path}: not opened (the viewer is closing).")
            self._ensure()
            self._rid += 1
            rid = self._rid
            try:
                send_message(self._conn, (rid, kind, (str(path), *args)))
                reply = recv_message(self._conn)
            except (EOFError, OSError, ValueError) as e:
                if self._closed:
                    raise FilmLoadError(f"{path}: not opened (the viewer is closing).") from e
                how = describe_exit(self._drop())
                log.error("the film reader stopped while reading %s (%s)", Path(path).name, how)
                raise FilmLoadError(f"{path}: the film reader stopped while reading this file ({how}). The file may be "
                                    "damaged or hostile to a decoder; it was not opened. Other films open as usual."
                                    ) from e
        if reply[0] != rid:  # cannot happen (one request at a time): never show another film's answer
            raise FilmLoadError(f"{path}: the film reader answered another request.")
        if reply[1] == OK:
            return reply[2]
        raise FilmLoadError(str(reply[2]))

    def close(self) -> bool:
        """End the process at once (a call in flight fails); True when it is gone."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(1.0)
        gone = proc is None or not proc.is_alive()
        if self._lock.acquire(blocking=False):  # no call in flight: tidy up here (else the caller does)
            try:
                self._drop()
            finally:
                self._lock.release()
        return gone
