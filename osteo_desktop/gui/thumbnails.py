"""Thumbnails for the study browser, made lazily in the background at reduced resolution, cached.

One pool thread asks a low-priority reader process for them in the order asked
(`core.loading.thumbnail`: JPEG 2000's reduced-resolution decode, JPEG's DCT scaling, else the film
scaled down; `core.reader_process`: a crashing decoder, or one that holds the GIL, stays out of the
viewer's process), so listing a folder is never held up by decoding, and the GUI thread only sets
icons. Thumbnails are cached in memory by
file (path, modification time and size), also those of films loaded whole for display.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal
from PySide6.QtGui import QImage

from ..core.loading.thumbnail import THUMB_SIZE, make_thumbnail
from ..core.reader_process import THUMBNAIL, ReaderProcess, ReaderSettings
from .imaging import gray_qimage

log = logging.getLogger(__name__)

CACHE_SIZE = 2000  # thumbnails of 96 px: ~10 kB each

Stamp = tuple[int, int]  # (mtime_ns, size)


def file_stamp(path: str) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class _Signals(QObject):
    made = Signal(str, object, object)  # path, stamp, QImage (null when it failed)


class _ThumbJob(QRunnable):
    def __init__(self, path: str, signals: _Signals, stop: threading.Event, make: Callable[[str], np.ndarray]):
        super().__init__()
        self.setAutoDelete(True)
        self._path, self._sig, self._stop, self._make = path, signals, stop, make

    def run(self) -> None:
        if self._stop.is_set():
            return
        stamp = file_stamp(self._path)
        try:
            img = gray_qimage(self._make(self._path))
        except Exception as e:  # the film's own problems are said when it is opened
            log.debug("no thumbnail for %s (%s: %s)", Path(self._path).name, type(e).__name__, e)
            img = QImage()
        if not self._stop.is_set():
            self._sig.made.emit(self._path, stamp, img)


class ThumbnailLoader(QObject):
    ready = Signal(str, QImage)  # path, thumbnail

    def __init__(self, parent: QObject | None = None, make: Callable[[str], np.ndarray] | None = None,
                 size: int = THUMB_SIZE, *, in_process: bool = False):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._pool.setThreadPriority(QThread.Priority.LowestPriority)
        self._sig = _Signals(self)
        self._sig.made.connect(self._on_made)
        self._stop = threading.Event()
        self.reader: ReaderProcess | None = None
        if make is None and not in_process:
            self.reader = ReaderProcess("osteo-thumbnails", ReaderSettings(
                lower_priority=True, log_level=logging.getLogger().getEffectiveLevel()))
            reader = self.reader

            def make(path: str) -> np.ndarray:
                return reader.call(THUMBNAIL, path, size)
        self._make: Callable[[str], np.ndarray] = make or (lambda path: make_thumbnail(path, size))
        self._cache: OrderedDict[str, tuple[Stamp | None, QImage]] = OrderedDict()
        self._pending: set[str] = set()
        self.made_count = 0  # thumbnails made (not from the cache): for tests and benchmarks

    def cached(self, path: str) -> QImage | None:
        hit = self._cache.get(path)
        if hit is None or hit[0] != file_stamp(path):
            return None
        self._cache.move_to_end(path)
        return hit[1]

    def request(self, path: str) -> QImage | None:
        """The thumbnail now when it is cached (returned), else made in the background (`ready`)."""
        img = self.cached(path)
        if img is not None:
            return img
        if path not in self._pending and not self._stop.is_set():
            self._pending.add(path)
            self._pool.start(_ThumbJob(path, self._sig, self._stop, self._make))
        return None

    def seed(self, path: str, img: QImage) -> None:
        """A thumbnail made elsewhere (a film loaded whole for display)."""
        if not img.isNull():
            self._store(path, file_stamp(path), img)

    def _store(self, path: str, stamp: Stamp | None, img: QImage) -> None:
        self._cache[path] = (stamp, img)
        self._cache.move_to_end(path)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _on_made(self, path: str, stamp: Stamp | None, img: QImage) -> None:
        self._pending.discard(path)
        if img.isNull():
            return
        self.made_count += 1
        self._store(path, stamp, img)
        self.ready.emit(path, img)

    def busy(self) -> bool:
        return bool(self._pending)

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        self._stop.set()
        self._pool.clear()
        if self.reader is not None:
            self.reader.close()
        return self._pool.waitForDone(timeout_ms)
