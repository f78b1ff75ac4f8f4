"""Full-resolution image export: the film at its own pixel size (not a screen grab), as displayed
(window, inversion, rotation, flips), with the attention map and the measurements if asked, stamped
NOT FOR DIAGNOSTIC USE. The file type follows the name: .png or .jpg/.jpeg.

`ask_image_options` (the dialog) is a module-level function so that tests can replace it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont, QImage, QImageWriter, QPainter, QTransform
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..core.overlay import stamp
from .film_view import FilmView
from .imaging import qimage_to_rgb, rgb_qimage
from .path_field import path_field
from .tools.paint import paint_measurements

log = logging.getLogger(__name__)

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
FILTER = "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"
JPEG_QUALITY = 95
STAMP = "NOT FOR DIAGNOSTIC USE"


@dataclass(frozen=True)
class ImageOptions:
    path: Path
    attention: bool = False
    measurements: bool = True


def image_format(path: str | Path) -> str | None:
    """"PNG" or "JPEG" from the file name, None for any other name."""
    return FORMATS.get(Path(path).suffix.lower())


def render_full(view: FilmView, *, attention: bool, measurements: bool) -> QImage:
    """The film on display at full resolution, as displayed, with the chosen layers, stamped."""
    u8 = view.display_u8()
    film = view.film
    if u8 is None or film is None:
        return QImage()
    rows, cols = u8.shape
    img = rgb_qimage(np.repeat(u8[:, :, None], 3, axis=2))
    p = QPainter(img)
    cam = view.cam_layer() if attention else None
    if cam is not None:
        p.setOpacity(view.cam_opacity)
        p.drawImage(QRectF(0, 0, cols, rows), cam, QRectF(cam.rect()))
        p.setOpacity(1.0)
    tools = view.tools
    if measurements and (tools.items or tools.calibration is not None):
        f = QFont(view.font())
        f.setPixelSize(max(14, int(max(rows, cols) / 70)))
        p.setFont(f)
        paint_measurements(p, QTransform(), tools.items, tools.lines, cols, rows,
                           calibration=tools.calibration_measurement(), scale=max(1.0, max(rows, cols) / 800.0))
    p.end()
    fh, fv = view.flips
    turn = QTransform().rotate(float(view.rotation)) * QTransform.fromScale(-1.0 if fh else 1.0, -1.0 if fv else 1.0)
    if not turn.isIdentity():
        img = img.transformed(turn, Qt.TransformationMode.FastTransformation)  # quarter turns and flips: exact
    return rgb_qimage(stamp(qimage_to_rgb(img), STAMP))


def save_image(img: QImage, path: str | Path) -> None:
    """Write `img` as the type its name says. Raises ValueError (unknown type) or OSError."""
    fmt = image_format(path)
    if fmt is None:
        raise ValueError(f"{Path(path).name}: name the file .png or .jpg to choose the image type.")
    writer = QImageWriter(str(path), fmt.encode("ascii"))
    if fmt == "JPEG":
        writer.setQuality(JPEG_QUALITY)
    if not writer.write(img):
        raise OSError(f"{path}: the image could not be written ({writer.errorString()}); check the folder and free space.")


class ImageExportDialog(QDialog):
    def __init__(self, parent: QWidget | None, *, path: str, attention_available: bool, has_measurements: bool):
        super().__init__(parent)
        self.setWindowTitle("Export image (full resolution)")
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        row, self.path_edit = path_field(path, self._browse)
        form.addRow("Save as:", row)
        self.measure_check = QCheckBox("Measurements")
        self.measure_check.setChecked(has_measurements)
        self.measure_check.setEnabled(has_measurements)
        self.cam_check = QCheckBox("Attention map (as shown)")
        self.cam_check.setEnabled(attention_available)
        form.addRow("", self.measure_check)
        form.addRow("", self.cam_check)
        lay.addLayout(form)
        self.note = QLabel("The film at its own resolution, as displayed; .png or .jpg chooses the type.")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.path_edit.textChanged.connect(self._check)
        self._check()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export image", self.path_edit.text(), FILTER)
        if path:
            self.path_edit.setText(path)

    def _check(self) -> None:
        ok = image_format(self.path_edit.text().strip()) is not None
        self.export_button.setEnabled(ok)
        self.note.setText("The film at its own resolution, as displayed; .png or .jpg chooses the type." if ok or not
                          self.path_edit.text().strip() else "Name the file .png or .jpg (the type follows the name).")

    def options(self) -> ImageOptions | None:
        text = self.path_edit.text().strip()
        if image_format(text) is None:
            return None
        return ImageOptions(Path(text).expanduser(), self.cam_check.isChecked(), self.measure_check.isChecked())


def ask_image_options(parent: QWidget | None, **kw: Any) -> ImageOptions | None:
    d = ImageExportDialog(parent, **kw)
    try:
        return d.options() if d.exec() == QDialog.DialogCode.Accepted else None
    finally:
        d.deleteLater()
