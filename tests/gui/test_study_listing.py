"""The study browser lists films from their headers, shows the first film while the rest are listed,
loads only the film it shows, and draws thumbnails lazily."""

from __future__ import annotations

import time

from osteo_desktop.core.reader_process import FILM

from .conftest import FakeScreener, write_dicom, write_png


def _counting(w):
    loads: list[str] = []
    load = w.loader._load

    def counted(path):
        loads.append(path.name)
        return load(path)

    w.loader._load = counted
    return loads


def test_a_folder_is_listed_from_headers_and_only_the_shown_film_is_loaded(qtbot, make_window, tmp_path):
    d = tmp_path / "study"
    d.mkdir()
    films = [write_dicom(d / f"f{i:02d}.dcm", patient_id="PID-1", seed=i) for i in range(8)]
    w = make_window(FakeScreener(), auto_screen=False)
    loads = _counting(w)
    with qtbot.waitSignal(w.load_finished, timeout=30000) as sig:
        w.open_paths([d])
    assert sig.args[1] == 8
    assert w.browser.paths() == [str(f) for f in films]  # all listed, in folder order
    assert w.session.current_key == str(films[0]) and loads == ["f00.dcm"]  # only the film on display
    qtbot.waitUntil(lambda: all(w.browser.has_thumbnail(str(f)) for f in films), timeout=30000)
    made = w.thumbs.made_count
    assert made == 7  # the shown film's thumbnail came with the film itself
    w.show_path(str(films[3]))
    qtbot.waitUntil(lambda: w.session.current_key == str(films[3]), timeout=15000)
    assert loads == ["f00.dcm", "f03.dcm"]
    with qtbot.waitSignal(w.load_finished, timeout=30000):
        w.open_paths([d])  # opened again: listed again, thumbnails from the cache
    assert w.thumbs.made_count == made and len(w.browser.paths()) == 8


def test_the_first_film_is_shown_while_the_rest_are_listed(qtbot, make_window, tmp_path):
    d = tmp_path / "slow"
    d.mkdir()
    films = [write_png(d / f"p{i}.png", seed=i) for i in range(10)]
    w = make_window(FakeScreener(), auto_screen=False)
    w.loader.reader.call(FILM, write_png(tmp_path / "warm_up.png"))  # the film reader is up, as after start-up
    read = w.lister._read
    w.lister._read = lambda path: (time.sleep(0.1), read(path))[1]  # a slow drive: 0.1 s per header
    listed_when_shown = []
    w.film_shown.connect(lambda key: listed_when_shown.append(len(w.browser.paths())))
    with qtbot.waitSignal(w.load_finished, timeout=30000):
        w.open_paths([d])
    assert w.session.current_key == str(films[0])
    assert listed_when_shown and listed_when_shown[0] < len(films)  # on display before the listing ended


def test_when_the_first_film_cannot_be_loaded_the_next_one_is_shown(qtbot, make_window, tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    bad = write_dicom(d / "a_bad.dcm", seed=1)
    data = bytearray(bad.read_bytes())
    bad.write_bytes(bytes(data[: len(data) - 50000]))  # the header is fine, the pixels are cut off
    good = write_png(d / "b_good.png")
    w = make_window(FakeScreener(), auto_screen=False)
    with qtbot.waitSignal(w.load_finished, timeout=30000):
        w.open_paths([d])
    assert w.session.current_key == str(good)
    assert any("a_bad.dcm" in m.text for m in w.messages.messages())
    assert w.browser.paths() == [str(bad), str(good)]  # listed; the error comes when it is opened
