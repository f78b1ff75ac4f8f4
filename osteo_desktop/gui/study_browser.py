"""The study browser dock: films grouped by patient, then study, with thumbnails.

A DICOM film is grouped by PatientID and StudyInstanceUID; a PNG/JPEG/TIFF is its own patient.
Films are added from their headers (`core.loading.header.FilmHeader`, or a loaded `Film`: both
say the same about identity) with a placeholder; the thumbnail follows (`set_thumbnail`).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QApplication, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ..core.film import Film
from ..core.loading.header import FilmHeader

PATH_ROLE = Qt.ItemDataRole.UserRole + 1


Listed = Film | FilmHeader  # what the browser needs: path, ids, source_format, is_dicom, patient_key, display_name


def _placeholder(size: int = 64) -> QIcon:
    """The icon of a film whose thumbnail is still being made (rows keep their height)."""
    pm = QPixmap(size, size)
    pm.fill(QColor(40, 40, 40))
    return QIcon(pm)


def _fmt_date(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}" if len(da) == 8 and da.isdigit() else da


def patient_label(film: Listed) -> str:
    ids = film.ids
    if not film.is_dicom:
        return f"{film.display_name} ({film.source_format or 'image'})"
    name = ids.patient_name.replace("^", " ").strip() or "(no name)"
    return f"{name} — {ids.patient_id}" if ids.patient_id else name


def study_key(film: Listed) -> str:
    return film.ids.study_instance_uid or f"file:{film.path}"


def study_label(film: Listed) -> str:
    ids = film.ids
    parts = [_fmt_date(ids.study_date), ids.study_description or ids.accession_number]
    text = " · ".join(p for p in parts if p)
    return text or ("Study" if film.is_dicom else "Image")


def film_label(film: Listed) -> str:
    ids = film.ids
    kind = " ".join(x for x in (ids.modality, ids.body_part, ids.view_position, ids.laterality) if x)
    return f"{kind}\n{film.display_name}" if kind else film.display_name



def children(item: QTreeWidgetItem | None) -> list[QTreeWidgetItem]:
    """The child items of a tree item, in order."""
    if item is None:
        return []
    return [c for c in (item.child(i) for i in range(item.childCount())) if c is not None]


class StudyBrowser(QWidget):
    film_activated = Signal(str)  # path

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(QSize(64, 64))
        self.tree.setUniformRowHeights(False)
        self.tree.setIndentation(14)
        self.tree.setExpandsOnDoubleClick(False)
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        self.tree.currentItemChanged.connect(self._current_changed)  # arrow keys open the film
        lay.addWidget(self.tree)
        self._patients: dict[str, QTreeWidgetItem] = {}
        self._studies: dict[tuple[str, str], QTreeWidgetItem] = {}
        self._films: dict[str, QTreeWidgetItem] = {}
        self._placeholder: QIcon | None = None
        self._thumbs: set[str] = set()  # films that have their thumbnail

    def sizeHint(self) -> QSize:
        return QSize(250, 500)

    def add_film(self, film: Listed, thumb: QImage | None = None) -> QTreeWidgetItem:
        """Add a film (from its header or loaded) under its patient and study; an existing one only
        gets the thumbnail, if one is given."""
        key = str(film.path)
        if key in self._films:
            item = self._films[key]
            if thumb is not None and not thumb.isNull():
                self.set_thumbnail(key, thumb)
            return item
        pk = film.patient_key
        pat = self._patients.get(pk)
        if pat is None:
            pat = QTreeWidgetItem(self.tree, [patient_label(film)])
            f = pat.font(0)
            f.setBold(True)
            pat.setFont(0, f)
            pat.setToolTip(0, patient_label(film))
            self._patients[pk] = pat
            pat.setExpanded(True)
        sk = (pk, study_key(film))
        st = self._studies.get(sk)
        if st is None:
            st = QTreeWidgetItem(pat, [study_label(film)])
            st.setToolTip(0, study_label(film))
            self._studies[sk] = st
            st.setExpanded(True)
        item = QTreeWidgetItem(st, [film_label(film)])
        item.setData(0, PATH_ROLE, key)
        item.setToolTip(0, key)
        self._films[key] = item
        if thumb is not None and not thumb.isNull():
            self.set_thumbnail(key, thumb)
        else:
            if self._placeholder is None:
                self._placeholder = _placeholder(self.tree.iconSize().width())
            item.setIcon(0, self._placeholder)
        self._films[key] = item
        pat.setExpanded(True)
        st.setExpanded(True)
        return item

    def set_thumbnail(self, path: str, thumb: QImage) -> bool:
        """Give a listed film its thumbnail; False when the film is not listed."""
        item = self._films.get(path)
        if item is None or thumb.isNull():
            return False
        item.setIcon(0, QIcon(QPixmap.fromImage(thumb)))
        self._thumbs.add(path)
        return True

    def has_thumbnail(self, path: str) -> bool:
        return path in self._thumbs

    def select(self, path: str) -> None:
        item = self._films.get(path)
        if item is not None:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(item)
            self.tree.blockSignals(False)
            self.tree.scrollToItem(item)

    def paths(self) -> list[str]:
        """Films in display order (patients, studies, films as listed)."""
        return [f.data(0, PATH_ROLE) for pat in children(self.tree.invisibleRootItem())
                for st in children(pat) for f in children(st)]

    def patient_paths(self, path: str) -> list[str]:
        """The films of `path`'s patient (the same `Film.patient_key`), in display order; [] if unknown."""
        item = self._films.get(path)
        if item is None:
            return []
        pat = item
        while (parent := pat.parent()) is not None:
            pat = parent
        return [f.data(0, PATH_ROLE) for st in children(pat) for f in children(st)]

    def patient_count(self) -> int:
        return self.tree.topLevelItemCount()

    def _current_changed(self, item: QTreeWidgetItem | None, previous: QTreeWidgetItem | None = None) -> None:
        """Arrow keys open the film they land on; landing on a patient or study row (by keyboard),
        they go on to the next film in the same direction."""
        if item is None:
            return
        if item.data(0, PATH_ROLE):
            self._activated(item)
            return
        if previous is None or QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return  # a click on a header row selects it, nothing more
        down = self.tree.itemAbove(item) is previous
        nxt: QTreeWidgetItem | None = item
        while nxt is not None and not nxt.data(0, PATH_ROLE):
            nxt = self.tree.itemBelow(nxt) if down else self.tree.itemAbove(nxt)
        if nxt is not None:
            self.tree.setCurrentItem(nxt)

    def _activated(self, item: QTreeWidgetItem, _col: int = 0) -> None:
        path = item.data(0, PATH_ROLE)
        if path:
            self.film_activated.emit(path)
