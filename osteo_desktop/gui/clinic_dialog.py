"""Settings > Report header: the clinic's name and address, printed at the top of every PDF report."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QWidget

from .export_controller import CLINIC_ADDRESS_KEY, CLINIC_NAME_KEY


class ClinicDialog(QDialog):
    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Report header")
        form = QFormLayout(self)
        form.addRow(QLabel("Printed at the top of every PDF report (leave empty for none)."))
        self.name = QLineEdit(str(settings.value(CLINIC_NAME_KEY, "") or ""))
        self.name.setPlaceholderText("e.g. Example Radiology Clinic")
        self.address = QPlainTextEdit(str(settings.value(CLINIC_ADDRESS_KEY, "") or ""))
        self.address.setPlaceholderText("street\ntown, postcode\nphone")
        self.address.setFixedHeight(80)
        form.addRow("Clinic name", self.name)
        form.addRow("Address", self.address)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def accept(self) -> None:
        self.settings.setValue(CLINIC_NAME_KEY, self.name.text().strip())
        self.settings.setValue(CLINIC_ADDRESS_KEY, self.address.toPlainText().strip())
        super().accept()
