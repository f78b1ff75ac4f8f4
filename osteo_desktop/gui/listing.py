"""Listing films from their headers, off the GUI thread: what the study browser shows at once.

Files named by the user are listed as given (a bad one gets its own error message); folders go
through `core.discovery.find_films`. Each file's header is read (`core.loading.header`), never its
pixels, so a folder of a hundred compressed films is listed in a fraction of a second; the viewer
then loads only the film it shows (`FilmLoader`) and draws thumbnails lazily (`ThumbnailLoader`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ..core.errors import OsteoError
from ..core.loading.header import FilmHeader, read_header
from .loader import next_job_id

log = logging.getLogger(__name__)


def _find_films(folders: list[Path]) -> list[Path]:
    from ..core.discovery import find_films

    return list(find_films(folders))


class _Signals(QObject):
    listed = Signal(int, object)  # job id, FilmHeader
    failed = Signal(int, str, str)  # job id, path, message
    finished = Signal(int, int)  # job id, films listed


class _ListJob(QRunnable):
    def __init__(self, jid: int, paths: list[Path], signals: _Signals, stop: threading.Event,
                 read: Callable[[Path], FilmHeader], find: Callable[[list[Path]], list[Path]]):
        super().__init__()
        self.setAutoDelete(True)
        self._jid, self._paths, self._sig, self._stop, self._read, self._find = jid, paths, signals, stop, read, find

    def run(self) -> None:
        n = 0
        try:
            for item in self._paths:
                if self._stop.is_set():
                    break
                if item.is_dir():
                    try:
                        found = self._find([item])
                    except Exception as e:  # reported to the user, never raised into Qt
                        log.exception("film discovery failed")
                        self._sig.failed.emit(self._jid, str(item), f"{item}: the folder could not be searched ({e}).")
                        continue
                    if not found:
                        self._sig.failed.emit(self._jid, str(item),
                                              f"{item}: no films (DICOM, PNG, JPEG, TIFF) found in this folder.")
                else:
                    found = [item]
                for path in found:
                    if self._stop.is_set():
                        break
                    try:
                        header = self._read(path)
                    except OsteoError as e:
                        self._sig.failed.emit(self._jid, str(path), str(e))
                        continue
                    except Exception as e:  # a bad file must never take the viewer down
                        log.exception("unexpected error listing %s", path.name)
                        self._sig.failed.emit(self._jid, str(path), f"{path}: could not be read ({type(e).__name__}: {e}).")
                        continue
                    n += 1
                    self._sig.listed.emit(self._jid, header)
        finally:
            self._sig.finished.emit(self._jid, n)


class FilmLister(QObject):
    listed = Signal(int, object)
    failed = Signal(int, str, str)
    finished = Signal(int, int)

    def __init__(self, parent: QObject | None = None, read: Callable[[Path], FilmHeader] | None = None,
                 find: Callable[[list[Path]], list[Path]] | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._sig = _Signals(self)
        self._sig.listed.connect(self.listed)
        self._sig.failed.connect(self.failed)
        self._sig.finished.connect(self.finished)
        self._stop = threading.Event()
        self._read = read or read_header
        self._find = find or _find_films

    def list(self, paths: Iterable[str | Path]) -> int:
        """List the films of files and folders; returns the job id (shared with `FilmLoader`'s)."""
        jid = next_job_id()
        self._pool.start(_ListJob(jid, [Path(p) for p in paths], self._sig, self._stop, self._read, self._find))
        return jid

    def busy(self) -> bool:
        return self._pool.activeThreadCount() > 0

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        self._stop.set()
        self._pool.clear()
        return self._pool.waitForDone(timeout_ms)
