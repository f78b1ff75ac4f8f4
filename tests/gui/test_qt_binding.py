"""The Qt binding itself: PySide6 6.12.0's `Signal.emit` returns True without taking a reference to
it, so every emit from Python drops one reference to `True`. On Python 3.11 (where True is an
ordinary object) the viewer then aborts with "Fatal Python error: bool_dealloc" after a few thousand
emits: a few seconds of panning or window/level dragging. 6.11.3 is pinned (requirements/constraints.txt)."""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    changed = Signal(str)


def test_emitting_a_signal_keeps_the_reference_count_of_true(qapp):
    import PySide6

    e = _Emitter()
    seen: list[str] = []
    e.changed.connect(seen.append)
    before = sys.getrefcount(True)
    for _ in range(20):
        e.changed.emit("x")
    after = sys.getrefcount(True)
    for _ in range(max(0, before - after)):  # give back what the binding took, so the test fails instead of the process
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    assert len(seen) == 20
    assert after == before, (f"PySide6 {PySide6.__version__}: {before - after} references to True lost in 20 emits; "
                             "this binding crashes the viewer on Python 3.11 (pin another version)")
