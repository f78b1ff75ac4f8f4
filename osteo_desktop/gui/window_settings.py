"""What the main window keeps between sessions (QSettings): auto-screening, the attention map's
opacity, the wheel and corner-text options, the geometry, and the screening threads (the reading
tools' own settings: `reading_tools.ReadingTools.restore`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings

if TYPE_CHECKING:
    from .main_window import MainWindow

WHEEL_KEY = "view/wheel_steps_films"  # the wheel steps through films, Ctrl+wheel zooms (Weasis' habit)
THREADS_KEY = "screening/threads"  # 0: automatic (cores - 1, at least 1; core.threads)


def restore_settings(w: MainWindow, auto_override: bool | None) -> None:
    """Put the window back as it was left: auto-screening, attention map opacity, wheel, reading tools, corner text, geometry."""
    s = w.settings
    auto = bool(s.value("screening/auto", True, type=bool)) if auto_override is None else auto_override
    w.auto_action.blockSignals(True)
    w.auto_action.setChecked(auto)
    w.auto_action.blockSignals(False)
    w.auto_screen = auto
    opacity = s.value("overlay/opacity", 45, type=int)
    opacity = opacity if isinstance(opacity, int) else 45
    w.results.opacity.setValue(max(0, min(100, opacity)))
    w.view.set_cam_opacity(w.results.opacity.value() / 100.0)
    wheel = bool(s.value(WHEEL_KEY, False, type=bool))
    w.wheel_action.setChecked(wheel)
    w.view.wheel_steps_films = wheel
    w.reading.restore()  # the attention map's default on opening, layouts, sync, sidecar setting
    text = bool(s.value("view/text", True, type=bool))
    w.text_action.setChecked(text)
    w.view.overlays_visible = text
    w.geometry_restored = False
    if w.persist_settings:
        geo = s.value("window/geometry")
        if geo is not None:
            w.geometry_restored = bool(w.restoreGeometry(geo))
        state = s.value("window/state")
        if state is not None:
            w.restoreState(state)
    w.recent.rebuild()


def save_settings(w: MainWindow) -> None:
    if not w.persist_settings:
        return
    s = w.settings
    s.setValue("window/geometry", w.saveGeometry())
    s.setValue("window/state", w.saveState())
    s.setValue("overlay/opacity", w.results.opacity.value())
    s.setValue("view/text", w.text_action.isChecked())
    s.sync()


def threads_setting(settings: QSettings) -> int:
    """The screening thread setting: 0 is automatic (`core.threads.screening_threads`)."""
    n = settings.value(THREADS_KEY, 0, type=int)
    return n if isinstance(n, int) and n > 0 else 0


def choose_threads(w: MainWindow) -> None:
    """Screening > Model threads…: the thread-budget setting (0: automatic), used from the next start."""
    from PySide6.QtWidgets import QInputDialog

    from ..core.threads import available_cores, describe_budget

    current = threads_setting(w.settings)
    n, ok = QInputDialog.getInt(
        w, "Model threads", f"CPU threads for screening (0 = automatic: the number of cores minus one).\n"
        f"Now: {describe_budget(current)}. Takes effect the next time the viewer starts.",
        current, 0, available_cores())
    if ok:
        w.settings.setValue(THREADS_KEY, n)
        w.statusBar().showMessage(f"Screening will use {describe_budget(n)} from the next start.", 8000)
