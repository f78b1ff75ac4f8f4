"""Navigation: PgDown/PgUp count from the film last asked for, arrow keys in the study browser open
films, and an option makes the wheel step through films (Ctrl+wheel zooms)."""

from __future__ import annotations

import time

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from .conftest import FakeScreener, write_png


def _folder(tmp_path, n):
    d = tmp_path / "films"
    d.mkdir()
    return d, [write_png(d / f"film_{i:02d}.png", seed=i) for i in range(n)]


def _open_all(qtbot, w, folder, n):
    with qtbot.waitSignal(w.film_shown, timeout=30000):
        w.open_paths([folder])
    qtbot.waitUntil(lambda: len(w.browser.paths()) == n, timeout=30000)


def test_ten_quick_page_downs_move_ten_films_while_they_load(qtbot, make_window, tmp_path):
    folder, films = _folder(tmp_path, 12)
    w = make_window(FakeScreener(), auto_screen=False)
    _open_all(qtbot, w, folder, 12)
    assert w.session.current_key == str(films[0])
    load = w.loader._load

    def slow_load(path):  # every film takes a while to read: the presses come faster than the films
        time.sleep(0.05)
        return load(path)

    w.loader._load = slow_load
    for key in list(w.session.film_keys()):
        if key != w.session.current_key:
            w.session._films.pop(key)  # evicted: each step has to load its film
    shown = []
    w.film_shown.connect(shown.append)
    w.view.setFocus()
    for _ in range(10):
        qtbot.keyClick(w, Qt.Key.Key_PageDown)
    assert w.session.navigation_key == str(films[10])
    qtbot.waitUntil(lambda: w.session.current_key == str(films[10]), timeout=30000)
    qtbot.wait(300)  # loads of films passed over must not show up afterwards
    assert shown[-1] == str(films[10]) and w.session.current_key == str(films[10])
    qtbot.keyClick(w, Qt.Key.Key_PageUp)
    qtbot.keyClick(w, Qt.Key.Key_PageUp)
    qtbot.waitUntil(lambda: w.session.current_key == str(films[8]), timeout=30000)


def test_arrow_keys_in_the_study_browser_open_the_film(qtbot, make_window, tmp_path):
    folder, films = _folder(tmp_path, 3)
    w = make_window(FakeScreener(), auto_screen=False)
    _open_all(qtbot, w, folder, 3)
    w.browser.tree.setFocus()
    with qtbot.waitSignal(w.film_shown, timeout=15000) as sig:
        qtbot.keyClick(w.browser.tree, Qt.Key.Key_Down)
    assert sig.args[0] == str(films[1])
    with qtbot.waitSignal(w.film_shown, timeout=15000) as sig:
        qtbot.keyClick(w.browser.tree, Qt.Key.Key_Down)
    assert sig.args[0] == str(films[2])
    with qtbot.waitSignal(w.film_shown, timeout=15000) as sig:
        qtbot.keyClick(w.browser.tree, Qt.Key.Key_Up)
    assert sig.args[0] == str(films[1])


def _wheel(widget, dy, modifiers=Qt.KeyboardModifier.NoModifier):
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    glob = QPointF(widget.mapToGlobal(QPoint(int(pos.x()), int(pos.y()))))
    ev = QWheelEvent(pos, glob, QPoint(0, 0), QPoint(0, dy), Qt.MouseButton.NoButton, modifiers,
                     Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


def test_wheel_option_steps_films_and_ctrl_wheel_zooms(qtbot, make_window, tmp_path, settings):
    folder, films = _folder(tmp_path, 3)
    w = make_window(FakeScreener(), auto_screen=False)
    _open_all(qtbot, w, folder, 3)
    zoom = w.view.zoom_percent()
    _wheel(w.view, -120)  # off: the wheel zooms
    assert w.view.zoom_percent() != zoom and w.session.current_key == str(films[0])
    w.wheel_action.trigger()
    assert w.view.wheel_steps_films and settings.value("view/wheel_steps_films", type=bool)
    with qtbot.waitSignal(w.film_shown, timeout=15000) as sig:
        _wheel(w.view, -120)  # wheel down: the next film
    assert sig.args[0] == str(films[1])
    _wheel(w.view, 60)  # half a notch (a touchpad): nothing yet
    assert w.session.navigation_key == str(films[1])
    with qtbot.waitSignal(w.film_shown, timeout=15000) as sig:
        _wheel(w.view, 60)
    assert sig.args[0] == str(films[0])
    zoom = w.view.zoom_percent()
    _wheel(w.view, 120, Qt.KeyboardModifier.ControlModifier)
    assert w.view.zoom_percent() > zoom and w.session.current_key == str(films[0])
