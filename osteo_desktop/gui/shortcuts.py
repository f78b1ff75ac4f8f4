"""Help > Shortcuts: the table is built from the window's own actions, so it cannot go stale."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

PRESET_GROUP = "window-preset"
PRESET_ROW = ("1 … 9", "Window presets (file windows, auto, full range)")
MOUSE = [
    ("Right-drag", "Window/level: left-right = width, up-down = level"),
    ("Wheel", "Zoom around the cursor; with View > Wheel steps through films: the next/previous film"),
    ("Ctrl+wheel", "Zoom around the cursor"),
    ("Left-drag / middle-drag", "Pan (the left button measures while a measuring tool is on)"),
    ("Drag a measurement's point", "Move it (while a measuring tool is on)"),
    ("Double-click a viewport", "Make its film the current one (comparison layouts)"),
    ("Drop files or folders", "Open them"),
]


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for a in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts() if not k.isEmpty()]
        if not keys:
            continue
        if a.data() == PRESET_GROUP:  # nine preset keys: one row
            if PRESET_ROW not in rows:
                rows.append(PRESET_ROW)
            continue
        what = a.text().replace("&", "").rstrip("…").strip()
        key = ", ".join(keys)
        if (key, what) in seen:
            continue
        seen.add((key, what))
        rows.append((key, what))
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, actions: list[QAction], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        lay = QVBoxLayout(self)
        rows = shortcut_rows(actions) + MOUSE
        self.table = QTableWidget(len(rows), 2, self)
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        for i, (k, what) in enumerate(rows):
            ki = QTableWidgetItem(k)
            ki.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(i, 0, ki)
            self.table.setItem(i, 1, QTableWidgetItem(what))
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.table)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        bb.rejected.connect(self.reject)
        bb.accepted.connect(self.accept)
        lay.addWidget(bb)

    def sizeHint(self) -> QSize:
        return QSize(600, 640)
