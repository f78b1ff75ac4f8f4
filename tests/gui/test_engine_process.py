"""The screening engine in its own process: it survives being killed in the middle of a film,
the viewer's process never imports torch, closing the window ends the process, the thread budget
reaches the child."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core import engine_process as ep
from osteo_desktop.core.threads import screening_threads
from osteo_desktop.gui import screening as scr

from .conftest import write_png

FAKE = "tests.gui.engine_fakes:make_screener"
REPO = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _ready(qtbot, w, timeout=60000):
    qtbot.waitUntil(lambda: w.controller.model_state == scr.READY, timeout=timeout)


@pytest.fixture
def engine_window(make_window, settings):
    def make(**kw):
        w = make_window(engine_factory=FAKE, **kw)
        w.start_background()
        return w

    return make


def test_a_killed_engine_fails_that_film_restarts_and_screens_the_next(qtbot, engine_window, tmp_path):
    w = engine_window()
    _ready(qtbot, w)
    assert not w.controller.in_process
    pid = w.controller.engine.pid
    sleepy = write_png(tmp_path / "sleep_knee.png")
    with qtbot.waitSignal(w.controller.progress, timeout=30000, check_params_cb=lambda rid, f, t: t == "sleeping"):
        w.open_paths([sleepy])
    with qtbot.waitSignal(w.screening_failed, timeout=30000) as failed:
        os.kill(pid, signal.SIGKILL)  # the engine dies in the middle of the request
    path, message = failed.args
    assert path == str(sleepy)
    assert "the screening engine stopped while reading this file" in message and "SIGKILL" in message
    assert message in w.results.status.text()  # said where the film's result would be
    assert any("stopped while reading this file" in m.text for m in w.messages.messages())
    _ready(qtbot, w)  # restarted, model loaded again
    assert w.controller.engine.pid != pid and _gone(pid)
    assert w.controller.engine.restarts == 1
    with qtbot.waitSignal(w.screening_done, timeout=30000) as done:
        w.open_paths([write_png(tmp_path / "next_knee.png", seed=1)])
    assert done.args[0] == str(tmp_path / "next_knee.png")
    pred = done.args[1]
    assert pred.model.name == "child-fake" and pred.cam.shape == (160, 200)
    assert not w.view.cam_drawn()  # reading first: shown on request (G)
    w.cam_action.trigger()
    assert w.view.cam_drawn()
    from osteo_desktop.gui.imaging import _LAYERS, attention_rgba

    sent = next(layer for cam, layer in _LAYERS if cam is pred.cam)  # made by the engine, not on the GUI thread
    assert w.view.cam.rgba is sent and np.array_equal(sent, attention_rgba(pred.cam))


def test_a_segfault_in_the_engine_is_a_film_error_not_a_viewer_crash(qtbot, engine_window, tmp_path):
    w = engine_window()
    _ready(qtbot, w)
    with qtbot.waitSignal(w.screening_failed, timeout=30000) as failed:
        w.open_paths([write_png(tmp_path / "crash_knee.png")])
    assert "stopped while reading this file" in failed.args[1] and "SIGSEGV" in failed.args[1]
    _ready(qtbot, w)
    with qtbot.waitSignal(w.screening_done, timeout=30000):
        w.open_paths([write_png(tmp_path / "ok_knee.png")])


def test_close_terminates_the_engine_at_once_even_mid_request(qtbot, engine_window, tmp_path):
    w = engine_window()
    _ready(qtbot, w)
    pid = w.controller.engine.pid
    with qtbot.waitSignal(w.controller.progress, timeout=30000, check_params_cb=lambda rid, f, t: t == "sleeping"):
        w.open_paths([write_png(tmp_path / "sleep_knee.png")])
    w.close()  # the child sleeps forever: only terminating it ends it
    assert w.controller.engine is None
    assert _gone(pid)


def test_thread_budget_and_priority_reach_the_engine(qtbot, engine_window, settings):
    settings.setValue("screening/threads", 1)
    w = engine_window()
    _ready(qtbot, w)
    info = w.controller.engine.info
    assert info.threads == 1 and info.pid == w.controller.engine.pid != os.getpid()
    if sys.platform != "win32":
        assert info.priority_lowered
    settings.setValue("screening/threads", 0)
    assert w.controller.engine_settings().threads == screening_threads(None)


def test_a_superseded_request_is_cancelled_in_the_engine(qtbot, engine_window, tmp_path):
    """Cancel reaches the child while it screens: it reports the request cancelled and serves the next."""
    w = engine_window()
    _ready(qtbot, w)
    c = w.controller
    with qtbot.waitSignal(c.progress, timeout=30000, check_params_cb=lambda rid, f, t: t == "sleeping"):
        rid = c.request(_film_in_memory("sleep_in_memory"))
    with qtbot.waitSignal(c.engine.cancelled, timeout=30000) as sig:
        c.cancel()
    assert sig.args == [rid]
    with qtbot.waitSignal(w.screening_done, timeout=30000):
        w.open_paths([write_png(tmp_path / "after_knee.png")])


def _film_in_memory(name: str):
    """A film with no file behind it: it travels to the engine whole."""
    from .conftest import make_film

    return make_film(path=f"/nonexistent/{name}.dcm")


def test_messages_carry_arrays_out_of_band():
    import multiprocessing
    import threading

    import numpy as np

    a, b = multiprocessing.Pipe()
    big = np.arange(3 * 1000 * 1000, dtype=np.float32).reshape(1000, 3000)
    sender = threading.Thread(target=ep.send_message, args=(a, ("result", 7, {"cam": big, "text": "ok", "empty": np.zeros(0)})))
    sender.start()  # a pipe holds little: the other end must read while this one writes
    kind, rid, payload = ep.recv_message(b)
    sender.join(10)
    assert (kind, rid, payload["text"]) == ("result", 7, "ok")
    assert np.array_equal(payload["cam"], big) and payload["cam"].flags.writeable
    assert payload["empty"].size == 0
    a.close()
    with pytest.raises(EOFError):
        ep.recv_message(b)


def test_viewer_process_never_imports_torch_while_screening_the_demo_film(tiny_bundle, tmp_path):
    """The real engine with a real (tiny, random-weight) bundle, from a cold start of the viewer."""
    demo = REPO / "resources" / "demo" / "knee_demo.dcm"
    if not demo.is_file():
        pytest.skip("the demo film is not installed")
    stats = tmp_path / "stats.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OSTEO_GUI_STATS=str(stats),
               XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "osteo_desktop.gui.app", "--demo", "--bundle", str(tiny_bundle.path), "--device", "cpu",
         "--exit-after-result", "--timeout", "240"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(stats.read_text())
    assert "first_result" in data["marks"]
    assert data["torch_loaded_at_exit"] is False  # 'torch' not in the viewer's sys.modules
    assert data["info"]["torch_before_window"] is False
    assert f"{screening_threads(None)} thread" in proc.stderr  # the engine's thread budget, logged at ready
