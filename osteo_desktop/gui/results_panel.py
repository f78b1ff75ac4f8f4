"""The results dock: class probabilities, the low-bone-density score against its threshold, the
decision in words, the attention-map controls, warnings and the model's identity."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ..core.eligibility import KNEE, SPINE, sure
from ..core.score_bases import EXPLANATIONS
from ..core.scoring import SCORE_EXPLANATION, decision_colour, relation_text, score_bar_colour
from .clinical_form import ClinicalForm
from .theme import ACCENT, ERROR, MUTED, WARN
from .view_overlays import NO_SIGNAL_TEXT

DISCLAIMER = "Screening aid — not a diagnosis. Cannot rule out low bone density."


class ScoreBar(QWidget):
    """A horizontal 0..1 bar with an optional threshold mark."""

    def __init__(self, parent: QWidget | None = None, colour: QColor = ACCENT, height: int = 14):
        super().__init__(parent)
        self.value: float | None = None
        self.threshold: float | None = None
        self.colour = colour
        self._h = height
        self.setMinimumHeight(height + (12 if height > 14 else 2))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(160, self.minimumHeight())

    def set(self, value: float | None, threshold: float | None = None, colour: QColor | None = None) -> None:
        self.value, self.threshold = value, threshold
        if colour is not None:
            self.colour = colour
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w = self.width() - 2
        r = QRectF(1, 1, w, self._h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(62, 62, 68))
        p.drawRoundedRect(r, 3, 3)
        if self.value is not None:
            v = min(1.0, max(0.0, self.value))
            p.setBrush(self.colour)
            p.drawRoundedRect(QRectF(1, 1, max(2.0, w * v), self._h), 3, 3)
        if self.threshold is not None:
            x = 1 + w * min(1.0, max(0.0, self.threshold))
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(int(x), 0, int(x), self._h + 3)
            f = QFont(self.font())
            f.setPointSizeF(max(7.0, f.pointSizeF() * 0.8))
            p.setFont(f)
            p.setPen(QColor(210, 210, 215))
            label = "threshold"
            tw = p.fontMetrics().horizontalAdvance(label)
            tx = min(max(0.0, x - tw / 2), self.width() - tw)
            p.drawText(int(tx), self._h + 3 + p.fontMetrics().ascent(), label)
        p.end()


class _ProbRow(QWidget):
    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.name = QLabel(name.capitalize())
        self.name.setMinimumWidth(92)
        self.bar = ScoreBar(self, QColor(110, 150, 200), 12)
        self.pct = QLabel("—")
        self.pct.setMinimumWidth(44)
        self.pct.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        lay.addWidget(self.name)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.pct)

    def set(self, p: float, top: bool) -> None:
        self.bar.set(p, None, QColor(64, 156, 255) if top else QColor(110, 130, 160))
        self.pct.setText(f"{100 * p:.1f}%")
        f = self.name.font()
        f.setBold(top)
        self.name.setFont(f)


def _section(title: str) -> QLabel:
    lab = QLabel(title.upper())
    lab.setStyleSheet(f"color: {MUTED.name()}; font-size: 8pt; letter-spacing: 1px; margin-top: 6px;")
    return lab


class ResultsPanel(QWidget):
    screen_requested = Signal()
    cancel_requested = Signal()
    cam_toggled = Signal(bool)
    opacity_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(4)

        self.disclaimer = QLabel(DISCLAIMER)
        self.disclaimer.setWordWrap(True)
        self.disclaimer.setStyleSheet(
            f"color: {WARN.name()}; font-weight: 600; padding: 4px; border: 1px solid #6b5326; border-radius: 3px;"
        )
        lay.addWidget(self.disclaimer)

        self.status = QLabel("No film open.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(10)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel screening (Ctrl+.)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.screen_button = QPushButton("Screen")
        self.screen_button.setToolTip("Screen this film now (S)")
        self.screen_button.clicked.connect(self.screen_requested)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.screen_button)
        lay.addLayout(row)

        self.decision = QLabel("")
        self.decision.setWordWrap(True)
        f = self.decision.font()
        f.setPointSizeF(f.pointSizeF() * 1.2)
        f.setBold(True)
        self.decision.setFont(f)
        lay.addWidget(self.decision)
        self.reason = QLabel("")  # why a film was not screened / how far a score may be trusted
        self.reason.setWordWrap(True)
        self.reason.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.reason)
        self.eligibility = QLabel("")
        self.eligibility.setWordWrap(True)
        self.eligibility.setStyleSheet(f"color: {MUTED.name()};")
        lay.addWidget(self.eligibility)

        self.result_box = QWidget(body)  # shown only when there is a result
        outer_lay = lay
        lay = QVBoxLayout(self.result_box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        outer_lay.addWidget(self.result_box)
        lay.addWidget(_section("Low bone density score"))
        self.score_bar = ScoreBar(self, WARN, 16)
        lay.addWidget(self.score_bar)
        self.score_text = QLabel("—")
        self.score_text.setWordWrap(True)
        lay.addWidget(self.score_text)
        self.inputs = QLabel("")
        self.inputs.setWordWrap(True)
        self.inputs.setStyleSheet(f"color: {MUTED.name()};")
        lay.addWidget(self.inputs)

        lay.addWidget(_section("Class probabilities"))
        self._prob_box = QVBoxLayout()
        self._prob_box.setSpacing(2)
        lay.addLayout(self._prob_box)
        self._prob_rows: dict[str, _ProbRow] = {}
        self._set_classes(("normal", "osteopenia", "osteoporosis"))

        lay.addWidget(_section("Attention map (Grad-CAM)"))
        self.cam_check = QCheckBox("Show relative model attention  (G)")
        self.cam_check.setChecked(True)
        self.cam_check.toggled.connect(self.cam_toggled)
        lay.addWidget(self.cam_check)
        orow = QHBoxLayout()
        orow.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setToolTip("Attention-map opacity ([ and ])")
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        self.opacity_label = QLabel("45%")
        self.opacity_label.setMinimumWidth(36)
        self.opacity.valueChanged.connect(lambda v: self.opacity_label.setText(f"{v}%"))
        orow.addWidget(self.opacity, 1)
        orow.addWidget(self.opacity_label)
        lay.addLayout(orow)
        self.cam_status = QLabel("")
        self.cam_status.setWordWrap(True)
        self.cam_status.setStyleSheet(f"color: {MUTED.name()};")
        lay.addWidget(self.cam_status)

        lay = outer_lay
        lay.addWidget(_section("Patient: age, sex, weight"))
        self.clinical_form = ClinicalForm(body)
        lay.addWidget(self.clinical_form)
        lay.addWidget(_section("Warnings"))
        self.warnings = QLabel("none")
        self.warnings.setWordWrap(True)
        self.warnings.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.warnings)
        lay.addWidget(_section("Model"))
        self.model = QLabel("—")
        self.model.setWordWrap(True)
        self.model.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.model)
        self.timings = QLabel("")
        self.timings.setWordWrap(True)
        self.timings.setStyleSheet(f"color: {MUTED.name()};")
        lay.addWidget(self.timings)
        lay.addStretch(1)
        self.prediction: Any = None
        self.clear("No film open.")
        self.clinical_form.setVisible(False)  # until a film is shown (ClinicalPresenter.show_film)

    def sizeHint(self) -> QSize:
        return QSize(330, 600)

    def _set_classes(self, names: tuple[str, ...]) -> None:
        if tuple(self._prob_rows) == tuple(names):
            return
        for r in self._prob_rows.values():
            self._prob_box.removeWidget(r)
            r.deleteLater()
        self._prob_rows = {}
        for n in names:
            r = _ProbRow(n, self)
            self._prob_rows[n] = r
            self._prob_box.addWidget(r)

    # -- states ------------------------------------------------------------------------------------
    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.cancel_button.setEnabled(busy)

    def _blank(self) -> None:
        self.prediction = None
        self.screen_button.setText("Screen")
        self.result_box.setVisible(False)
        self.decision.setText("")
        self.reason.setText("")
        self.reason.setVisible(False)
        self.eligibility.setText("")
        self.inputs.setText("")
        self.score_bar.set(None, None)
        self.score_text.setText("—")
        for r in self._prob_rows.values():
            r.bar.set(None)
            r.pct.setText("—")
        self.warnings.setText("none")
        self.cam_status.setText("")
        self.timings.setText("")

    def clear(self, text: str, screen_enabled: bool = False) -> None:
        self._blank()
        self.status.setText(text)
        self.status.setStyleSheet("")
        self._busy(False)
        self.screen_button.setEnabled(screen_enabled)

    def show_busy(self, text: str, frac: float | None = None) -> None:
        self._blank()
        self.status.setText(text)
        self.status.setStyleSheet("")
        self._busy(True)
        self.screen_button.setEnabled(False)
        if frac is None:
            self.progress.setRange(0, 0)  # indeterminate
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(round(100 * frac)))

    def show_progress(self, frac: float, text: str) -> None:
        self.progress.setRange(0, 100)
        self.progress.setValue(int(round(100 * frac)))
        self.status.setText(f"Screening: {text}…")

    def show_error(self, text: str, screen_enabled: bool = True) -> None:
        self._blank()
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {ERROR.name()};")
        self._busy(False)
        self.screen_button.setEnabled(screen_enabled)

    def show_model(self, info: Any, device: str | None = None, none_text: str = "—") -> None:
        if info is None:
            self.model.setText(none_text)
            return
        sha = getattr(info, "sha256", "") or ""
        lines = [f"{info.name} {info.version}", f"{info.architecture} · sha256 {sha[:12]}"]
        if device:
            lines.append(f"device: {device}")
        self.model.setText("\n".join(lines))

    def show_prediction(self, pred: Any) -> None:
        self.prediction = pred
        self._busy(False)
        self.screen_button.setEnabled(True)
        self.screen_button.setText("Screen again")
        # no green anywhere near a result: "not suspected" is not an all-clear (core.scoring's colour rule)
        self.status.setStyleSheet(f"color: {MUTED.name()};")
        validated = bool(getattr(pred, "validated", True))
        self.decision.setStyleSheet(f"color: {decision_colour(pred.decision, surface='screen', validated=validated)};")
        self.eligibility.setText(eligibility_text(pred))
        self.warnings.setText("\n".join(f"• {w}" for w in pred.warnings) if pred.warnings else "none")
        self.show_model(pred.model, pred.device)
        t = pred.timings_ms
        parts = [f"{k} {v:.0f} ms" for k, v in t.items() if k != "total"]
        if "total" in t:
            parts.append(f"total {t['total']:.0f} ms")
        self.timings.setText("Timings: " + " · ".join(parts) if parts else "")
        e = getattr(pred, "eligibility", None)
        # age, sex and weight matter for a film of an anatomy the model screens (a child's knee film,
        # an age typed wrongly), not for a chest film or a photograph
        self.clinical_form.setVisible(pred.screened or getattr(e, "anatomy", None) in SCREENED_ANATOMIES)
        if not pred.screened:  # no score bar, no referral words, no heatmap: the reason
            self.status.setText("Not screened.")
            self.result_box.setVisible(False)
            self.decision.setText("Not screened")
            self.reason.setText(pred.not_screened_reason)
            self.reason.setStyleSheet("")
            self.reason.setVisible(True)
            return
        self.status.setText("Screened.")
        self.result_box.setVisible(True)
        self.decision.setText(pred.decision_text)
        self.reason.setText(getattr(pred, "reliability", "") or "")
        self.reason.setStyleSheet("" if validated else f"color: {WARN.name()};")
        self.reason.setVisible(bool(self.reason.text()))
        bar = QColor(score_bar_colour(pred.low_bmd_score, pred.threshold, surface="screen", validated=validated))
        self.score_bar.set(pred.low_bmd_score, pred.threshold, bar)
        explanation = EXPLANATIONS.get(getattr(pred, "score_basis", None) or "image", SCORE_EXPLANATION)
        self.score_text.setText(
            f"{explanation}: {pred.low_bmd_score:.2f} vs threshold {pred.threshold:.2f} — "
            f"{relation_text(pred.low_bmd_score, pred.threshold)} the operating point ({pred.threshold_goal})"
        )
        self.inputs.setText(inputs_text(pred))
        self._set_classes(tuple(pred.class_names))
        top = max(pred.probabilities, key=pred.probabilities.get)
        for name, r in self._prob_rows.items():
            r.set(float(pred.probabilities.get(name, 0.0)), name == top)
        status = getattr(pred, "cam_status", "off")
        self.cam_status.setText(
            {"ok": "Colours show where the model looked (relative model attention), not a lesion.",
             "empty": f"{NO_SIGNAL_TEXT}: the model's attention map is empty for this film.",
             "off": "No attention map for this film."}.get(status, status)
        )


SCREENED_ANATOMIES = (KNEE, SPINE)


def eligibility_text(pred: Any) -> str:
    """'Knee film: picture check 99 %, DICOM tags agree.' — how the film was found eligible (or not)."""
    e = getattr(pred, "eligibility", None)
    if e is None:
        return ""
    what = (e.anatomy or "unknown anatomy").replace("_", " ")
    how = {"tags": "from the DICOM tags", "image": "from the picture",
           "both": "the picture and the DICOM tags"}.get(e.by, e.by)
    certainty = f" ({sure(e.confidence)} sure)" if e.confidence is not None else ""
    return f"{'Screened as' if pred.screened else 'Appears to be'}: {what}{certainty}, {how}."


def inputs_text(pred: Any) -> str:
    """The clinical inputs the score used and where they came from; the image score beside a combined one."""
    scores, clinical = getattr(pred, "scores", None), getattr(pred, "clinical", None)
    if scores is None or clinical is None:
        return ""
    parts = []
    for label, v in (("age", clinical.age), ("sex", clinical.sex), ("weight", clinical.weight)):
        if v is not None:
            value = f"{v.value:.0f}" if isinstance(v.value, float) else str(v.value)
            parts.append(f"{label} {value} ({v.source})")
    text = ("Inputs: " + "; ".join(parts) + ".") if parts else "No age or sex known for this patient."
    if pred.score_basis == "combined":
        text += f" Image score alone {scores.image:.2f}."
        if scores.clinical is not None:
            text += f" Age and sex alone {scores.clinical:.2f}."
    if clinical.ost_index is not None:
        text += f" OST index {clinical.ost_index:.1f} (reference: below -1 suggests increased risk)."
    return text
