"""The main window's menus. Every action is also added to the window itself, so that its shortcut
works whatever has focus inside the window, and is listed by the shortcuts dialog (F1)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from . import reading_menus
from .export_controller import dicom_export_support, pdf_report_support
from .shortcuts import PRESET_GROUP

if TYPE_CHECKING:
    from .main_window import MainWindow


def build_menus(w: MainWindow) -> None:
    """File, View, Tools, Screening and Help; sets the window's named actions (w.pdf_action, ...)."""
    w._actions = []
    v = w.view

    def act(text: str, keys: str | Iterable[str] | None, slot: Callable[..., Any] | None, menu: QMenu | None = None,
            checkable: bool = False, tip: str | None = None) -> QAction:
        a = QAction(text, w)
        if keys:
            seqs = [keys] if isinstance(keys, str) else list(keys)
            a.setShortcuts([QKeySequence(k) for k in seqs])
        if checkable:
            a.setCheckable(True)
        if slot is not None:
            (a.toggled if checkable else a.triggered).connect(slot)
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        w.addAction(a)  # shortcuts work whatever has focus inside the window
        if menu is not None:
            menu.addAction(a)
        w._actions.append(a)
        return a

    mb = w.menuBar()
    m = mb.addMenu("&File")
    act("&Open films…", "Ctrl+O", w.open_dialog, m)
    act("Open &folder…", "Ctrl+Shift+O", w.open_folder_dialog, m)
    act("Open &demo film", None, w.open_demo, m)
    w.recent_menu = m.addMenu("Open &recent")
    m.addSeparator()
    act("&PACS: query and retrieve…", "Ctrl+Shift+P", w.show_pacs, m,
        tip="Find studies on a PACS, retrieve them into the local store and open them")
    act("&Local store worklist", "Ctrl+L", w.show_worklist, m,
        tip="The studies of the local store with their screening results")
    m.addSeparator()
    act("&Next film", "PgDown", lambda: w.step_film(1), m)
    act("&Previous film", "PgUp", lambda: w.step_film(-1), m)
    m.addSeparator()
    w.export_action = act("&Export PNG snapshot…", "Ctrl+E", w.export_dialog, m,
                          tip="Save the view as shown, stamped NOT FOR DIAGNOSTIC USE")
    ok, why = pdf_report_support()
    w.pdf_action = act("Export PDF &report…", "Ctrl+Shift+E", w.export_pdf_dialog, m, tip=why)
    w.pdf_action.setEnabled(ok)
    ok, why = dicom_export_support()
    w.dicom_action = act("Export DICOM S&R / SC…", None, w.export_dicom_dialog, m, tip=why)
    w.dicom_action.setEnabled(ok)
    ok, why = pdf_report_support()
    w.print_action = act("&Print report…", "Ctrl+P", w.exports.print_report, m,
                         tip="Print this patient's screening report (the same pages as the PDF export)")
    w.print_action.setEnabled(ok)
    act("Report &header (clinic name and address)…", None, w.edit_report_header, m)
    m.addSeparator()
    reading_menus.file_actions(w, act, m)
    m.addSeparator()
    act("&Quit", "Ctrl+Q", w.close, m)

    m = mb.addMenu("&View")
    pm = m.addMenu("Window &presets")
    w.preset_actions = [act(f"Preset {i}", str(i), (lambda _=False, i=i: w.apply_preset(i - 1)), pm) for i in range(1, 10)]
    for a in w.preset_actions:
        a.setData(PRESET_GROUP)
    w.invert_action = act("&Invert", "I", v.toggle_invert, m)
    m.addSeparator()
    act("Zoom to &fit", "F", v.fit, m)
    act("Zoom &1:1 (one film pixel per screen pixel)", "Ctrl+1", v.actual_size, m)
    act("Zoom &in", ["+", "="], lambda: v.zoom_by(1.25), m)
    act("Zoom &out", "-", lambda: v.zoom_by(0.8), m)
    m.addSeparator()
    act("&Rotate 90° clockwise", "R", lambda: v.rotate(1), m)
    act("Rotate 90° &counter-clockwise", "Shift+R", lambda: v.rotate(-1), m)
    act("Flip &horizontal", "H", lambda: v.flip(True), m)
    act("Flip &vertical", "V", lambda: v.flip(False), m)
    act("Rese&t view", ["Esc", "0"], w.reset_view, m)
    m.addSeparator()
    w.cam_action = act("Show &attention map (Grad-CAM)", "G", w.set_cam_visible, m, checkable=True)
    act("Attention map more opaque", "]", lambda: w.nudge_opacity(+10), m)
    act("Attention map less opaque", "[", lambda: w.nudge_opacity(-10), m)
    reading_menus.view_actions(w, act, m)
    w.text_action = act("Corner &text", "O", w.set_text_overlays, m, checkable=True)
    w.wheel_action = act("&Wheel steps through films", None, w.set_wheel_steps_films, m, checkable=True,
                         tip="The mouse wheel shows the next/previous film and Ctrl+wheel zooms (as in Weasis)")
    m.addSeparator()
    act("DICOM &tags…", "Ctrl+T", w.show_tags, m)
    m.addSeparator()
    m.addAction(w.browser_dock.toggleViewAction())
    m.addAction(w.results_dock.toggleViewAction())
    m.addAction(w.store.dock.toggleViewAction())

    reading_menus.tools_menu(w, act, mb)

    m = mb.addMenu("&Screening")
    act("&Screen this film", "S", w.screen_current, m)
    act("&Cancel screening", "Ctrl+.", w.cancel_screening, m)
    w.auto_action = act("Screen films &automatically", None, w.set_auto_screen, m, checkable=True)
    act("Model &threads…", None, w.choose_threads, m,
        tip="How many CPU threads screening may use (automatic: the number of cores minus one)")

    m = mb.addMenu("&Help")
    act("&Keyboard shortcuts", "F1", w.show_shortcuts, m)
    act("&About", None, w.show_about, m)
