"""Responsiveness instrumentation, switched on by the environment variable OSTEO_GUI_STATS=out.json.

A 5 ms precise QTimer measures the gaps between its ticks: a gap much longer than 5 ms is a stall of
the GUI event loop (with OSTEO_GUI_STALL_STACKS=1, a watchdog thread also records where the GUI thread
was during each long stall: the culprit, for the benchmark to print). Gaps are attributed to the phases active at the time ("model-loading",
"screening", both as "model-loading+screening", "exporting" while a report is written, or "idle")
and the launch-to-window and time-to-result marks are written as JSON when the app exits. Used by
bench/gui_responsiveness.py; costs nothing when the variable is unset.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer

log = logging.getLogger(__name__)

ENV = "OSTEO_GUI_STATS"
STACKS_ENV = "OSTEO_GUI_STALL_STACKS"  # set: also record where the GUI thread was during each long stall
TICK_MS = 5
LONG_MS = 50.0


class StallMeter(QObject):
    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self.phases: set[str] = set()
        self.max_gap_ms: dict[str, float] = {}
        self.ticks: dict[str, int] = {}
        self.long_gaps: list[tuple[float, float, str]] = []  # (time.time(), gap ms, phase) for gaps > LONG_MS
        self.stall_stacks: dict[str, float] = {}  # GUI-thread stack seen during a stall -> longest stall seen there
        self._watch = bool(os.environ.get(STACKS_ENV))
        self._gui_thread = threading.get_ident()

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()
        if self._watch:
            threading.Thread(target=self._watchdog, name="osteo-stall-watchdog", daemon=True).start()

    def _watchdog(self) -> None:
        """Every 20 ms: if the GUI thread is late by more than LONG_MS, note where it is."""
        import traceback

        while self._timer is not None:
            time.sleep(0.02)
            late = (time.perf_counter() - self._last) * 1000.0
            if late <= LONG_MS:
                continue
            frame = sys._current_frames().get(self._gui_thread)
            if frame is None:
                continue
            phase = "+".join(sorted(self.phases)) or "idle"
            others = []
            for ident, f in sys._current_frames().items():  # who else runs Python now (and may hold the GIL)
                if ident in (self._gui_thread, threading.get_ident()):
                    continue
                top = traceback.extract_stack(f, limit=1)[-1]
                others.append(f"{Path(top.filename).name}:{top.lineno} {top.name}")
            where = f"[{phase}] others: {'; '.join(sorted(others))}\n" + "".join(traceback.format_stack(frame, limit=8))
            self.stall_stacks[where] = max(self.stall_stacks.get(where, 0.0), round(late, 1))

    def stop(self) -> None:
        self._timer.stop()

    def enter(self, phase: str) -> None:
        self.phases.add(phase)

    def leave(self, phase: str) -> None:
        self.phases.discard(phase)

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = (now - self._last) * 1000.0
        self._last = now
        key = "+".join(sorted(self.phases)) or "idle"  # overlapping phases are reported together
        self.max_gap_ms[key] = max(self.max_gap_ms.get(key, 0.0), gap)
        self.ticks[key] = self.ticks.get(key, 0) + 1
        if gap > LONG_MS and len(self.long_gaps) < 200:
            self.long_gaps.append((time.time(), round(gap, 1), key))


class Stats:
    """Marks (wall-clock time.time(), comparable with the launching process) plus the stall meter."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.marks: dict[str, float] = {}
        self.info: dict[str, object] = {}
        self.meter = StallMeter()

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.time())

    def write(self) -> None:
        data = {
            "marks": self.marks,
            "info": self.info,
            "max_gap_ms": {k: round(v, 1) for k, v in self.meter.max_gap_ms.items()},
            "ticks": self.meter.ticks,
            "long_gaps": self.meter.long_gaps,
            "torch_loaded_at_exit": "torch" in sys.modules,
            "stall_stacks": sorted(((ms, where) for where, ms in self.meter.stall_stacks.items()), reverse=True)[:40],
        }
        try:
            self.path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        except OSError as e:
            log.warning("could not write GUI stats to %s: %s", self.path, e)


def from_env() -> Stats | None:
    path = os.environ.get(ENV)
    return Stats(path) if path else None
