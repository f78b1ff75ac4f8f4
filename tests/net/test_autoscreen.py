"""osteo-node's screening of arrivals, with a stand-in screener (the real one runs in test_orthanc.py)."""

from __future__ import annotations

import pytest

from osteo_desktop.cli.autoscreen import SCREEN, SKIP, AutoScreener, screening_plan
from osteo_desktop.core.eligibility import Eligibility
from osteo_desktop.core.errors import InferenceError
from osteo_desktop.core.inference import DECISION_POSITIVE, ModelInfo, Prediction
from osteo_desktop.core.store import LocalStore, read_header
from tests.dicom_factory import film_bytes, make_film

MODEL = ModelInfo("stand-in", "1.0", "ef" * 32, "none")


class StandIn:
    bundle = None
    model_info = MODEL

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.seen: list[str] = []

    def screen(self, film, *, gradcam=True, **kw):
        self.seen.append(film.ids.sop_instance_uid)
        if self.fail:
            raise InferenceError("the model could not run (test)")
        return Prediction(("normal", "osteopenia", "osteoporosis"), {"normal": 0.1, "osteopenia": 0.5, "osteoporosis": 0.4},
                          "osteopenia", 0.9, 0.5, "test", DECISION_POSITIVE, MODEL, "cpu",
                          eligibility=Eligibility(True, "knee", "both", 0.99))


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "s")
    yield s
    s.close()


def test_what_gets_screened():
    dx, ct = make_film(modality="DX"), make_film(modality="CT")
    ours = make_film(Manufacturer="osteo-desktop")
    no_pixels = make_film()
    del no_pixels.PixelData
    plans = {k: screening_plan(read_header(film_bytes(d)))[0] for k, d in
             {"dx": dx, "ct": ct, "ours": ours, "no_pixels": no_pixels}.items()}
    assert plans == {"dx": SCREEN, "ct": SCREEN, "ours": SKIP, "no_pixels": SKIP}  # the screener decides on the CT


def test_catch_up_screens_what_has_no_result_and_records_rows(store):
    dx = store.add_bytes(film_bytes(make_film(modality="DX")), source="PACS")
    ct = store.add_bytes(film_bytes(make_film(modality="CT")), source="PACS")
    store.add_bytes(film_bytes(make_film(Manufacturer="osteo-desktop")), source="osteo-node")
    done = store.add_bytes(film_bytes(make_film(modality="CR")), source="PACS")
    store.record_result({"status": "ok", "decision": "low_bmd_not_suspected"}, sop_uid=done.header.sop_uid)
    screener = StandIn()
    auto = AutoScreener(store, screener)
    auto.start()
    try:
        assert auto.catch_up() == 2
        assert auto.idle.wait(30)
    finally:
        auto.stop()
    assert sorted(screener.seen) == sorted([dx.header.sop_uid, ct.header.sop_uid])  # not our own output
    [r] = store.results(sop_uid=dx.header.sop_uid)
    assert (r.status, r.decision, r.score, r.model_sha256, r.study_uid) == (
        "ok", DECISION_POSITIVE, 0.9, "ef" * 32, dx.header.study_uid)
    assert r.row["image"]["modality"] == "DX" and r.row["file"] == str(dx.path)
    assert len(store.results(sop_uid=ct.header.sop_uid)) == 1  # its eligibility is the screener's (see test_orthanc)
    assert AutoScreener(store, screener).catch_up() == 0  # everything has a result now


def test_a_failed_screening_is_recorded_as_failed(store):
    dx = store.add_bytes(film_bytes(make_film()), source="PACS")
    auto = AutoScreener(store, StandIn(fail=True))
    auto.start()
    auto.submit(dx.path, dx.header)
    assert auto.idle.wait(30)
    auto.stop()
    [r] = store.results()
    assert r.status == "error" and "could not run" in r.row["error"] and auto.failed == 1


def test_a_model_that_cannot_load_leaves_films_for_the_next_start(store):
    from osteo_desktop.core.errors import BundleError

    def factory():
        raise BundleError("model_weights: weights missing (test)")

    dx = store.add_bytes(film_bytes(make_film()), source="PACS")
    auto = AutoScreener(store, factory)
    auto.start()
    auto.submit(dx.path, dx.header)
    assert auto.idle.wait(30)
    auto.stop()
    assert "weights missing" in auto.broken and store.results() == []  # no false "failed" row
    assert AutoScreener(store, StandIn()).catch_up() == 1  # screened at the next start


def test_the_screener_is_made_in_the_worker_thread(store):
    import threading

    made_in = []

    def factory():
        made_in.append(threading.current_thread().name)
        return StandIn()

    auto = AutoScreener(store, factory)
    auto.start()
    dx = store.add_bytes(film_bytes(make_film()), source="PACS")
    auto.submit(dx.path, dx.header)
    assert auto.idle.wait(30)
    auto.stop()
    assert made_in == ["osteo-autoscreen"] and len(store.results()) == 1
