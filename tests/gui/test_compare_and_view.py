"""Comparison layouts (priors by study date, synchronised zoom/pan/window, a result per viewport),
orientation letters under rotation and flips, the loupe, multi-frame scrolling and cine, the
attention map off when a film opens, and messages that belong to their film."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from PySide6.QtCore import QPointF, QRectF, Qt

from osteo_desktop.core.film import Window
from osteo_desktop.gui.layouts import view_state, window_state
from osteo_desktop.gui.loupe import LOUPE_FACTOR, loupe_transform
from osteo_desktop.gui.messages import MAX_MESSAGES

from .conftest import FakeScreener, pattern, write_dicom, write_png


def _open(qtbot, w, paths, timeout=15000):
    with qtbot.waitSignal(w.load_finished, timeout=timeout):
        w.open_paths(paths)


def _show(qtbot, w, path: Path) -> None:
    """Make `path` the current film (it may have to be read first: films are listed, then read when shown)."""
    if w.session.current_key != str(path):
        with qtbot.waitSignal(w.film_shown, timeout=15000):
            w.show_path(str(path))


def _filled(qtbot, w, n: int) -> None:
    """Wait until the first `n` viewports show their films (a prior is read when its viewport needs it)."""
    qtbot.waitUntil(lambda: all(vp.view.film is not None for vp in w.grid.visible_viewports()[:n]), timeout=15000)


def _patient(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """Today's knee film, two priors of the same knee, and another patient's knee."""
    now = write_dicom(tmp_path / "now.dcm", patient_id="P7", study_date="20250601", seed=1)
    prior = write_dicom(tmp_path / "prior.dcm", patient_id="P7", study_date="20240101", seed=2, rows=140, cols=180)
    older = write_dicom(tmp_path / "older.dcm", patient_id="P7", study_date="20210101", seed=3)
    stranger = write_dicom(tmp_path / "stranger.dcm", patient_id="P8", study_date="20240601", seed=4)
    return now, prior, older, stranger


def test_compare_1x2_shows_the_prior_with_its_own_result_and_follows_the_reader(qtbot, make_window, tmp_path):
    now, prior, older, stranger = _patient(tmp_path)
    w = make_window(FakeScreener(result="info_only"))
    _open(qtbot, w, [now, prior, older, stranger])
    _show(qtbot, w, now)
    qtbot.waitUntil(lambda: w.session.has_result(str(now)), timeout=15000)
    w.layout_actions["1x2"].trigger()
    assert w.grid.layout_name == "1x2" and w.layout_actions["1x2"].isChecked() and not w.layout_actions["1x1"].isChecked()
    _filled(qtbot, w, 2)
    main, side = w.grid.visible_viewports()
    assert side.key == str(prior)  # the most recent prior of the same patient and anatomy
    assert side.result.text() == "Not screened yet (double-click to make it the current film, then S)"
    assert main.result.text() == w.session.result(str(now)).decision_text
    assert "for information only" in main.result.text()  # an unvalidated score says so, in the result's own words
    assert side.title.text() == "2024-01-01 · KNEE AP L · prior.dcm"
    # synchronised: zoom and pan relative to each film's fit, window relative to each film's range
    assert w.sync_action.isChecked()
    w.view.zoom_by(2.0)
    w.view.pan(30, -20)
    rel, fx, fy = view_state(w.view)
    assert view_state(side.view) == pytest.approx((rel, fx, fy))
    w.view.set_window(Window(2500.0, 1000.0, "manual"))
    assert window_state(side.view)[:2] == pytest.approx(window_state(w.view)[:2])
    assert side.view.display_window.name == "synchronised"
    # and the other way round: working in the prior moves the current film
    side.view.zoom_by(0.5)
    assert view_state(w.view)[0] == pytest.approx(view_state(side.view)[0])
    # not synchronised: each on its own
    w.sync_action.trigger()
    w.view.zoom_by(3.0)
    assert view_state(w.view)[0] != pytest.approx(view_state(side.view)[0])
    # double-click the prior: it becomes the current film, the newer one is shown beside it
    with qtbot.waitSignal(w.film_shown, timeout=15000):
        w.grid.viewport_activated.emit(side)
    assert w.session.current_key == str(prior)
    assert w.grid.visible_viewports()[1].key == str(older)  # the prior's own prior


def test_compare_2x2_fills_priors_newest_first_and_says_when_there_is_none(qtbot, make_window, tmp_path):
    now, prior, older, stranger = _patient(tmp_path)
    w = make_window(FakeScreener(result="not_screened"), auto_screen=False)
    _open(qtbot, w, [now, prior, older, stranger])
    _show(qtbot, w, now)
    w.compare.set_layout("2x2")
    _filled(qtbot, w, 3)
    keys = [vp.key for vp in w.grid.visible_viewports()]
    assert keys == [str(now), str(prior), str(older), None]
    assert w.grid.visible_viewports()[3].view.film is None
    assert "No other film of this patient" in w.grid.visible_viewports()[3].view.placeholder
    # a result that is not a screening says why, in its own words
    with qtbot.waitSignal(w.screening_done, timeout=15000):
        w.screen_current()
    text = w.grid.visible_viewports()[0].result.text()
    assert text == w.session.result(str(now)).decision_text and text.startswith("Not screened: ")
    _show(qtbot, w, stranger)
    assert [vp.key for vp in w.grid.visible_viewports()] == [str(stranger), None, None, None]
    w.compare.set_layout("1x1")
    assert w.grid.count == 1 and not w.grid.viewports[1].isVisible()


def test_compare_loads_a_prior_that_left_the_memory_cache(qtbot, make_window, tmp_path):
    now, prior, older, _ = _patient(tmp_path)
    w = make_window(FakeScreener(), auto_screen=False)
    _open(qtbot, w, [now, prior, older])
    _show(qtbot, w, prior)  # read once
    _show(qtbot, w, now)
    w.session._films.pop(str(prior))  # evicted
    w.compare.set_layout("1x2")
    side = w.grid.visible_viewports()[1]
    assert side.key == str(prior)
    qtbot.waitUntil(lambda: side.view.film is not None, timeout=15000)
    assert side.view.film.path == prior


def test_orientation_letters_follow_rotation_and_flips(qtbot, make_window, tmp_path):
    d = write_dicom(tmp_path / "k.dcm")
    w = make_window(FakeScreener(), auto_screen=False)
    _open(qtbot, w, [d])
    v = w.view
    assert v.edge_labels() == {"right": "L", "left": "R", "top": "H", "bottom": "F"}  # AP, assumed
    v.film.header.PatientOrientation = ["P", "F"]  # a lateral stored with the patient's back to the right
    v.set_film(v.loaded)
    assert v.edge_labels() == {"right": "P", "left": "A", "top": "H", "bottom": "F"}
    def edge(d: QPointF) -> str:
        return ("right" if d.x() > 0 else "left") if abs(d.x()) > abs(d.y()) else ("bottom" if d.y() > 0 else "top")

    for i in range(8):  # every rotation, without and with a flip
        t = v.image_to_widget()
        o = t.map(QPointF(0, 0))
        right = t.map(QPointF(1, 0)) - o  # where the image's +column direction goes on screen
        down = t.map(QPointF(0, 1)) - o
        labels = v.edge_labels()
        assert labels[edge(right)] == "P" and labels[edge(down)] == "F", (v.rotation, v.flips)
        assert labels[edge(-right)] == "A" and labels[edge(-down)] == "H"
        v.rotate(1)
        if i == 3:
            v.flip(True)
        if i == 5:
            v.flip(False)
    assert v.flips == (True, True)


def test_loupe_magnifies_about_the_cursor(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener(), auto_screen=False)
    _open(qtbot, w, [write_png(tmp_path / "a.png", rows=160, cols=200)])
    v = w.view
    qtbot.keyClick(w, Qt.Key.Key_L)
    assert v.loupe_on and w.loupe_action.isChecked()
    at = QPointF(v.width() / 2 + 20, v.height() / 2 - 10)
    t, factor = loupe_transform(v.image_to_widget(), at, v.zoom)
    assert factor >= LOUPE_FACTOR
    p = v.widget_to_image(at)
    assert t.map(p).x() == pytest.approx(at.x()) and t.map(p).y() == pytest.approx(at.y())  # the point under the cursor stays
    q = v.widget_to_image(at + QPointF(10, 0))
    assert (t.map(q) - at).x() == pytest.approx(10 * factor, rel=1e-6)
    v._update_cursor(at)
    plain = v.grab().toImage()
    v.set_loupe(False)
    assert v.grab().toImage() != plain  # the loupe was drawn


def _multiframe(path: Path, frames: np.ndarray) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.PatientName, ds.Modality, ds.StudyDate = "MF1", "Multi^Frame", "DX", "20250101"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns, ds.NumberOfFrames = frames.shape[1], frames.shape[2], frames.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.CineRate = 25
    ds.PixelData = frames.astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def test_multiframe_scrolls_and_plays_and_screens_the_first_frame(qtbot, make_window, tmp_path):
    frames = np.stack([pattern(120, 150, seed=k) * 0.5 + 300 * k for k in range(4)])
    path = _multiframe(tmp_path / "mf.dcm", np.rint(frames))
    screener = FakeScreener()
    w = make_window(screener)
    with qtbot.waitSignal(w.screening_done, timeout=15000):
        w.open_paths([path])
    v = w.view
    assert v.frame_text == "frame 1 / 4" and w.frames.count == 4
    assert not any("4 frames" in m.text and "only the first one is shown" in m.text for m in w.messages.messages())
    v.setFocus()
    qtbot.keyClick(v, Qt.Key.Key_Down)  # the arrows scroll frames where the films are
    assert v.frame_text == "frame 2 / 4"
    np.testing.assert_array_equal(v.film.pixels, np.rint(frames[1]).astype(np.float32))
    qtbot.keyClick(v, Qt.Key.Key_Up)
    qtbot.keyClick(v, Qt.Key.Key_Up)
    assert v.frame_text == "frame 4 / 4"  # wraps round
    assert w.session.current.film.pixels is not v.film.pixels
    np.testing.assert_array_equal(w.session.current.film.pixels, np.rint(frames[0]).astype(np.float32))  # screened: frame 1
    shown = []
    w.frames.frame_shown.connect(shown.append)
    qtbot.keyClick(w, Qt.Key.Key_P)
    assert w.frames.playing
    qtbot.waitUntil(lambda: len(shown) >= 3, timeout=5000)
    qtbot.keyClick(w, Qt.Key.Key_P)
    assert not w.frames.playing
    # a single-frame film: nothing to scroll
    _open(qtbot, w, [write_png(tmp_path / "one.png")])
    _show(qtbot, w, tmp_path / "one.png")
    assert v.frame_text == "" and not w.frames.toggle()


def test_attention_map_is_off_when_a_film_opens_unless_the_setting_says_otherwise(qtbot, make_window, settings, tmp_path):
    a, b = write_png(tmp_path / "a.png"), write_png(tmp_path / "b.png", seed=2)
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.screening_done, timeout=15000):
        w.open_paths([a])
    assert w.view.cam_status == "ok" and not w.view.cam_drawn()
    qtbot.keyClick(w, Qt.Key.Key_G)
    assert w.view.cam_drawn()
    with qtbot.waitSignal(w.screening_done, timeout=15000):
        w.open_paths([b])
    assert not w.view.cam_drawn()  # the next film is read first, too
    w.cam_default_action.trigger()
    assert settings.value("overlay/show_on_open", type=bool) is True
    _show(qtbot, w, a)
    assert w.view.cam_drawn()


def test_messages_belong_to_their_film_and_do_not_pile_up(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener(), auto_screen=False)
    a, b = write_png(tmp_path / "a.png"), write_png(tmp_path / "b.png", seed=2)
    _open(qtbot, w, [a, b])
    _show(qtbot, w, a)
    w.post("warning", "about film a", film=str(a))
    w.post("error", "about no film in particular")
    assert [m.text for m in w.messages.messages()] == ["about no film in particular", "about film a"]
    _show(qtbot, w, b)
    assert [m.text for m in w.messages.messages()] == ["about no film in particular"]
    for i in range(10):
        w.post("warning", f"note {i}", film=str(b))
    w.post("warning", "note 7", film=str(b))  # again: moves to the top, not shown twice
    texts = [m.text for m in w.messages.messages()]
    assert len(texts) == MAX_MESSAGES and texts[0] == "note 7" and texts.count("note 7") == 1


def test_compare_fills_a_viewport_when_the_prior_arrives_later(qtbot, make_window, tmp_path):
    now, prior, _, _ = _patient(tmp_path)
    w = make_window(FakeScreener(), auto_screen=False)
    _open(qtbot, w, [now])
    w.compare.set_layout("1x2")
    side = w.grid.visible_viewports()[1]
    assert side.view.film is None
    with qtbot.waitSignal(w.load_finished, timeout=15000):
        w.loader.load([prior])  # e.g. the rest of a folder, still loading when the first film is shown
    assert w.session.current_key == str(now)
    assert side.key == str(prior) and side.view.film is not None


def test_measurement_labels_keep_clear_of_the_orientation_letters(qtbot, make_window, tmp_path):
    from osteo_desktop.gui.tools.paint import label_origin
    from osteo_desktop.gui.view_overlays import orientation_boxes, overlay_font

    w = make_window(FakeScreener(), auto_screen=False)
    _open(qtbot, w, [write_dicom(tmp_path / "k.dcm")])
    v = w.view
    font = overlay_font(v.font())
    boxes = orientation_boxes(v, font)
    assert len(boxes) == 4  # R, L, H, F (assumed: in brackets)
    left = min(boxes, key=lambda b: b.left())
    assert left.left() < 20 and abs(left.center().y() - v.height() / 2) < 20
    # a short line just left of the letter: its label's first place (right of it) would cover the letter
    mid = left.center().y()
    shape = QRectF(-10.0, mid + 4, 14.0, 2.0)
    at = (QPointF(shape.right(), mid + 4), QPointF(shape.left(), mid + 4))

    def box(o: QPointF) -> QRectF:
        return QRectF(o.x(), o.y() - 11, 80, 14)

    free = label_origin(at, shape, 80.0, 14.0, 11.0, 1, v.width(), v.height())
    kept_clear = label_origin(at, shape, 80.0, 14.0, 11.0, 1, v.width(), v.height(), boxes)
    assert free is not None and box(free).intersects(left)
    assert kept_clear is not None and not any(box(kept_clear).intersects(b) for b in boxes)
    v.overlays_visible = False
    assert orientation_boxes(v, font) == []
