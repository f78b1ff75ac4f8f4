"""ScreeningController: work happens off the GUI thread; cancel and newer requests discard results."""

from __future__ import annotations

import threading

import pytest

from osteo_desktop.core.errors import InferenceError
from osteo_desktop.gui import screening as scr

from .conftest import FakeScreener, make_film


@pytest.fixture
def controllers():
    made = []

    def make(screener=None, factory=None, bundle=None, device="cpu"):
        c = scr.ScreeningController(bundle, device, factory or (lambda b, d: screener))
        made.append(c)
        return c

    yield make
    for c in made:
        thread = c._thread
        assert c.shutdown(10000)
        if thread is not None:
            assert thread.isFinished()


def _ready(qtbot, c):
    with qtbot.waitSignal(c.model_state_changed, timeout=10000, check_params_cb=lambda s, m: s != scr.LOADING):
        c.start()
    assert c.model_state == scr.READY


def test_screens_off_the_gui_thread(qtbot, controllers):
    fake = FakeScreener()
    c = controllers(fake)
    _ready(qtbot, c)
    progress = []
    c.progress.connect(lambda rid, f, t: progress.append((rid, f)))
    with qtbot.waitSignal(c.finished, timeout=10000) as sig:
        rid = c.request(make_film())
    assert sig.args[0] == rid and sig.args[1].low_bmd_score == 0.8
    assert fake.threads and threading.get_ident() not in fake.threads
    assert [f for r, f in progress if r == rid] == [0.0, 0.8]
    assert c.active is None


def test_cancel_discards_a_result_that_arrives_anyway(qtbot, controllers):
    gate = threading.Event()
    fake = FakeScreener(gate=gate, obey_cancel=False)  # worst case: the core ignores the cancel
    c = controllers(fake)
    _ready(qtbot, c)
    finished = []
    c.finished.connect(lambda rid, p: finished.append(rid))
    rid = c.request(make_film())
    assert fake.started.wait(5)
    with qtbot.waitSignal(c.cancelled, timeout=1000) as sig:
        assert c.cancel() == rid
    assert sig.args == [rid]
    gate.set()  # the worker now produces its (stale) result
    # a later request proves the worker has moved on; the cancelled result was never emitted
    fake.gate = None
    with qtbot.waitSignal(c.finished, timeout=10000) as sig2:
        rid2 = c.request(make_film())
    assert sig2.args[0] == rid2
    assert finished == [rid2]
    assert c.cancel() is None  # nothing left to cancel


def test_cancel_stops_the_core_at_its_next_checkpoint(qtbot, controllers):
    gate = threading.Event()
    fake = FakeScreener(gate=gate, obey_cancel=True)
    c = controllers(fake)
    _ready(qtbot, c)
    rid = c.request(make_film())
    assert fake.started.wait(5)
    with qtbot.waitSignal(c._worker.cancelled, timeout=5000) as sig:  # the worker itself saw Cancelled
        c.cancel()
    assert sig.args == [rid]


def test_newer_request_supersedes_older(qtbot, controllers):
    gate = threading.Event()
    fake = FakeScreener(gate=gate, obey_cancel=False)
    c = controllers(fake)
    _ready(qtbot, c)
    results = []
    c.finished.connect(lambda rid, p: results.append(rid))
    old = c.request(make_film(path="/tmp/old.dcm"))
    assert fake.started.wait(5)
    new = c.request(make_film(path="/tmp/new.dcm"))
    assert c.is_stale(old) and not c.is_stale(new)
    with qtbot.waitSignal(c.finished, timeout=10000) as sig:
        gate.set()  # old finishes first and its result reaches the GUI thread: it must be dropped
    assert sig.args[0] == new
    qtbot.wait(50)
    assert results == [new]
    assert fake.calls == ["/tmp/old.dcm", "/tmp/new.dcm"]


def test_queued_stale_requests_are_skipped(qtbot, controllers):
    gate = threading.Event()
    fake = FakeScreener(gate=gate)
    c = controllers(fake)
    _ready(qtbot, c)
    c.request(make_film(path="/tmp/a.dcm"))
    assert fake.started.wait(5)
    c.request(make_film(path="/tmp/b.dcm"))  # queued behind a, superseded before it starts
    with qtbot.waitSignal(c.finished, timeout=10000) as sig:
        last = c.request(make_film(path="/tmp/c.dcm"))
        gate.set()
    assert sig.args[0] == last
    assert "/tmp/b.dcm" not in fake.calls


def test_worker_error_is_reported_and_worker_lives_on(qtbot, controllers):
    fake = FakeScreener(fail=InferenceError("film.dcm: the model failed on the CPU (boom)"))
    c = controllers(fake)
    _ready(qtbot, c)
    with qtbot.waitSignal(c.failed, timeout=10000) as sig:
        c.request(make_film())
    assert "model failed" in sig.args[1]
    fake.fail = RuntimeError("unexpected")
    with qtbot.waitSignal(c.failed, timeout=10000) as sig:
        c.request(make_film())
    assert "unexpectedly" in sig.args[1] and "RuntimeError" in sig.args[1]
    fake.fail = None
    with qtbot.waitSignal(c.finished, timeout=10000):
        c.request(make_film())


def test_no_bundle_is_a_clear_state_not_a_crash(qtbot, controllers, tmp_path):
    c = controllers(factory=scr.default_factory, bundle=str(tmp_path))  # an empty folder: no config.json
    with qtbot.waitSignal(c.model_state_changed, timeout=30000, check_params_cb=lambda s, m: s != scr.LOADING) as sig:
        c.start()
    assert sig.args[0] == scr.NO_MODEL and "config.json" in sig.args[1]
    assert not c.model_available
    with qtbot.waitSignal(c.failed, timeout=2000) as sig:
        c.request(make_film())
    assert "config.json" in sig.args[1]


def test_cuda_failure_falls_back_to_cpu_with_a_notice(qtbot, controllers):
    devices = []

    def factory(bundle, device):
        devices.append(device)
        if device == "cuda":
            raise InferenceError("CUDA was requested (--device cuda) but no usable GPU/driver was found.")
        return FakeScreener()

    c = controllers(factory=factory, device="cuda")
    with qtbot.waitSignal(c.notice, timeout=10000) as sig:
        c.start()
    assert "Falling back to the CPU" in sig.args[0]
    qtbot.waitUntil(lambda: c.model_state == scr.READY, timeout=10000)
    assert devices == ["cuda", "cpu"]


def test_model_load_crash_is_reported(qtbot, controllers):
    def factory(bundle, device):
        raise ValueError("weights exploded")

    c = controllers(factory=factory)
    with qtbot.waitSignal(c.model_state_changed, timeout=10000, check_params_cb=lambda s, m: s != scr.LOADING) as sig:
        c.start()
    assert sig.args[0] == scr.MODEL_ERROR and "weights exploded" in sig.args[1]


def test_flipping_through_films_while_busy_screens_only_the_last(qtbot, controllers):
    """The worker holds one request; newer ones wait in the controller, each replacing the last."""
    gate = threading.Event()
    fake = FakeScreener(gate=gate, obey_cancel=False)  # the running one finishes despite being superseded
    c = controllers(fake)
    _ready(qtbot, c)
    c.request(make_film(path="/tmp/f0.dcm"))
    assert fake.started.wait(5)
    for i in range(1, 6):
        last = c.request(make_film(path=f"/tmp/f{i}.dcm"))
    with qtbot.waitSignal(c.finished, timeout=10000) as sig:
        gate.set()
    assert sig.args[0] == last
    assert fake.calls == ["/tmp/f0.dcm", "/tmp/f5.dcm"]
