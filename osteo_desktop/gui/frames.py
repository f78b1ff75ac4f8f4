"""Frame scrolling and cine for multi-frame films in the main viewport.

The loaded film is frame 1 (what is screened). The other frames come from `core.loading.frames`,
decoded one at a time when shown (a small cache keeps the recent ones). Showing a frame swaps the
view's pixels only: window, zoom, orientation and the film's measurements stay. The corner says
"frame i / n". Cine plays at the file's own rate (CineRate, RecommendedDisplayFrameRate or
FrameTime), else 10 frames per second.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ..core.errors import FilmLoadError
from ..core.loading.frames import FrameSource
from .film_view import FilmView
from .imaging import FilmRenderer, LoadedFilm

log = logging.getLogger(__name__)

DEFAULT_FPS = 10.0


def frame_rate(header: object) -> float:
    """Frames per second the file asks for (1..60), else DEFAULT_FPS."""
    get = getattr(header, "get", None)
    if get is None:
        return DEFAULT_FPS
    for keyword, to_fps in (("CineRate", float), ("RecommendedDisplayFrameRate", float),
                            ("FrameTime", lambda ms: 1000.0 / float(ms))):
        try:
            value = get(keyword)
            if value not in (None, ""):
                fps = to_fps(value)
                if 0 < fps:
                    return max(1.0, min(60.0, fps))
        except (TypeError, ValueError, ZeroDivisionError):
            continue
    return DEFAULT_FPS


class FramePlayer(QObject):
    frame_shown = Signal(int)  # 0-based index
    playing_changed = Signal(bool)

    def __init__(self, view: FilmView, report: Callable[[str], None], parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self._report = report
        self.source: FrameSource | None = None
        self._base: LoadedFilm | None = None
        self.index = 0
        self._timer = QTimer(self)
        self._timer.timeout.connect(lambda: self.step(1))

    @property
    def count(self) -> int:
        return len(self.source) if self.source is not None else 1

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def set_film(self, lf: LoadedFilm | None) -> None:
        """A film is shown in the view: frame 1 of it."""
        self.stop()
        self.source, self._base, self.index = None, lf, 0
        if lf is not None and lf.film.frame_count > 1 and lf.film.is_dicom:
            try:
                self.source = FrameSource(lf.film)
            except FilmLoadError as e:
                self._report(str(e))
        self._label()

    def _label(self) -> None:
        self.view.frame_text = f"frame {self.index + 1} / {self.count}" if self.source is not None else ""
        self.view.update()

    def show(self, index: int) -> bool:
        if self.source is None or self._base is None:
            return False
        index %= self.count
        try:
            pixels = self.source.frame(index)
        except FilmLoadError as e:
            self.stop()
            self._report(str(e))
            return False
        base = self._base
        film = dataclasses.replace(base.film, pixels=pixels) if index else base.film
        lf = base if index == 0 else LoadedFilm(film, FilmRenderer(film), base.choice, base.presets, base.thumbnail)
        self.index = index
        self.view.replace_pixels(lf)
        self._label()
        self.frame_shown.emit(index)
        return True

    def step(self, delta: int) -> bool:
        if self.source is None:
            return False
        return self.show(self.index + delta)

    def toggle(self) -> bool:
        """Play or stop cine. False when the film has one frame."""
        if self.source is None:
            return False
        if self.playing:
            self.stop()
        else:
            fps = frame_rate(self._base.film.header if self._base else None)
            self._timer.start(max(15, int(round(1000.0 / fps))))
            self.playing_changed.emit(True)
        return True

    def stop(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.playing_changed.emit(False)
