"""The main window end to end (real film loading; a fake screener unless stated)."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from osteo_desktop.gui import screening as scr
from osteo_desktop.gui.export_controller import EXPORT_STAMP
from osteo_desktop.gui.imaging import qimage_to_rgb

from .conftest import FakeScreener, drag, make_film, write_dicom, write_png


def _open(qtbot, w, paths, timeout=15000):
    with qtbot.waitSignal(w.film_shown, timeout=timeout) as sig:
        w.open_paths(paths)
    return sig.args[0]


def test_open_png_shows_film_and_screens_it(qtbot, make_window, tmp_path):
    png = write_png(tmp_path / "knee.png")
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.screening_done, timeout=15000) as sig:
        w.open_paths([png])
    assert sig.args[0] == str(png)
    assert w.view.film is not None and w.view.film.shape == (160, 200)
    assert w.browser.paths() == [str(png)]
    assert w.results.prediction is not None
    assert "Low bone density suspected" in w.results.decision.text()
    assert not w.view.cam_drawn()  # reading first: the attention map waits for G
    w.cam_action.trigger()
    assert w.view.cam_drawn()
    assert "a test warning" in w.results.warnings.text()
    assert w.results.disclaimer.text() == "Screening aid — not a diagnosis. Cannot rule out low bone density."
    assert "fake-model 9.9" in w.results.model.text() and "abababababab" in w.results.model.text()
    assert w.recent_files()[0] == str(png.resolve())


def test_right_drag_in_window_updates_status_wl(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener())
    _open(qtbot, w, [write_png(tmp_path / "a.png")])
    before = w.wl_label.text()
    c = QPointF(w.view.width() / 2, w.view.height() / 2)
    drag(w.view, c, c + QPointF(60, -30), Qt.MouseButton.RightButton)
    assert w.wl_label.text() != before and "manual" in w.wl_label.text()


def test_keyboard_shortcuts_drive_the_view(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.screening_done, timeout=15000):
        w.open_paths([write_png(tmp_path / "a.png")])
    w.view.setFocus()
    v = w.view
    assert not v.cam_visible  # off when a film opens
    qtbot.keyClick(w, Qt.Key.Key_G)
    assert v.cam_visible and w.results.cam_check.isChecked()
    qtbot.keyClick(w, Qt.Key.Key_G)
    assert not v.cam_visible and not w.results.cam_check.isChecked()
    qtbot.keyClick(w, Qt.Key.Key_R)
    assert v.rotation == 90
    qtbot.keyClick(w, Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier)
    assert v.rotation == 0
    qtbot.keyClick(w, Qt.Key.Key_H)
    qtbot.keyClick(w, Qt.Key.Key_V)
    assert v.flips == (True, True)
    qtbot.keyClick(w, Qt.Key.Key_I)
    assert v.inverted
    n = len(v.preset_names())
    qtbot.keyClick(w, Qt.Key(Qt.Key.Key_1 + n - 1))
    assert v.display_window.name == "full range"
    qtbot.keyClick(w, Qt.Key.Key_Plus)
    assert not v._fit
    qtbot.keyClick(w, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert v.zoom_percent() == pytest.approx(100)
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert (v.rotation, v.flips, v.inverted, v._fit) == (0, (False, False), False, True)
    qtbot.keyClick(w, Qt.Key.Key_BracketLeft)
    assert w.results.opacity.value() == 35 and v.cam_opacity == pytest.approx(0.35)
    qtbot.keyClick(w, Qt.Key.Key_D)
    assert v.mode == "measure" and w.measure_action.isChecked()
    qtbot.keyClick(w, Qt.Key.Key_O)
    assert not v.overlays_visible


def test_bad_file_shows_error_and_app_lives_on(qtbot, make_window, tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\x00" * 128 + b"DICM" + b"garbage" * 10)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.load_finished, timeout=15000):
        w.open_paths([bad, empty])
    texts = [m.text for m in w.messages.messages()]
    assert any("broken.dcm" in t for t in texts) and any("empty.png" in t for t in texts)
    assert all(m.level == "error" for m in w.messages.messages())
    assert w.messages.isVisible() and w.view.film is None
    # dismiss one message
    row = w.messages.rows()[0]
    qtbot.mouseClick(row.close_button, Qt.MouseButton.LeftButton)
    assert len(w.messages.messages()) == 1
    # and the viewer still works
    _open(qtbot, w, [write_png(tmp_path / "good.png")])
    assert w.view.film is not None


def test_no_bundle_says_so_and_still_views(qtbot, make_window, tmp_path):
    empty_bundle = tmp_path / "no_bundle"
    empty_bundle.mkdir()
    w = make_window(bundle=str(empty_bundle))  # the real Screener factory
    w.start_background()
    qtbot.waitUntil(lambda: w.controller.model_state == scr.NO_MODEL, timeout=30000)
    with qtbot.waitSignal(w.screening_failed, timeout=15000):
        w.open_paths([write_png(tmp_path / "a.png")])
    assert w.view.film is not None  # the viewer works without a model
    assert any("No model installed" in m.text for m in w.messages.messages())
    assert "no model is installed" in w.results.status.text()
    assert not w.results.screen_button.isEnabled()
    assert w.model_label.text() == "Model: none"


def test_cancel_from_the_window(qtbot, make_window, tmp_path):
    gate = threading.Event()
    fake = FakeScreener(gate=gate)
    w = make_window(fake)
    _open(qtbot, w, [write_png(tmp_path / "a.png")])
    assert fake.started.wait(10)
    assert w.results.cancel_button.isVisible()
    with qtbot.waitSignal(w.screening_cancelled, timeout=5000):
        qtbot.mouseClick(w.results.cancel_button, Qt.MouseButton.LeftButton)
    assert "cancelled" in w.results.status.text()
    assert w.results.screen_button.isEnabled()
    gate.set()
    qtbot.wait(100)
    assert w.results.prediction is None
    fake.gate = None
    with qtbot.waitSignal(w.screening_done, timeout=10000):
        qtbot.keyClick(w, Qt.Key.Key_S)
    assert w.results.prediction is not None


def test_switching_films_supersedes_and_caches_results(qtbot, make_window, tmp_path):
    gate = threading.Event()
    fake = FakeScreener(gate=gate, obey_cancel=False)
    w = make_window(fake)
    a, b = write_png(tmp_path / "a.png", seed=1), write_png(tmp_path / "b.png", seed=2)
    done = []
    w.screening_done.connect(lambda path, p: done.append(path))
    with qtbot.waitSignal(w.load_finished, timeout=15000):
        w.open_paths([a, b])  # shows a (screening starts); b lands in the browser
    assert fake.started.wait(10)
    with qtbot.waitSignal(w.film_shown):
        w.step_film(1)  # PgDown: shows b, supersedes a
    assert w.view.film.path == b
    with qtbot.waitSignal(w.screening_done, timeout=10000) as sig:
        gate.set()
    assert sig.args[0] == str(b) and done == [str(b)]
    w.show_path(str(a))  # a was superseded: with auto-screen it is screened now
    qtbot.waitUntil(lambda: done == [str(b), str(a)], timeout=10000)
    n = len(fake.calls)
    w.show_path(str(b))  # cached: no new screening
    assert w.results.prediction is not None and len(fake.calls) == n


def test_auto_screen_off(qtbot, make_window, tmp_path):
    fake = FakeScreener()
    w = make_window(fake, auto_screen=False)
    _open(qtbot, w, [write_png(tmp_path / "a.png")])
    qtbot.wait(100)
    assert fake.calls == [] and "Press S" in w.results.status.text()
    with qtbot.waitSignal(w.screening_done, timeout=10000):
        w.results.screen_button.click()


def test_empty_attention_map_says_no_signal(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener(cam="empty"))
    with qtbot.waitSignal(w.screening_done, timeout=15000):
        w.open_paths([write_png(tmp_path / "a.png")])
    assert w.view.cam_status == "empty" and not w.view.cam_drawn()
    assert "no attention signal" in w.results.cam_status.text()


def test_worker_error_shows_message(qtbot, make_window, tmp_path):
    from osteo_desktop.core.errors import InferenceError

    w = make_window(FakeScreener(fail=InferenceError("a.png: the model failed on the CPU (out of memory)")))
    with qtbot.waitSignal(w.screening_failed, timeout=15000):
        w.open_paths([write_png(tmp_path / "a.png")])
    assert any("out of memory" in m.text for m in w.messages.messages())
    assert "out of memory" in w.results.status.text()


def test_dicom_studies_grouped_and_tags_searchable(qtbot, make_window, tmp_path):
    from pydicom.uid import generate_uid

    study = generate_uid()
    d1 = write_dicom(tmp_path / "p1_a.dcm", patient_id="PID-1", study_uid=study, seed=1)
    d2 = write_dicom(tmp_path / "p1_b.dcm", patient_id="PID-1", study_uid=study, seed=2)
    d3 = write_dicom(tmp_path / "p1_other.dcm", patient_id="PID-1", seed=3)
    d4 = write_dicom(tmp_path / "p2.dcm", patient_id="PID-2", patient_name="Other^Person", seed=4)
    png = write_png(tmp_path / "x.png")
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.load_finished, timeout=20000):
        w.open_paths([tmp_path])  # a folder: discovery finds all five
    tree = w.browser.tree
    assert w.browser.patient_count() == 3  # PID-1, PID-2, the PNG
    labels = {tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(tree.topLevelItemCount())}
    p1 = next(item for text, item in labels.items() if "PID-1" in text)
    assert p1.childCount() == 2  # two studies
    assert sorted(p1.child(i).childCount() for i in range(2)) == [1, 2]
    assert sorted(w.browser.paths()) == sorted(str(p) for p in (d1, d2, d3, d4, png))
    # the tag browser of a DICOM film
    w.show_path(str(d1))
    w.show_tags()
    tb = w.tags
    assert tb.isVisible() and "elements" in tb.info.text()
    tb.search.setText("PatientID")
    assert tb.visible_keywords() == ["PatientID"]
    tb.search.setText("(0028,0030)")
    assert tb.visible_keywords() == ["PixelSpacing"]
    tb.search.setText("knee test")  # by value
    assert "StudyDescription" in tb.visible_keywords()
    tb.search.setText("")
    assert len(tb.visible_keywords()) > 20
    # the PixelSpacing calibration drives the distance tool
    v = w.view
    v.set_measure_mode(True)
    t = v.image_to_widget()
    with qtbot.waitSignal(v.measured) as sig:
        drag(v, t.map(QPointF(10, 10)), t.map(QPointF(110, 10)))
    assert sig.args[0] == "20.0 mm (PixelSpacing)"
    # a PNG has no tags
    with qtbot.waitSignal(w.film_shown, timeout=15000):
        w.show_path(str(png))  # listed, not loaded yet: it loads now
    assert "no DICOM tags" in tb.info.text()


def test_export_png_is_stamped(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.screening_done, timeout=15000):
        w.open_paths([write_png(tmp_path / "a.png")])
    out = tmp_path / "snap.png"
    assert w.export_png(out)
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    dpr = w.view.devicePixelRatioF()
    assert (img.width(), img.height()) == (round(w.view.width() * dpr), round(w.view.height() * dpr))
    rgb = qimage_to_rgb(img).astype(int)
    yellow = (rgb[..., 0] > 200) & (rgb[..., 1] > 150) & (rgb[..., 2] < 80)
    assert yellow.sum() > 30, f"{EXPORT_STAMP} stamp missing"
    rows, cols = np.nonzero(yellow)  # in one corner (the one that hides the least of the picture)
    h, wd = rgb.shape[:2]
    assert (rows.min() > h - 60 or rows.max() < 60) and (cols.max() < wd // 2 or cols.min() > wd // 2)
    live = qimage_to_rgb(w.view.grab().toImage()).astype(int)
    live_yellow = (live[..., 0] > 200) & (live[..., 1] > 150) & (live[..., 2] < 80)
    assert live_yellow.sum() < 5  # the live view carries no stamp


def test_drop_opens_files(qtbot, make_window, tmp_path):
    png = write_png(tmp_path / "dropped.png")
    w = make_window(FakeScreener())
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(png))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    enter.ignore()
    w.dragEnterEvent(enter)  # offscreen has no drag-and-drop machinery: call the handlers as the platform would
    assert enter.isAccepted()
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(w.film_shown, timeout=15000) as sig:
        w.dropEvent(ev)
    assert sig.args[0] == str(png)


def test_settings_are_remembered(qtbot, make_window, settings, tmp_path):
    w = make_window(FakeScreener(), persist_settings=True)
    w.results.opacity.setValue(70)
    w.auto_action.setChecked(False)
    w.cam_action.setChecked(False)
    w._add_recent(tmp_path / "a.png")
    w.close()
    w2 = make_window(FakeScreener(), persist_settings=True)
    assert w2.results.opacity.value() == 70 and w2.view.cam_opacity == pytest.approx(0.7)
    assert not w2.auto_action.isChecked() and not w2.cam_action.isChecked() and not w2.view.cam_visible
    assert w2.recent_files() == [str(tmp_path / "a.png")]
    assert w2.geometry_restored


def test_excepthook_shows_message_instead_of_dying(qtbot, make_window):
    from osteo_desktop.gui.app import install_excepthook

    w = make_window(FakeScreener())
    previous = install_excepthook(w)
    try:
        try:
            raise ZeroDivisionError("boom in a slot")
        except ZeroDivisionError:
            sys.excepthook(*sys.exc_info())
        qtbot.waitUntil(lambda: any("boom in a slot" in m.text for m in w.messages.messages()), timeout=2000)
        # from another thread too
        t = threading.Thread(target=lambda: 1 / 0)
        t.start()
        t.join()
        qtbot.waitUntil(lambda: any("ZeroDivisionError: division by zero" in m.text for m in w.messages.messages()), timeout=2000)
    finally:
        sys.excepthook, threading.excepthook = previous


def test_pdf_action_disabled_with_reason_when_unsupported(make_window, monkeypatch):
    from osteo_desktop.gui import export_controller

    monkeypatch.setattr(export_controller, "_module_found", lambda name: name != "reportlab")
    w = make_window(FakeScreener())
    assert not w.pdf_action.isEnabled()
    assert "reportlab" in w.pdf_action.toolTip()


def test_shortcuts_dialog_lists_actions(make_window):
    from osteo_desktop.gui.shortcuts import shortcut_rows

    w = make_window(FakeScreener())
    rows = dict((what, keys) for keys, what in shortcut_rows(w._actions))
    assert rows["Show attention map (Grad-CAM)"] == "G"
    assert rows["Distance"] == "D"
    assert (rows["Angle"], rows["Cobb angle"], rows["Ellipse ROI"], rows["Calibrate from a known object"]) == ("A", "C", "E", "K")
    assert rows["Loupe (magnifier)"] == "L" and rows["Next frame"] == "Down"
    assert len(set(rows.values())) == len(rows)  # no key does two things
    assert "Esc" in rows["Reset view"] and "0" in rows["Reset view"]
    assert rows["Export PNG snapshot"] == "Ctrl+E"
    assert sum(1 for what in rows if what.startswith("Window presets")) == 1  # the nine preset keys: one row


def test_real_tiny_model_screens_in_the_window(qtbot, make_window, tiny_bundle, tmp_path):
    """The real Screener (128 px random-weight bundle) in the screening process."""
    w = make_window(bundle=str(tiny_bundle.path), device="cpu")
    w.start_background()
    d = write_dicom(tmp_path / "k.dcm", rows=180, cols=150)
    with qtbot.waitSignal(w.screening_done, timeout=120000) as sig:
        w.open_paths([d])
    pred = sig.args[1]
    assert pred.model.name == "test-bundle" and pred.device == "cpu"
    assert abs(sum(pred.probabilities.values()) - 1) < 1e-6
    if pred.cam_status == "ok":
        w.cam_action.trigger()
        assert pred.cam.shape == (180, 150) and w.view.cam_drawn()
    assert f"{pred.low_bmd_score:.2f}" in w.results.score_text.text()


def test_viewer_follows_the_one_colour_rule(make_window):
    """Suspected: the alert colour; not suspected: calm blue, never green (as in the PDF)."""
    from dataclasses import replace

    from osteo_desktop.core import scoring
    from osteo_desktop.core.inference import DECISION_NEGATIVE
    from osteo_desktop.gui.theme import WARN

    w = make_window(FakeScreener())
    pos = FakeScreener().screen(make_film())
    w.results.show_prediction(pos)
    assert w.results.score_bar.colour.name().upper() == WARN.name().upper() == scoring.score_bar_colour(0.8, 0.5, surface="screen")
    neg = replace(pos, low_bmd_score=0.3, decision=DECISION_NEGATIVE)
    w.results.show_prediction(neg)
    bar = w.results.score_bar.colour
    assert bar.name().upper() == scoring.TONE_COLOURS[scoring.Tone.CALM].bar_screen
    assert not (bar.green() > bar.red() + 20 and bar.green() > bar.blue() + 20)
    assert scoring.decision_colour(DECISION_NEGATIVE, surface="screen").lower() in w.results.decision.styleSheet().lower()
    assert "below the operating point" in w.results.score_text.text()
