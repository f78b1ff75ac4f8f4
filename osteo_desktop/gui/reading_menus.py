"""Menu entries of the reading tools (`menus.build_menus` calls these with its `act` helper):
the measurement kit (Tools), layouts, synchronisation, loupe, frames and the attention map's
default (View), full-resolution image export and the presentation state (File).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from ..core.measure import Kind
from .measure_controller import TOOL_NAMES

if TYPE_CHECKING:
    from .main_window import MainWindow

Act = Callable[..., QAction]

TOOL_KEYS = {Kind.DISTANCE: "D", Kind.ANGLE: "A", Kind.COBB: "C", Kind.ELLIPSE: "E", Kind.RECTANGLE: "Shift+E",
             Kind.CALIBRATION: "K"}
TOOL_TIPS = {
    Kind.DISTANCE: "Drag (or click both ends) to measure; says where its calibration comes from",
    Kind.ANGLE: "Click an arm's end, the vertex and the other arm's end",
    Kind.COBB: "Draw the two endplate lines; the Cobb angle is the angle between them",
    Kind.ELLIPSE: "Mean, SD, min/max in the film's units and the area in mm²",
    Kind.RECTANGLE: "Mean, SD, min/max in the film's units and the area in mm²",
    Kind.CALIBRATION: "Draw along an object of known size (e.g. the 25 mm ball), then give its length",
}
LAYOUT_TEXT = {"1x1": ("One film", "Alt+1"), "1x2": ("Compare 1 × 2 (with the prior)", "Alt+2"),
               "2x2": ("Compare 2 × 2 (with priors)", "Alt+4")}


def file_actions(w: MainWindow, act: Act, m: QMenu) -> None:
    w.image_action = act("Export &image (full resolution)…", "Ctrl+Alt+E", w.reading.export_image_dialog, m,
                         tip="The film at its own resolution as displayed (PNG or JPEG by the name), with or without "
                             "the attention map and measurements")
    w.gsps_action = act("Save measurements as DICOM &presentation state…", None, w.measure.export_gsps_dialog, m,
                        tip="A GSPS of this film's measurements, for a PACS or another viewer")


def view_actions(w: MainWindow, act: Act, m: QMenu) -> None:
    lm = m.addMenu("&Layout")
    w.layout_actions = {}
    for name, (text, key) in LAYOUT_TEXT.items():
        a = act(text, key, (lambda _=False, n=name: w.compare.set_layout(n)), lm, checkable=True)
        w.layout_actions[name] = a
    lm.addSeparator()
    w.sync_action = act("&Synchronise zoom, pan and window", "Y", w.compare.set_sync, lm, checkable=True,
                        tip="In a comparison layout, every viewport follows the one you work in")
    w.loupe_action = act("&Loupe (magnifier)", "L", w.reading.set_loupe, m, checkable=True)
    fm = m.addMenu("&Frames")
    for text, key, delta in (("&Next frame", "Down", 1), ("&Previous frame", "Up", -1)):
        a = act(text, key, (lambda _=False, d=delta: w.reading.step_frame(d)), fm)
        # the arrow keys scroll frames where the films are; in the study browser they move between films
        w.removeAction(a)
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        w.grid.addAction(a)
    w.cine_action = act("&Play / stop cine", "P", w.reading.toggle_cine, fm)
    w.cam_default_action = act("Show the attention map when a film &opens", None, w.reading.set_cam_on_open, m, checkable=True,
                               tip="Off: the film is seen first, the model's attention on request (G)")


def tools_menu(w: MainWindow, act: Act, mb: Any) -> None:
    m = mb.addMenu("&Tools")
    w.tool_actions = {}
    for kind, name in TOOL_NAMES.items():
        if kind is Kind.CALIBRATION:
            m.addSeparator()
        a = act(f"&{name}", TOOL_KEYS[kind], (lambda on, k=kind: w.measure.toggle_tool(k, on)), m, checkable=True,
                tip=TOOL_TIPS[kind])
        w.tool_actions[kind] = a
    w.measure_action = w.tool_actions[Kind.DISTANCE]
    act("Remove the calibration", None, w.measure.clear_calibration, m)
    m.addSeparator()
    act("&Delete the selected measurement", ["Delete", "Backspace"], w.measure.delete_selected, m)
    act("&Clear all measurements of this film", "Shift+Delete", w.measure.clear, m)
    m.addSeparator()
    w.beside_action = act("Keep PNG/JPEG measurements &beside the film", None, w.measure.set_beside_film, m, checkable=True,
                          tip="A sidecar file <film>.osteo-measurements.json; off: in the application's data folder")

