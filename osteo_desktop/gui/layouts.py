"""Viewport layouts: the film view alone (1 x 1), or 1 x 2 / 2 x 2 viewports for comparison.

Viewport 0 holds the main film view (the current film); the others are film views of their own,
created when a layout first needs them. In a comparison layout each viewport has a header: the
film's date and anatomy, and its own screening result in the result's words. With "synchronise"
on, zoom and pan (relative to each film's fit, so films of different sizes frame alike) and the
window (relative to each film's full range) follow whichever viewport the reader works in.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from ..core.film import Window
from .film_view import FilmView

LAYOUTS = {"1x1": (1, 1), "1x2": (1, 2), "2x2": (2, 2)}
EMPTY_TEXT = ("No other film of this patient with the same anatomy is open.\n"
              "Open the patient's other studies (File > Open folder) to compare.")


ViewState = tuple[float, float, float]
WindowState = tuple[float, float, str]


def view_state(v: FilmView) -> ViewState:
    """(zoom relative to fit, centre column / columns, centre row / rows): the same framing on another
    film of another size."""
    rows, cols = v.film.shape if v.film is not None else (1, 1)
    cx, cy = v.center
    return v.zoom / v.fit_zoom(), cx / cols, cy / rows


def set_view_state(v: FilmView, state: ViewState) -> None:
    if v.film is None:
        return
    rel, fx, fy = state
    rows, cols = v.film.shape
    fit = abs(rel - 1.0) < 1e-9 and abs(fx - 0.5) < 1e-9 and abs(fy - 0.5) < 1e-9
    v.set_geometry(rel * v.fit_zoom(), fx * cols, fy * rows, fit)


def window_state(v: FilmView) -> WindowState | None:
    """The window relative to the film's full range (centre, width as fractions), for films that differ
    in bit depth; None while the file's VOI LUT is in use."""
    w, full = v.display_window, v.full_range
    if w is None or v.film is None:
        return None
    return (w.center - full.low) / full.width, w.width / full.width, w.function


def set_window_state(v: FilmView, state: WindowState | None, invert: bool | None = None) -> None:
    if v.film is None or state is None:
        return
    c, wd, fn = state
    full = v.full_range
    v.set_window(Window(full.low + c * full.width, max(wd * full.width, 1e-6), "synchronised", fn), invert)


class Viewport(QFrame):
    """A film view under a header (the film, and its result)."""

    activated = Signal(object)  # double-click in the header: this viewport

    def __init__(self, view: FilmView, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        self.index = index
        self.key: str | None = None
        self.setObjectName("viewport")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(1, 1, 1, 1)
        lay.setSpacing(0)
        self.header = QFrame(self)
        self.header.setObjectName("viewportHeader")
        self.header.setStyleSheet("#viewportHeader { background: #26262a; }")
        hl = QVBoxLayout(self.header)
        hl.setContentsMargins(6, 3, 6, 3)
        hl.setSpacing(1)
        self.title = QLabel("")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.result = QLabel("")
        self.result.setTextFormat(Qt.TextFormat.PlainText)
        self.result.setWordWrap(True)
        hl.addWidget(self.title)
        hl.addWidget(self.result)
        lay.addWidget(self.header)
        lay.addWidget(view, 1)
        self.set_active(False)

    def set_info(self, title: str, result: str, colour: str = "#c8c8cc") -> None:
        self.title.setText(title)
        self.result.setText(result)
        self.result.setStyleSheet(f"color: {colour};")

    def set_active(self, active: bool) -> None:
        colour = "#2a6ebe" if active else "#18181a"
        self.setStyleSheet(f"#viewport {{ border: 1px solid {colour}; }}")

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        self.activated.emit(self)
        e.accept()


class ViewerGrid(QWidget):
    """Holds the viewports of the current layout."""

    layout_changed = Signal(str)
    viewport_activated = Signal(object)  # a Viewport the reader double-clicked (its header or its film)

    def __init__(self, main_view: FilmView, parent: QWidget | None = None):
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.viewports: list[Viewport] = []
        self.layout_name = "1x1"
        self.sync = True
        self._syncing = False
        self._new_view_hooks: list = []
        self._add_viewport(main_view)
        self._arrange()

    def on_new_view(self, hook) -> None:
        """Call `hook(view)` for every film view, present and future (measurement kit, settings...)."""
        self._new_view_hooks.append(hook)
        for vp in self.viewports:
            hook(vp.view)

    def _add_viewport(self, view: FilmView) -> Viewport:
        vp = Viewport(view, len(self.viewports), self)
        vp.activated.connect(self.viewport_activated)
        view.view_changed.connect(lambda v=view: self._sync_view(v))
        view.window_changed.connect(lambda v=view: self._sync_window(v))
        if self.viewports:  # a viewport beside the main one: keep the main one's framing when it is resized
            view.resized.connect(lambda v=view: self._follow_main(v))
        view.double_clicked.connect(lambda vp=vp: self._double_clicked(vp))
        self.viewports.append(vp)
        for hook in self._new_view_hooks:
            hook(view)
        return vp

    def _double_clicked(self, vp: Viewport) -> None:
        if vp.index and self.layout_name != "1x1":
            self.viewport_activated.emit(vp)

    @property
    def count(self) -> int:
        rows, cols = LAYOUTS[self.layout_name]
        return rows * cols

    def visible_viewports(self) -> list[Viewport]:
        return self.viewports[: self.count]

    def set_layout(self, name: str) -> None:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; one of {', '.join(LAYOUTS)}")
        while len(self.viewports) < LAYOUTS[name][0] * LAYOUTS[name][1]:
            v = FilmView(self)
            v.placeholder = EMPTY_TEXT
            self._add_viewport(v)
        self.layout_name = name
        self._arrange()
        self.layout_changed.emit(name)

    def _arrange(self) -> None:
        rows, cols = LAYOUTS[self.layout_name]
        for vp in self.viewports:
            self._grid.removeWidget(vp)
        for i, vp in enumerate(self.viewports):
            shown = i < rows * cols
            vp.setVisible(shown)
            vp.header.setVisible(self.layout_name != "1x1")
            vp.set_active(i == 0 and self.layout_name != "1x1")
            if shown:
                self._grid.addWidget(vp, i // cols, i % cols)
            elif i:
                vp.view.set_film(None)
                vp.key = None

    # -- synchronisation ------------------------------------------------------------------------
    def set_sync(self, on: bool) -> None:
        self.sync = bool(on)
        if on and self.viewports[0].view.film is not None:
            self._sync_view(self.viewports[0].view)
            self._sync_window(self.viewports[0].view)

    def show_film(self, vp: Viewport, lf, key: str | None) -> None:
        """Put a film in a viewport without disturbing the others; it then takes the main viewport's
        framing and window when synchronised."""
        self._syncing = True
        try:
            vp.view.set_film(lf)
            vp.key = key
        finally:
            self._syncing = False
        main = self.viewports[0].view
        if self.sync and lf is not None and vp.index and main.film is not None:
            self._syncing = True
            try:
                set_view_state(vp.view, view_state(main))
                set_window_state(vp.view, window_state(main), main.inverted)
            finally:
                self._syncing = False

    def _follow_main(self, view: FilmView) -> None:
        main = self.viewports[0].view
        if self.sync and not self._syncing and view.film is not None and main.film is not None and self.layout_name != "1x1":
            self._syncing = True
            try:
                set_view_state(view, view_state(main))
            finally:
                self._syncing = False

    def _others(self, source: FilmView) -> list[FilmView]:
        if not self.sync or self._syncing or self.layout_name == "1x1":
            return []
        return [vp.view for vp in self.visible_viewports() if vp.view is not source and vp.view.film is not None]

    def _sync_view(self, source: FilmView) -> None:
        others = self._others(source)
        if not others or source.film is None:
            return
        state = view_state(source)
        self._syncing = True
        try:
            for v in others:
                set_view_state(v, state)
        finally:
            self._syncing = False

    def _sync_window(self, source: FilmView) -> None:
        others = self._others(source)
        state = window_state(source)
        if not others or state is None:
            return
        self._syncing = True
        try:
            for v in others:
                set_window_state(v, state, source.inverted)
        finally:
            self._syncing = False
