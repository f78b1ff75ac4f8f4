"""Dark Fusion theme (the default: radiographs are read in a dim room on a dark surround)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = QColor(64, 156, 255)
WARN = QColor(255, 184, 77)
ERROR = QColor(255, 107, 107)
OK = QColor(120, 200, 140)
MUTED = QColor(160, 160, 165)


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 30, 32), QColor(40, 40, 43), QColor(226, 226, 230)
    disabled = QColor(120, 120, 125)
    for role, colour in (
        (QPalette.ColorRole.Window, window),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base),
        (QPalette.ColorRole.AlternateBase, QColor(46, 46, 50)),
        (QPalette.ColorRole.ToolTipBase, QColor(55, 55, 60)),
        (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.PlaceholderText, disabled),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, QColor(52, 52, 56)),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.BrightText, QColor(255, 80, 80)),
        (QPalette.ColorRole.Link, ACCENT),
        (QPalette.ColorRole.Highlight, QColor(42, 110, 190)),
        (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.Light, QColor(70, 70, 75)),
        (QPalette.ColorRole.Midlight, QColor(60, 60, 64)),
        (QPalette.ColorRole.Mid, QColor(45, 45, 48)),
        (QPalette.ColorRole.Dark, QColor(22, 22, 24)),
        (QPalette.ColorRole.Shadow, QColor(0, 0, 0)),
    ):
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(
        "QToolTip { color: #e2e2e6; background-color: #37373c; border: 1px solid #55555a; }"
        "QDockWidget::title { padding: 4px; background: #2b2b2e; }"
    )
