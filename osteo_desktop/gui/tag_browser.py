"""DICOM tag browser: the film's header (no pixel data) as a tree, filtered by tag, keyword or value."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ..core.film import Film
from .study_browser import children

MAX_VALUE_CHARS = 240


def _value_text(elem: Any) -> str:
    v = elem.value
    if isinstance(v, (bytes, bytearray)):
        return f"<{len(v)} bytes>"
    try:
        text = str(v) if v is not None else ""
    except Exception:  # a malformed value must not break the browser
        text = "<unreadable>"
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _tag_text(tag: Any) -> str:
    return f"({tag.group:04X},{tag.element:04X})"


class TagBrowser(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("DICOM tags")
        self.setModal(False)
        lay = QVBoxLayout(self)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search tag (0010,0020 or 00100020), keyword or value…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.apply_filter)
        lay.addWidget(self.search)
        self.info = QLabel("")
        lay.addWidget(self.info)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Tag", "Keyword", "VR", "Value"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        lay.addWidget(self.tree, 1)
        self._count = 0

    def sizeHint(self) -> QSize:
        return QSize(820, 620)

    def set_film(self, film: Film | None) -> None:
        self.tree.clear()
        self._count = 0
        if film is None:
            self.info.setText("No film open.")
            return
        self.setWindowTitle(f"DICOM tags — {film.display_name}")
        if film.header is None:
            self.info.setText(f"{film.display_name} is a {film.source_format or 'raster'} file: it has no DICOM tags.")
            return
        meta = getattr(film.header, "file_meta", None)
        if meta is not None and len(meta):
            self._add(meta, self.tree.invisibleRootItem())
        self._add(film.header, self.tree.invisibleRootItem())
        self.tree.expandAll()
        for c in range(3):
            self.tree.resizeColumnToContents(c)
        self.info.setText(f"{self._count} elements (pixel data not loaded)")
        self.apply_filter(self.search.text())

    def _add(self, ds: Any, parent: QTreeWidgetItem) -> None:
        for elem in ds:
            self._count += 1
            vr = str(elem.VR)
            value = f"{len(elem.value)} item(s)" if vr == "SQ" else _value_text(elem)
            item = QTreeWidgetItem(parent, [_tag_text(elem.tag), elem.keyword or elem.name, vr, value])
            item.setData(0, Qt.ItemDataRole.UserRole, f"{elem.tag.group:04x}{elem.tag.element:04x}")
            if vr == "SQ":
                for i, sub in enumerate(elem.value):
                    child = QTreeWidgetItem(item, [f"Item {i + 1}", "", "", ""])
                    self._add(sub, child)

    def apply_filter(self, text: str) -> int:
        """Show rows whose tag, keyword or value contains `text` (and their parents). Returns matches."""
        needle = text.strip().lower()
        compact = needle.replace("(", "").replace(")", "").replace(",", "").replace(" ", "")
        matches = 0

        def visit(item: QTreeWidgetItem) -> bool:
            nonlocal matches
            hit = not needle or any(needle in item.text(c).lower() for c in range(4))
            tag_key = item.data(0, Qt.ItemDataRole.UserRole)
            if needle and not hit and tag_key and compact and compact in tag_key:
                hit = True
            if hit and needle and tag_key:
                matches += 1
            child_hit = False
            for child in children(item):
                child_hit = visit(child) or child_hit
            show = hit or child_hit
            item.setHidden(not show)
            return show

        for item in children(self.tree.invisibleRootItem()):
            visit(item)
        return matches

    def visible_keywords(self) -> list[str]:
        out: list[str] = []

        def visit(item: QTreeWidgetItem) -> None:
            if not item.isHidden() and item.text(1):
                out.append(item.text(1))
            for child in children(item):
                visit(child)

        for item in children(self.tree.invisibleRootItem()):
            visit(item)
        return out
