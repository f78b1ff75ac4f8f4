"""File > Open recent: the list (kept in QSettings, newest first) and its menu."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 10
KEY = "recent"


class RecentFiles:
    def __init__(self, settings: QSettings, menu: QMenu, open_paths: Callable[[list[str]], object]):
        self.settings = settings
        self.menu = menu
        self._open = open_paths

    def files(self) -> list[str]:
        v = self.settings.value(KEY, [])
        if isinstance(v, str):  # QSettings gives a one-item list back as a plain string
            return [v]
        return [str(x) for x in v] if isinstance(v, (list, tuple)) else []

    def last_dir(self) -> str:
        """The folder of the newest recent file (where the open dialogs start), else the home folder."""
        recent = self.files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def add(self, p: Path) -> None:
        key = str(p.resolve()) if p.exists() else str(p)
        items = [key] + [x for x in self.files() if x != key]
        self.settings.setValue(KEY, items[:MAX_RECENT])
        self.rebuild()

    def clear(self) -> None:
        self.settings.setValue(KEY, [])
        self.rebuild()

    def rebuild(self) -> None:
        self.menu.clear()
        items = self.files()
        for p in items:
            a = self.menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self._open([p]))
        if not items:
            a = self.menu.addAction("(none)")
            a.setEnabled(False)
        else:
            self.menu.addSeparator()
            self.menu.addAction("Clear list").triggered.connect(self.clear)
