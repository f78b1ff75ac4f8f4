"""A dismissable message panel above the film: errors and warnings that never block the reader.

A message about a film belongs to it (`film`): it goes when another film is shown
(`show_film`). Messages without a film (a load failure, the model's state, an export) stay until
dismissed. The same message is never shown twice (posting it again moves it to the top), and at most
MAX_MESSAGES are shown: the oldest go first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

log = logging.getLogger(__name__)

INFO, WARNING, ERROR = "info", "warning", "error"
_STYLE = {
    INFO: ("#1f3347", "#8cc4ff", "Info"),
    WARNING: ("#3d3220", "#ffb84d", "Warning"),
    ERROR: ("#472024", "#ff7b7b", "Error"),
}
MAX_MESSAGES = 4


@dataclass(frozen=True)
class Message:
    level: str
    text: str
    film: str | None = None  # the film it is about (gone when another film is shown)


class _Row(QFrame):
    dismissed = Signal(object)

    def __init__(self, msg: Message, parent: QWidget | None = None,
                 actions: Sequence[tuple[str, Callable[[], object]]] = ()):
        super().__init__(parent)
        self.message = msg
        bg, fg, tag = _STYLE.get(msg.level, _STYLE[INFO])
        self.setObjectName("messageRow")
        self.setStyleSheet(f"#messageRow {{ background: {bg}; border-left: 4px solid {fg}; border-radius: 3px; }}")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        head = QLabel(f"<b style='color:{fg}'>{tag}</b>")
        head.setAlignment(Qt.AlignmentFlag.AlignTop)
        body = QLabel(msg.text)
        body.setWordWrap(True)
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body.setTextFormat(Qt.TextFormat.PlainText)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(lambda: self.dismissed.emit(self))
        lay.addWidget(head)
        lay.addWidget(body, 1)
        self.action_buttons: list[QPushButton] = []
        for label, callback in actions:
            b = QPushButton(label)
            b.clicked.connect(lambda _=False, cb=callback: cb())
            lay.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
            self.action_buttons.append(b)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.close_button = close


class MessagePanel(QWidget):
    """Newest message on top; at most MAX_MESSAGES; hidden when empty."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(4, 4, 4, 0)
        self._lay.setSpacing(3)
        self._rows: list[_Row] = []
        self.setVisible(False)

    def post(self, level: str, text: str, actions: Sequence[tuple[str, Callable[[], object]]] = (),
             film: str | None = None) -> None:
        """Show a message; `actions` are (button label, callback) pairs shown beside it; `film` the film
        it is about (None: about no film in particular)."""
        text = text.strip()
        if not text:
            return
        msg = Message(level, text, film)
        if self._rows and self._rows[0].message == msg:
            return  # the same message again: keep one
        for old in [r for r in self._rows if r.message == msg]:
            self._remove(old)  # shown before: it moves to the top
        row = _Row(msg, self, actions)
        row.dismissed.connect(self._dismiss)
        self._rows.insert(0, row)
        self._lay.insertWidget(0, row)
        while len(self._rows) > MAX_MESSAGES:
            self._remove(self._rows[-1])
        self.setVisible(True)
        self.changed.emit()

    def _remove(self, row: _Row) -> None:
        self._rows.remove(row)
        self._lay.removeWidget(row)
        row.hide()
        row.deleteLater()

    def _dismiss(self, row: _Row) -> None:
        if row in self._rows:
            self._remove(row)
        self.setVisible(bool(self._rows))
        self.changed.emit()

    def show_film(self, key: str | None) -> None:
        """Film `key` is shown now: the messages about other films go."""
        stale = [r for r in self._rows if r.message.film is not None and r.message.film != key]
        for row in stale:
            self._remove(row)
        if stale:
            self.setVisible(bool(self._rows))
            self.changed.emit()

    def clear(self) -> None:
        for row in list(self._rows):
            self._remove(row)
        self.setVisible(False)
        self.changed.emit()

    def messages(self) -> list[Message]:
        return [r.message for r in self._rows]

    def rows(self) -> list[_Row]:
        return list(self._rows)
