"""The PACS dialog: connection settings with a C-ECHO test, a study query, results, retrieve with
progress (C-GET into the local store, or C-MOVE to our own node), and open.

Every network operation runs in a `NetTask` thread, one at a time; the dialog stays responsive and
Cancel stops a retrieve (what arrived is kept). The settings are the ones `osteo-pacs` uses
(`network.json` in the user's settings folder), saved with "Save settings".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import OsteoError
from ..core.net import FindMatch, FindQuery, NetworkSettings, PacsClient, RemoteNode, RetrieveResult
from .net_task import NetTask, TaskFn

log = logging.getLogger(__name__)

MODALITIES = ("", "DX", "CR", "RG", "DR", "OT", "MG", "CT", "MR")
COLUMNS = ("Patient", "Patient ID", "Date", "Modalities", "Accession", "Description", "Series", "Instances")
UID_ROLE = Qt.ItemDataRole.UserRole + 1
GET, MOVE = "get", "move"


def _date(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


class PacsDialog(QDialog):
    open_requested = Signal(list)  # [path] of a study in the local store
    retrieved = Signal(str)  # Study Instance UID, once a retrieve finished

    def __init__(self, parent: QWidget | None = None, *, settings_path: Path | None = None,
                 store_dir: Path | None = None):
        super().__init__(parent)
        self.setWindowTitle("PACS: query and retrieve")
        self.settings_path = settings_path
        self._store_dir = store_dir
        self.task: NetTask | None = None
        self.matches: list[FindMatch] = []
        self.last_result: RetrieveResult | None = None
        self.retrieved_studies: set[str] = set()
        try:
            net = NetworkSettings.load(settings_path)
            load_error = ""
        except OsteoError as e:
            net, load_error = NetworkSettings(), str(e)
        self._build(net)
        if load_error:
            self._status(load_error, error=True)
        self.resize(900, 620)

    # -- layout ------------------------------------------------------------------------------
    def _build(self, net: NetworkSettings) -> None:
        outer = QVBoxLayout(self)
        box = QGroupBox("Connection", self)
        grid = QGridLayout(box)
        remote = None
        try:
            remote = net.remote()
        except OsteoError:
            pass
        self.aet_edit = QLineEdit(remote.aet if remote else "", box)
        self.aet_edit.setPlaceholderText("e.g. ORTHANC")
        self.host_edit = QLineEdit(remote.host if remote else "", box)
        self.host_edit.setPlaceholderText("host name or address")
        self.port_spin = QSpinBox(box)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(remote.port if remote else 104)
        self.our_edit = QLineEdit(net.our_aet, box)
        self.timeout_spin = QDoubleSpinBox(box)
        self.timeout_spin.setRange(1, 600)
        self.timeout_spin.setDecimals(0)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setValue(net.timeout_s)
        self.method_combo = QComboBox(box)
        self.method_combo.addItem("C-GET into the local store", GET)
        self.method_combo.addItem("C-MOVE to our node (osteo-node, our AE title)", MOVE)
        self.method_combo.setCurrentIndex(1 if net.retrieve == MOVE else 0)
        self.store_label = QLabel(str(self.store_dir(net)), box)
        self.store_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for row, (label, w) in enumerate((("PACS AE title", self.aet_edit), ("Host", self.host_edit),
                                          ("Port", self.port_spin), ("Our AE title", self.our_edit))):
            grid.addWidget(QLabel(label), row // 2, (row % 2) * 2)
            grid.addWidget(w, row // 2, (row % 2) * 2 + 1)
        grid.addWidget(QLabel("Timeout"), 2, 0)
        grid.addWidget(self.timeout_spin, 2, 1)
        grid.addWidget(QLabel("Retrieve with"), 2, 2)
        grid.addWidget(self.method_combo, 2, 3)
        grid.addWidget(QLabel("Local store"), 3, 0)
        grid.addWidget(self.store_label, 3, 1, 1, 3)
        buttons = QHBoxLayout()
        self.echo_button = QPushButton("Test connection (C-ECHO)", box)
        self.echo_button.clicked.connect(self.echo)
        self.save_button = QPushButton("Save settings", box)
        self.save_button.clicked.connect(self.save_settings)
        self.echo_label = QLabel("", box)
        self.echo_label.setWordWrap(True)
        buttons.addWidget(self.echo_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.echo_label, 1)
        grid.addLayout(buttons, 4, 0, 1, 4)
        outer.addWidget(box)

        qbox = QGroupBox("Find studies", self)
        form = QFormLayout()
        self.patient_id_edit = QLineEdit(qbox)
        self.patient_name_edit = QLineEdit(qbox)
        self.patient_name_edit.setPlaceholderText("DOE^JANE, or with wildcards: DOE*")
        self.date_edit = QLineEdit(qbox)
        self.date_edit.setPlaceholderText("20240131, 2024-01-01..2024-12-31, 20240101- or -20241231")
        self.modality_combo = QComboBox(qbox)
        self.modality_combo.setEditable(True)
        self.modality_combo.addItems(list(MODALITIES))
        edit = self.modality_combo.lineEdit()
        if edit is not None:
            edit.setPlaceholderText("any")
        self.accession_edit = QLineEdit(qbox)
        form.addRow("Patient ID", self.patient_id_edit)
        form.addRow("Patient name", self.patient_name_edit)
        form.addRow("Study date", self.date_edit)
        form.addRow("Modality", self.modality_combo)
        form.addRow("Accession number", self.accession_edit)
        qlay = QHBoxLayout(qbox)
        qlay.addLayout(form, 1)
        self.search_button = QPushButton("Search", qbox)
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        qlay.addWidget(self.search_button, 0, Qt.AlignmentFlag.AlignBottom)
        for edit in (self.patient_id_edit, self.patient_name_edit, self.date_edit, self.accession_edit):
            edit.returnPressed.connect(self.search)
        outer.addWidget(qbox)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.retrieve_or_open())
        outer.addWidget(self.table, 1)

        bottom = QHBoxLayout()
        self.retrieve_button = QPushButton("Retrieve", self)
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open", self)
        self.open_button.clicked.connect(self.open_selected)
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        for w in (self.retrieve_button, self.cancel_button, self.open_button):
            bottom.addWidget(w)
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(close)
        outer.addLayout(bottom)
        outer.addWidget(self.status_label)
        self._update_buttons()

    # -- settings ----------------------------------------------------------------------------
    def store_dir(self, net: NetworkSettings | None = None) -> Path:
        if self._store_dir is not None:
            return self._store_dir
        from ..core.store import default_store_dir

        net = net or self._settings_or_none() or NetworkSettings()
        return Path(net.store_dir) if net.store_dir else default_store_dir()

    def _settings_or_none(self) -> NetworkSettings | None:
        try:
            return self.current_settings()
        except OsteoError:
            return None

    def current_settings(self) -> NetworkSettings:
        """The settings as typed (raises a PacsError naming the bad field)."""
        try:
            saved = NetworkSettings.load(self.settings_path)
        except OsteoError:
            saved = NetworkSettings()
        remote = RemoteNode(self.aet_edit.text().strip(), self.host_edit.text().strip(), self.port_spin.value())
        saved.pacs = str(remote)
        saved.our_aet = self.our_edit.text().strip()
        saved.timeout_s = float(self.timeout_spin.value())
        saved.retrieve = str(self.method_combo.currentData())
        return saved.validate()

    def save_settings(self) -> bool:
        try:
            path = self.current_settings().save(self.settings_path)
        except OsteoError as e:
            self._status(str(e), error=True)
            return False
        self._status(f"Settings saved ({path}); osteo-pacs uses them too.")
        return True

    def _client(self) -> PacsClient | None:
        try:
            net = self.current_settings()
        except OsteoError as e:
            self._status(str(e), error=True)
            return None
        remote = net.remote()
        assert remote is not None
        return PacsClient(remote, our_aet=net.our_aet, timeout=net.timeout_s)

    # -- operations --------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """An operation runs, or its results are not handled yet: the task is let go when its `finished`
        reaches this (GUI) thread, after its `succeeded`/`failed` (a finished thread alone is not enough)."""
        return self.task is not None

    def _run(self, fn: TaskFn, on_done: Any, what: str) -> bool:
        if self.busy:
            self._status("Wait for the running operation to finish (or cancel it).", error=True)
            return False
        task = NetTask(fn, self)
        task.succeeded.connect(on_done)
        task.failed.connect(self._failed)
        task.progressed.connect(self._progressed)
        task.finished.connect(self._task_ended)
        self.task = task
        self._status(what)
        self._update_buttons()
        task.start()
        return True

    def echo(self) -> bool:
        client = self._client()
        if client is None:
            return False
        self.echo_label.setText("Testing…")
        return self._run(lambda progress, cancelled: client.echo(), self._echo_done, f"C-ECHO to {client.remote}…")

    def _echo_done(self, ms: float) -> None:
        text = f"C-ECHO ok ({ms:.0f} ms)"
        self.echo_label.setText(text)
        self._status(text)

    def query(self) -> FindQuery:
        return FindQuery(patient_id=self.patient_id_edit.text().strip(), patient_name=self.patient_name_edit.text().strip(),
                         date=self.date_edit.text().strip(), modality=self.modality_combo.currentText().strip(),
                         accession=self.accession_edit.text().strip())

    def search(self) -> bool:
        client = self._client()
        if client is None:
            return False
        q = self.query()
        try:
            q.identifier()  # a bad date says so now, not from the thread
        except OsteoError as e:
            self._status(str(e), error=True)
            return False
        return self._run(lambda progress, cancelled: client.find(q), self._search_done, f"Searching {client.remote}…")

    def _search_done(self, matches: list[FindMatch]) -> None:
        self.matches = list(matches)
        self.table.setRowCount(0)
        for m in self.matches:
            row = self.table.rowCount()
            self.table.insertRow(row)
            values = (m.patient_name.replace("^", " ").strip(), m.patient_id, _date(m.study_date), "/".join(m.modalities),
                      m.accession, m.study_description, "" if m.n_series is None else str(m.n_series),
                      "" if m.n_instances is None else str(m.n_instances))
            for col, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(UID_ROLE, m.study_uid)
                item.setToolTip(f"Study Instance UID {m.study_uid}")
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        if self.matches:
            self.table.selectRow(0)
        self._status(f"{len(self.matches)} stud{'y' if len(self.matches) == 1 else 'ies'} found.")

    def selected_study(self) -> str | None:
        rows = sorted({i.row() for i in self.table.selectedItems()})
        if not rows:
            return None
        item = self.table.item(rows[0], 0)
        return item.data(UID_ROLE) if item is not None else None

    def retrieve(self) -> bool:
        study = self.selected_study()
        client = self._client()
        if study is None or client is None:
            if study is None:
                self._status("Select a study first.", error=True)
            return False
        method = str(self.method_combo.currentData())
        store_dir = self.store_dir()
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.last_result = None

        def work(progress, cancelled):  # runs in the task's thread
            if method == MOVE:
                result = client.move(client.our_aet, study_uid=study, progress=progress, should_cancel=cancelled)
            else:
                from ..core.store import LocalStore

                with LocalStore(store_dir) as store:
                    result = client.get(store, study_uid=study, progress=progress, should_cancel=cancelled)
                    store.audit("retrieve", study_uid=study, target=str(client.remote),
                                details={"operation": result.operation, "completed": result.completed})
            return study, result

        verb = "C-MOVE to our node" if method == MOVE else "C-GET into the local store"
        return self._run(work, self._retrieve_done, f"Retrieving ({verb})…")

    def _retrieve_done(self, outcome: tuple[str, RetrieveResult]) -> None:
        study, result = outcome
        self.last_result = result
        self.retrieved_studies.add(study)
        n = result.completed
        extra = f", {result.duplicates} already stored" if result.duplicates else ""
        self._status(f"{result.operation}: {n} instance{'s' if n != 1 else ''} retrieved{extra} in {result.seconds:.1f} s.")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat(f"{result.operation}: done")
        self.retrieved.emit(study)

    def retrieve_or_open(self) -> None:
        study = self.selected_study()
        if study is not None and self._study_paths(study):
            self.open_selected()
        else:
            self.retrieve()

    def _study_paths(self, study: str) -> list[str]:
        from ..core.store import LocalStore

        folder = self.store_dir()
        if not (folder / "index.sqlite").exists():
            return []
        try:
            with LocalStore(folder) as store:
                return [str(p) for p in store.film_paths(study)]
        except OsteoError as e:
            self._status(str(e), error=True)
            return []

    def open_selected(self) -> bool:
        study = self.selected_study()
        if study is None:
            self._status("Select a study first.", error=True)
            return False
        paths = self._study_paths(study)
        if not paths:
            self._status("This study is not in the local store yet: retrieve it first.", error=True)
            return False
        self.open_requested.emit(paths)
        self._status(f"Opening {len(paths)} film(s)…")
        return True

    def cancel(self) -> None:
        if self.busy and self.task is not None:
            self.task.cancel()
            self._status("Cancelling…")

    # -- task plumbing -----------------------------------------------------------------------
    def _progressed(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        else:
            self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.status_label.setText(text)

    def _failed(self, message: str) -> None:
        if self.echo_label.text() == "Testing…":
            self.echo_label.setText("C-ECHO failed")
        self.progress.setVisible(False)
        self._status(message, error=True)

    def _task_ended(self) -> None:
        if self.sender() is self.task:
            self.task = None
        self._update_buttons()

    def _status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #b00020;" if error else "")
        if error:
            log.info("PACS dialog: %s", text)

    def _update_buttons(self) -> None:
        busy = self.busy
        has_row = self.selected_study() is not None
        for b in (self.echo_button, self.search_button, self.save_button):
            b.setEnabled(not busy)
        self.retrieve_button.setEnabled(not busy and has_row)
        self.open_button.setEnabled(not busy and has_row)
        self.cancel_button.setEnabled(busy)

    # -- closing -----------------------------------------------------------------------------
    def shutdown(self) -> bool:
        """Cancel and wait for a running operation (True when nothing runs any more)."""
        if self.task is not None:
            ok = self.task.finish()
            return ok
        return True

    def closeEvent(self, e: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(e)

    def done(self, r: int) -> None:
        self.shutdown()
        super().done(r)
