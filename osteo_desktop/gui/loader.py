"""Loading films off the GUI thread (a one-thread QThreadPool keeps the order and leaves a core free),
decoded in the film reader process (`core.reader_process`): a decoder that crashes takes down only
that process, and a decoder that holds the GIL for seconds (openjpeg) never freezes the window.

Files named by the user are loaded as given (a bad one gets its own error message); folders go
through `core.discovery.find_films`. Each film is decoded, windowed for its thumbnail and given a
lookup-table renderer in the reader (`core.film_render.prepare_film`), so the GUI thread only wraps
ready QImages.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ..core.errors import OsteoError
from ..core.film import Film
from ..core.reader_process import FILM, ReaderProcess
from .imaging import PreparedFilm, from_prepared, prepare

log = logging.getLogger(__name__)


def _load_film(path: Path) -> Film:
    from ..core.loading import load_film  # the core loader (pydicom etc. imported on first use)

    return load_film(path)


def _find_films(folders: list[Path]) -> list[Path]:
    from ..core.discovery import find_films

    return list(find_films(folders))


_job_ids = itertools.count(1)


def next_job_id() -> int:
    """Job ids shared by the film loader and the film lister (GUI thread only): one id names one job."""
    return next(_job_ids)


class _Signals(QObject):
    loaded = Signal(int, object)  # job id, LoadedFilm
    failed = Signal(int, str, str)  # job id, path, message
    finished = Signal(int, int)  # job id, films loaded


class _Job(QRunnable):
    def __init__(self, jid: int, paths: list[Path], signals: _Signals, stop: threading.Event,
                 load: Callable[[Path], Film | PreparedFilm], find: Callable[[list[Path]], list[Path]],
                 cancelled: set[int]):
        super().__init__()
        self.setAutoDelete(True)
        self._jid, self._paths, self._sig, self._stop = jid, paths, signals, stop
        self._load, self._find = load, find
        self._cancelled = cancelled

    def _stopped(self) -> bool:
        return self._stop.is_set() or self._jid in self._cancelled

    def _expand(self) -> list[Path]:
        files: list[Path] = []
        for p in self._paths:
            if p.is_dir():
                try:
                    found = self._find([p])
                except Exception as e:  # reported to the user, never raised into Qt
                    log.exception("film discovery failed")
                    self._sig.failed.emit(self._jid, str(p), f"{p}: the folder could not be searched ({e}).")
                    continue
                if not found:
                    self._sig.failed.emit(self._jid, str(p), f"{p}: no films (DICOM, PNG, JPEG, TIFF) found in this folder.")
                files.extend(found)
            else:
                files.append(p)
        return files

    def run(self) -> None:
        n = 0
        try:
            for path in ([] if self._stopped() else self._expand()):
                if self._stopped():
                    break
                try:
                    got = self._load(path)
                    lf = from_prepared(got) if isinstance(got, PreparedFilm) else prepare(got)
                except OsteoError as e:
                    self._sig.failed.emit(self._jid, str(path), str(e))
                    continue
                except MemoryError:
                    self._sig.failed.emit(self._jid, str(path), f"{path}: not enough memory to open this film.")
                    continue
                except Exception as e:  # a bad file must never take the app down
                    log.exception("unexpected error loading %s", path.name)
                    self._sig.failed.emit(self._jid, str(path), f"{path}: could not be opened ({type(e).__name__}: {e}).")
                    continue
                n += 1
                self._sig.loaded.emit(self._jid, lf)
        finally:
            self._cancelled.discard(self._jid)
            self._sig.finished.emit(self._jid, n)


class FilmLoader(QObject):
    loaded = Signal(int, object)
    failed = Signal(int, str, str)
    finished = Signal(int, int)

    def __init__(self, parent: QObject | None = None, load: Callable[[Path], Film | PreparedFilm] | None = None,
                 find: Callable[[list[Path]], list[Path]] | None = None, *, in_process: bool = False):
        """`load`: how a film is read (tests); by default in the film reader process (`in_process`:
        in this process, in the pool thread, as before)."""
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._sig = _Signals(self)
        self._sig.loaded.connect(self.loaded)
        self._sig.failed.connect(self.failed)
        self._sig.finished.connect(self.finished)
        self._stop = threading.Event()
        self._cancelled: set[int] = set()  # jobs to drop (read by the pool thread: set operations are atomic)
        self._jobs: set[int] = set()  # jobs started and not finished (GUI thread)
        self._sig.finished.connect(lambda jid, _n: self._jobs.discard(jid))
        self.reader: ReaderProcess | None = None
        if load is None and not in_process:
            self.reader = ReaderProcess("osteo-film-reader")
            reader = self.reader

            def load(path: Path) -> Film | PreparedFilm:
                return reader.call(FILM, path)
        self._load: Callable[[Path], Film | PreparedFilm] = load or _load_film
        self._find = find or _find_films

    def load(self, paths: Iterable[str | Path]) -> int:
        jid = next_job_id()
        self._jobs.add(jid)
        self._pool.start(_Job(jid, [Path(p) for p in paths], self._sig, self._stop, self._load, self._find,
                              self._cancelled))
        return jid

    def cancel(self, jid: int) -> None:
        """Drop load job `jid`: it loads no further film (it still reports `finished`)."""
        if jid in self._jobs:
            self._cancelled.add(jid)

    def busy(self) -> bool:
        return self._pool.activeThreadCount() > 0

    def wait(self, timeout_ms: int = -1) -> bool:
        return self._pool.waitForDone(timeout_ms)

    def start(self) -> None:
        """Start the reader process now, so that the first film does not wait for it."""
        if self.reader is not None:
            self.reader.start()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop at once: the reader process is ended (a film being read fails), queued films are dropped."""
        self._stop.set()
        self._pool.clear()
        if self.reader is not None:
            self.reader.close()
        return self._pool.waitForDone(timeout_ms)

