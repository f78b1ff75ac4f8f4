"""A path field with its Browse… button, as the export dialogs lay it out in a form row."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton


def path_field(text: str, browse: Callable[[], None]) -> tuple[QHBoxLayout, QLineEdit]:
    """(the row to add to a form, its line edit); the button calls `browse`."""
    row = QHBoxLayout()
    edit = QLineEdit(text)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row, edit
