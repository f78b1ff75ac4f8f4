"""The local store as a screening worklist: studies with a badge for their screening state, searchable
by patient, date, modality and result; double-click opens a study's films.

A thin view over `core.store.worklist` (all the querying is there). The badge colours follow the
results panel: orange for "suspected", blue-grey (never green) for "screened, not suspected".
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import OsteoError
from ..core.store import FAILED, NOT_SCREENED, SCREENED, SUSPECTED, UNSCREENED, LocalStore, StudySummary, WorklistQuery, worklist

log = logging.getLogger(__name__)

MAX_ROWS = 2000  # the newest studies; a search narrows it down
COLUMNS = ("Result", "Patient", "Patient ID", "Date", "Modality", "Description", "Films")
UID_ROLE = Qt.ItemDataRole.UserRole + 1
#: badge -> (text shown, background colour)
BADGE_STYLE = {
    SUSPECTED: ("Suspected", "#e07b00"),
    SCREENED: ("Not suspected", "#5a7a99"),
    NOT_SCREENED: ("Not screened", "#8a8a8a"),
    FAILED: ("Failed", "#b00020"),
    UNSCREENED: ("New", "#3c3c3c"),
}
RESULT_FILTERS = (("Any result", None), ("Suspected", SUSPECTED), ("Not suspected", SCREENED),
                  ("Not screened", NOT_SCREENED), ("Failed", FAILED), ("New (no result)", "unscreened"))


def _date(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


def badge_text(s: StudySummary) -> str:
    text = BADGE_STYLE[s.badge][0]
    n = sum(s.counts.values())
    if n > 1:  # say how the films split when they disagree
        parts = [f"{c} {BADGE_STYLE[b][0].lower()}" for b, c in s.counts.items() if c]
        if len(parts) > 1:
            text += f" ({', '.join(parts)})"
    return text


class WorklistPanel(QWidget):
    open_requested = Signal(list)  # [path] of the study's films

    def __init__(self, store_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.store_dir = Path(store_dir)
        self.rows: list[StudySummary] = []
        self._store: LocalStore | None = None  # opened once (opening checks the database), closed by close_store
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        grid = QGridLayout()
        self.patient_edit = QLineEdit(self)
        self.patient_edit.setPlaceholderText("Patient name or ID")
        self.patient_edit.setClearButtonEnabled(True)
        self.from_edit = QLineEdit(self)
        self.from_edit.setPlaceholderText("from YYYY-MM-DD")
        self.to_edit = QLineEdit(self)
        self.to_edit.setPlaceholderText("to YYYY-MM-DD")
        self.modality_combo = QComboBox(self)
        self.modality_combo.setEditable(True)
        self.modality_combo.addItems(["", "DX", "CR", "RG", "DR", "OT", "CT", "MR"])
        self.modality_combo.setToolTip("Modality (empty: any)")
        edit = self.modality_combo.lineEdit()
        if edit is not None:
            edit.setPlaceholderText("Any modality")
        self.result_combo = QComboBox(self)
        for label, value in RESULT_FILTERS:
            self.result_combo.addItem(label, value)
        self.refresh_button = QPushButton("Search", self)
        self.refresh_button.clicked.connect(self.refresh)
        grid.addWidget(self.patient_edit, 0, 0, 1, 2)
        grid.addWidget(self.from_edit, 1, 0)
        grid.addWidget(self.to_edit, 1, 1)
        grid.addWidget(self.modality_combo, 2, 0)
        grid.addWidget(self.result_combo, 2, 1)
        grid.addWidget(self.refresh_button, 3, 1)
        lay.addLayout(grid)
        for edit in (self.patient_edit, self.from_edit, self.to_edit):
            edit.returnPressed.connect(self.refresh)
        self.result_combo.currentIndexChanged.connect(lambda _i: self.refresh())

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemActivated.connect(lambda item: self.open_row(item.row()))
        self.table.itemDoubleClicked.connect(lambda item: self.open_row(item.row()))
        lay.addWidget(self.table, 1)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        lay.addWidget(self.status)

    def sizeHint(self) -> QSize:
        return QSize(320, 500)

    def query(self) -> WorklistQuery:
        return WorklistQuery(patient=self.patient_edit.text().strip(), date_from=self.from_edit.text().strip(),
                             date_to=self.to_edit.text().strip(), modality=self.modality_combo.currentText().strip(),
                             badge=self.result_combo.currentData())

    def set_store_dir(self, folder: Path) -> None:
        if Path(folder) != self.store_dir:
            self.close_store()
            self.store_dir = Path(folder)
        self.refresh()

    def store(self) -> LocalStore | None:
        """The store, opened on first use; None while it has no database yet. Raises StoreError."""
        if self._store is None:
            if not (self.store_dir / "index.sqlite").exists():
                return None
            self._store = LocalStore(self.store_dir)
        return self._store

    def close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def refresh(self) -> int:
        """Query the store again; returns the number of studies shown (errors are shown, not raised)."""
        self.table.setRowCount(0)
        self.rows = []
        try:
            store = self.store()
            if store is None:
                self.status.setText(f"The local store ({self.store_dir}) is empty: retrieve studies from a PACS "
                                    "(File > PACS…) or receive them with osteo-node.")
                return 0
            self.rows = worklist(store, self.query(), limit=MAX_ROWS)
        except OsteoError as e:
            self.close_store()
            self.status.setText(str(e))
            self.status.setStyleSheet("color: #b00020;")
            return 0
        self.status.setStyleSheet("")
        for s in self.rows:
            r = self.table.rowCount()
            self.table.insertRow(r)
            text, colour = BADGE_STYLE[s.badge]
            badge = QTableWidgetItem(badge_text(s))
            badge.setBackground(QBrush(QColor(colour)))
            badge.setForeground(QBrush(QColor("white")))
            values = (s.patient_name.replace("^", " ").strip(), s.patient_id, _date(s.study_date),
                      "/".join(s.modalities), s.description, str(s.n_instances))
            items = [badge] + [QTableWidgetItem(v) for v in values]
            for c, item in enumerate(items):
                item.setData(UID_ROLE, s.study_uid)
                item.setToolTip(f"Study Instance UID {s.study_uid}; received {s.last_received}")
                self.table.setItem(r, c, item)
        n = len(self.rows)
        more = " (the newest; search to narrow down)" if n >= MAX_ROWS else ""
        self.status.setText(f"{n} stud{'y' if n == 1 else 'ies'}{more} in {self.store_dir}")
        return n

    def badges(self) -> list[str]:
        """The badge of each row, in display order (for tests and automation)."""
        return [s.badge for s in self.rows]

    def open_row(self, row: int) -> bool:
        if not 0 <= row < len(self.rows):
            return False
        study = self.rows[row].study_uid
        try:
            store = self.store()
            paths = [str(p) for p in store.film_paths(study)] if store is not None else []
        except OsteoError as e:
            self.status.setText(str(e))
            return False
        if not paths:
            self.status.setText("This study has no films to open (only reports or screening outputs).")
            return False
        self.open_requested.emit(paths)
        return True
