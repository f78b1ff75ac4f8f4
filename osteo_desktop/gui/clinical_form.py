"""The patient's age, sex and weight beside the result: shown as read from the file, correctable by
the reader. Values a reader enters are marked "entered by user" in the result, the report and the SR,
and are kept for this session only (never written to the settings)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..core.clinical import FEMALE, MALE, OTHER, ClinicalInputs
from .theme import ERROR, MUTED

SEX_CHOICES = ("unknown", FEMALE, MALE, OTHER)


def _age_text(inputs: ClinicalInputs) -> str:
    a = inputs.age_years
    return "" if a is None else (f"{a:.0f}" if a >= 2 else f"{a:.1f}")


def _weight_text(inputs: ClinicalInputs) -> str:
    w = inputs.weight_kg
    return "" if w is None else f"{w:g}"


class ClinicalForm(QWidget):
    """Age / sex / weight fields with Apply and "Use the file's values"."""

    applied = Signal(str, str, str)  # age, sex, weight as typed ("" = not given)
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        self.age = QLineEdit()
        self.age.setPlaceholderText("years")
        self.age.setToolTip("Age in years at the time of the film")
        self.sex = QComboBox()
        self.sex.addItems(list(SEX_CHOICES))
        self.weight = QLineEdit()
        self.weight.setPlaceholderText("kg")
        self.weight.setToolTip("Weight in kilograms (for the OST index, a reference risk score)")
        for col, (label, w) in enumerate((("Age", self.age), ("Sex", self.sex), ("Weight", self.weight))):
            grid.addWidget(QLabel(label), 0, col)
            grid.addWidget(w, 1, col)
        lay.addLayout(grid)
        row = QHBoxLayout()
        self.apply_button = QPushButton("Apply and screen again")
        self.apply_button.setToolTip("Use these values for every film of this patient (marked 'entered by user')")
        self.apply_button.clicked.connect(self._apply)
        self.reset_button = QPushButton("Use the file's values")
        self.reset_button.clicked.connect(self.reset_requested)
        row.addWidget(self.apply_button)
        row.addWidget(self.reset_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.source = QLabel("")
        self.source.setWordWrap(True)
        self.source.setStyleSheet(f"color: {MUTED.name()};")
        lay.addWidget(self.source)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {ERROR.name()};")
        self.error.setVisible(False)
        lay.addWidget(self.error)
        for edit in (self.age, self.weight):
            edit.returnPressed.connect(self._apply)
        self.show_values(ClinicalInputs(), entered=False)

    def _apply(self) -> None:
        sex = self.sex.currentText()
        self.applied.emit(self.age.text().strip(), "" if sex == "unknown" else sex, self.weight.text().strip())

    def show_values(self, inputs: ClinicalInputs, *, entered: bool) -> None:
        """Fill the fields: the file's values overridden by what a user entered for the patient."""
        self.age.setText(_age_text(inputs))
        sex = inputs.sex.value if inputs.sex is not None else "unknown"
        self.sex.setCurrentIndex(SEX_CHOICES.index(sex) if sex in SEX_CHOICES else 0)
        self.weight.setText(_weight_text(inputs))
        sources = sorted({v.source for v in (inputs.age, inputs.sex, inputs.weight) if v is not None})
        if sources:
            self.source.setText("From: " + ", ".join(sources) + ".")
        else:
            self.source.setText("Not in the file: enter age and sex to use the combined score where it is validated.")
        self.reset_button.setEnabled(entered)
        self.show_error("")

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))
