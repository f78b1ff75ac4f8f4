"""One network operation (echo, find, retrieve) off the GUI thread.

    task = NetTask(lambda progress, cancelled: client.get(store, ..., progress=progress,
                                                           should_cancel=cancelled), parent)
    task.progressed.connect(...); task.succeeded.connect(...); task.failed.connect(...)
    task.start()

The function gets `progress(done, total or None, text)` and `cancelled() -> bool`. Domain errors
(`OsteoError`) arrive as their message; anything else as "unexpected error" with its type (never a
traceback in the window). `finish()` asks the operation to stop and waits for the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from ..core.errors import OsteoError

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, "int | None", str], None]
TaskFn = Callable[[ProgressFn, Callable[[], bool]], Any]


class NetTask(QThread):
    progressed = Signal(int, int, str)  # done, total (-1: unknown), text
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: TaskFn, parent: QObject | None = None):
        super().__init__(parent)
        self._fn = fn
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        def progress(done: int, total: int | None, text: str) -> None:
            self.progressed.emit(int(done), -1 if total is None else int(total), text)

        try:
            result = self._fn(progress, self._cancel.is_set)
        except OsteoError as e:
            self.failed.emit(str(e))
        except Exception as e:  # a bug must not kill the window: say what it was
            log.exception("network task failed")
            self.failed.emit(f"unexpected error ({type(e).__name__}: {e}); see the log.")
        else:
            self.succeeded.emit(result)

    def finish(self, timeout_ms: int = 30000) -> bool:
        """Cancel and wait for the thread (True when it ended)."""
        self.cancel()
        return self.wait(timeout_ms) if self.isRunning() else True
