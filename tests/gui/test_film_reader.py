"""Films are decoded in a reader process: a decoder that crashes fails that film only, the window
never waits for a decoder, and closing the window ends the readers at once."""

from __future__ import annotations

import os

from osteo_desktop.core.reader_process import FILM, ReaderProcess, ReaderSettings

from .conftest import FakeScreener, write_png

CRASHING = ReaderSettings(handler="tests.gui.engine_fakes:crashing_reader")


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_crashing_decoder_fails_that_film_and_the_next_one_opens(qtbot, make_window, tmp_path):
    d = tmp_path / "films"
    d.mkdir()
    crash = write_png(d / "crash_first.png", seed=1)
    good = write_png(d / "good_second.png", seed=2)
    w = make_window(FakeScreener(), auto_screen=False)
    w.loader.reader.settings = CRASHING
    failed = []
    w.film_failed.connect(lambda path, msg: failed.append((path, msg)))
    with qtbot.waitSignal(w.film_shown, timeout=30000) as sig:
        w.open_paths([d])  # the first film kills its reader; the next film is shown instead
    assert sig.args[0] == str(good)
    assert failed and failed[0][0] == str(crash)
    assert "the film reader stopped while reading this file" in failed[0][1] and "SIGSEGV" in failed[0][1]
    assert any("crash_first.png" in m.text for m in w.messages.messages())
    assert w.loader.reader.starts == 2  # started again for the next film


def test_reader_process_round_trip_and_errors(tmp_path):
    r = ReaderProcess("test-reader")
    try:
        prepared = r.call(FILM, write_png(tmp_path / "a.png"))
        assert prepared.film.shape == (160, 200) and prepared.thumbnail.shape == (77, 96)
        assert prepared.renderer.render_u8(prepared.choice.window).shape == (160, 200)
        empty = tmp_path / "empty.png"
        empty.write_bytes(b"")
        try:
            r.call(FILM, empty)
        except Exception as e:
            assert type(e).__name__ == "FilmLoadError" and "empty.png" in str(e) and "empty" in str(e)
        else:
            raise AssertionError("an empty file was read")
        pid = r.pid
    finally:
        assert r.close()
    assert _gone(pid)


def test_closing_while_a_film_is_read_ends_the_reader_at_once(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener(), auto_screen=False)
    w.loader.reader.settings = CRASHING
    w.open_paths([write_png(tmp_path / "sleep_long.png")])  # its reader sleeps for a minute
    qtbot.waitUntil(lambda: w.loader.reader.pid is not None and w.loader.busy(), timeout=30000)
    qtbot.wait(300)
    pid = w.loader.reader.pid
    w.close()  # must not wait for the reader
    assert w.loader._pool.activeThreadCount() == 0 and _gone(pid)
