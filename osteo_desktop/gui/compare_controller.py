"""Comparison layouts: which films fill the viewports beside the current one, and what each shows.

Every film seen (loaded for display, for a folder, for a report) is noted in a catalogue of film
identifiers (`core.compare.FilmInfo`); the viewports beside the current film get the same
patient's films of the same anatomy, the most recent prior first (`core.compare.comparison_films`).
A film that left the memory cache is loaded again. Each viewport's header shows the film's date and
anatomy and its own screening result in the result's words (`Prediction.decision_text`: a film not
screened says why, an unvalidated score says "for information only"), or that it is not screened
yet. Double-clicking a viewport makes its film the current one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from ..core.compare import FilmInfo, comparison_films
from ..core.scoring import decision_colour
from .imaging import LoadedFilm
from .layouts import ViewerGrid, Viewport
from .view_overlays import fmt_date

if TYPE_CHECKING:
    from ..core.inference import Prediction
    from .main_window import MainWindow

log = logging.getLogger(__name__)

LAYOUT_KEY = "view/layout"
SYNC_KEY = "view/sync"
NOT_SCREENED_YET = "Not screened yet (double-click to make it the current film, then S)"


def result_text(pred: Prediction | None) -> tuple[str, str]:
    """(text, colour) of a film's result for a viewport header."""
    if pred is None:
        return NOT_SCREENED_YET, "#a0a0a5"
    return pred.decision_text, decision_colour(pred.decision, surface="screen", validated=pred.validated)


def film_title(lf: LoadedFilm) -> str:
    ids = lf.film.ids
    anatomy = " ".join(x for x in (ids.body_part, ids.view_position, ids.laterality) if x)
    parts = [fmt_date(ids.study_date or ids.acquisition_date), anatomy, lf.film.display_name]
    return " · ".join(p for p in parts if p)


class CompareController(QObject):
    def __init__(self, window: MainWindow, grid: ViewerGrid):
        super().__init__(window)
        self.w = window
        self.grid = grid
        self.catalog: dict[str, FilmInfo] = {}
        self._waiting: dict[str, Viewport] = {}  # film key -> the viewport it is loaded for
        grid.viewport_activated.connect(self._activated)
        window.screening_done.connect(lambda *_: self.refresh_results())

    # -- what is known -------------------------------------------------------------------------------
    def note(self, lf: LoadedFilm) -> None:
        """A film arrived (any load job): catalogue it, and show it if a viewport waits for it."""
        vp = self._waiting.pop(lf.key, None)
        if vp is not None and vp.key == lf.key and vp.index < self.grid.count:
            self.catalog[lf.key] = FilmInfo.of(lf.key, lf.film)
            self._show(vp, lf)
            return
        self.note_info(FilmInfo.of(lf.key, lf.film))

    def note_info(self, info: FilmInfo) -> None:
        """A film is known (listed from its header, or loaded): a possible prior of the current film."""
        known = info.key in self.catalog
        self.catalog[info.key] = info
        if not known and self.grid.layout_name != "1x1" and info.key != self.w.session.current_key and any(
                v.view.film is None and v.key is None for v in self.grid.visible_viewports()[1:]):
            self.refresh()  # a folder still being listed: a prior may have just appeared

    # -- layout ----------------------------------------------------------------------------------------
    def set_layout(self, name: str) -> None:
        self.grid.set_layout(name)
        self.w.settings.setValue(LAYOUT_KEY, name)
        for a_name, a in self.w.layout_actions.items():
            a.blockSignals(True)
            a.setChecked(a_name == name)
            a.blockSignals(False)
        self.refresh()

    def set_sync(self, on: bool) -> None:
        self.grid.set_sync(on)
        self.w.settings.setValue(SYNC_KEY, bool(on))

    def refresh(self) -> None:
        """Fill the viewports beside the current film (after a layout change or another current film)."""
        self._waiting.clear()
        vps = self.grid.visible_viewports()
        current = self.w.session.current_key
        if len(vps) > 1:
            keys = comparison_films(current, self.catalog, len(vps) - 1) if current else []
            for vp, key in zip(vps[1:], keys + [None] * (len(vps) - 1 - len(keys)), strict=True):
                if key is None:
                    self.grid.show_film(vp, None, None)
                    vp.set_info("", "")
                    continue
                if vp.key == key and vp.view.film is not None:
                    continue
                lf = self.w.session.film(key)
                if lf is not None:
                    self._show(vp, lf)
                else:  # left the memory cache: read it again
                    self.grid.show_film(vp, None, key)
                    vp.set_info(Path(key).name, "Loading…")
                    self._waiting[key] = vp
                    self.w.loader.load([key])
        self.refresh_results()

    def _show(self, vp: Viewport, lf: LoadedFilm) -> None:
        self.grid.show_film(vp, lf, lf.key)
        self._info(vp)

    def _info(self, vp: Viewport) -> None:
        lf = vp.view.loaded
        if lf is None or vp.key is None:
            return
        text, colour = result_text(self.w.session.result(vp.key))
        if vp.index == 0 and self.w.session.result(vp.key) is None:
            text = "Not screened yet (S screens it)"
        vp.set_info(film_title(lf), text, colour)

    def refresh_results(self) -> None:
        if self.grid.layout_name == "1x1":
            return
        for vp in self.grid.visible_viewports():
            if vp.index == 0:
                vp.key = self.w.session.current_key
            self._info(vp)

    def _activated(self, vp: Viewport) -> None:
        if vp.index and vp.key:
            self.w.show_path(vp.key)
