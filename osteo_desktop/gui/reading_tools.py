"""The reading tools in the main window: the measurement kit (`measure_controller`), comparison
layouts (`layouts`, `compare_controller`), frames and cine (`frames`), the loupe, full-resolution
image export (`image_export`) and "reading first, AI second" (the attention map is off when a film
opens unless the setting says otherwise). The window creates one `ReadingTools` and calls
`restore`, `film_loaded` and `film_shown`; the menus (`reading_menus`) call the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from ..core.compare import FilmInfo
from ..core.loading.header import FilmHeader
from . import image_export
from .compare_controller import LAYOUT_KEY, SYNC_KEY, CompareController
from .film_view import FilmView
from .frames import FramePlayer
from .imaging import LoadedFilm
from .measure_controller import MeasureController
from .messages import ERROR, WARNING

if TYPE_CHECKING:
    from .main_window import MainWindow

CAM_ON_OPEN_KEY = "overlay/show_on_open"


class ReadingTools(QObject):
    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.w = window
        self.measure = MeasureController(window)
        window.grid.on_new_view(self._new_view)
        self.compare = CompareController(window, window.grid)
        self.frames = FramePlayer(window.view, lambda text: window.post(WARNING, text, film=window.session.current_key), self)
        self.cam_on_open = False

    def restore(self) -> None:
        """Settings into the menus (after they are built)."""
        w, s = self.w, self.w.settings
        self.cam_on_open = bool(s.value(CAM_ON_OPEN_KEY, False, type=bool))  # reading first, AI second
        w.cam_default_action.setChecked(self.cam_on_open)
        w.cam_action.setChecked(self.cam_on_open)
        w.set_cam_visible(self.cam_on_open)
        w.beside_action.setChecked(self.measure.store.beside_film)
        w.sync_action.setChecked(bool(s.value(SYNC_KEY, True, type=bool)))
        w.grid.set_sync(w.sync_action.isChecked())
        layout = str(s.value(LAYOUT_KEY, "1x1", type=str))
        self.compare.set_layout(layout if layout in w.layout_actions else "1x1")

    def film_listed(self, key: str, header: FilmHeader) -> None:
        """A film of an opened folder is known from its header (not loaded yet): a possible prior."""
        self.compare.note_info(FilmInfo.of(key, header))

    def film_loaded(self, lf: LoadedFilm) -> None:
        self.compare.note(lf)

    def film_shown(self, lf: LoadedFilm) -> None:
        """The main view shows `lf` now (the window already set it)."""
        self.w.messages.show_film(lf.key)  # messages about the film shown before go
        self.frames.set_film(lf)
        self.w.cam_action.setChecked(self.cam_on_open)  # reading first: the attention map on request (G)

    def _new_view(self, view: FilmView) -> None:
        self.measure.attach(view)
        main = self.w.view
        view.set_cam_opacity(main.cam_opacity)
        view.overlays_visible = main.overlays_visible
        view.set_loupe(main.loupe_on)

    # -- menu actions ----------------------------------------------------------------------------
    def set_loupe(self, on: bool) -> None:
        for vp in self.w.grid.viewports:
            vp.view.set_loupe(on)

    def set_text_overlays(self, on: bool) -> None:
        for vp in self.w.grid.viewports:
            vp.view.overlays_visible = on
            vp.view.update()

    def set_cam_on_open(self, on: bool) -> None:
        self.cam_on_open = bool(on)
        self.w.settings.setValue(CAM_ON_OPEN_KEY, bool(on))

    def step_frame(self, delta: int) -> None:
        if not self.frames.step(delta):
            self.w.statusBar().showMessage("This film has one frame.", 3000)

    def toggle_cine(self) -> None:
        if not self.frames.toggle():
            self.w.statusBar().showMessage("This film has one frame: nothing to play.", 3000)

    def export_image_dialog(self) -> None:
        w = self.w
        if w.current is None:
            w.statusBar().showMessage("Nothing to export: open a film first.", 5000)
            return
        name = Path(w.recent.last_dir()) / f"{Path(w.session.current_key or 'film').stem}.png"
        opts = image_export.ask_image_options(w, path=str(name), attention_available=w.view.cam_drawn(),
                                              has_measurements=bool(w.view.measurements))
        if opts is not None:
            self.export_image(opts.path, attention=opts.attention, measurements=opts.measurements)

    def export_image(self, path: str | Path, *, attention: bool = False, measurements: bool = True) -> bool:
        """The film at full resolution as displayed (PNG or JPEG by the name), stamped."""
        img = image_export.render_full(self.w.view, attention=attention, measurements=measurements)
        if img.isNull():
            return False
        try:
            image_export.save_image(img, path)
        except (ValueError, OSError) as e:
            self.w.post(ERROR, str(e))
            return False
        self.w.statusBar().showMessage(f"Saved {path} ({img.width()} × {img.height()})", 6000)
        return True
