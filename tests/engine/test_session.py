"""core.session.Session: the viewer's state without Qt (films, results, request and load-job maps)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from osteo_desktop.core.session import Session


@dataclass(frozen=True)
class F:
    key: str


def test_film_cache_is_lru_and_keeps_the_film_on_display():
    s: Session[F, str] = Session(film_cache=2)
    s.set_current(F("a"))
    s.add_film(F("b"))
    s.add_film(F("c"))  # evicts b, not a (on display)
    assert s.film_keys() == ["c", "a"] and s.current == F("a")
    assert s.show("c") == F("c") and s.current_key == "c"
    s.add_film(F("d"))  # now a goes
    assert "a" not in s and s.film_keys() == ["c", "d"]
    assert s.show("a") is None and s.current_key == "c"  # not cached: load it first


def test_results_cache_is_bounded():
    s: Session[F, str] = Session(result_cache=2)
    assert s.result(None) is None and not s.has_result(None)
    for k in "abc":
        s.cache_result(k, k.upper())
    assert s.result("a") is None and s.result("c") == "C" and s.has_result("b")
    with pytest.raises(ValueError):
        Session(film_cache=0)


def test_only_the_newest_request_counts():
    s: Session[F, str] = Session()
    s.start_request(1, "a")
    s.start_request(2, "b")
    assert s.request_key(1) is None and s.end_request(1) is None  # superseded: its result is ignored
    assert s.request_key(2) == "b" and s.end_request(2) == "b"
    assert s.end_request(2) is None  # ends once


def test_load_jobs_say_which_film_to_show():
    s: Session[F, str] = Session()
    s.show_first_of(7)
    assert s.arrived(7, F("a")) is True and s.arrived(7, F("b")) is False  # only the first of the job
    s.want(8, "c")
    assert s.arrived(8, F("x")) is False and s.arrived(8, F("c")) is True
    s.want(9, "d")
    s.job_finished(9)
    assert s.arrived(9, F("d")) is False and "d" in s  # cached, not shown


def test_step_wraps_around():
    keys = ["a", "b", "c"]
    assert Session.step(keys, "c", 1) == "a" and Session.step(keys, "a", -1) == "c"
    assert Session.step(keys, None, 1) == "a" and Session.step(keys, "x", 2) == "b"
    assert Session.step([], "a", 1) is None


def test_forget_results():
    s: Session[F, str] = Session()
    s.cache_result("a", "A")
    s.forget_results()
    assert s.result("a") is None


def test_navigation_counts_from_the_film_last_asked_for():
    s: Session[F, str] = Session()
    s.set_current(F("a"))
    assert s.navigation_key == "a"
    assert s.show("d") is None  # not cached: it loads, and is the requested film meanwhile
    assert s.current_key == "a" and s.navigation_key == "d"
    assert Session.step(["a", "b", "c", "d", "e"], s.navigation_key, 1) == "e"


def test_a_newer_request_drops_what_older_loads_were_to_show():
    s: Session[F, str] = Session()
    s.show_first_of(1)
    s.show("x")
    s.want(2, "x")
    s.show("y")
    s.want(3, "y")
    assert s.wanted_jobs() == {3}
    assert s.arrived(1, F("a")) is False and s.arrived(2, F("x")) is False  # superseded: cached, not shown
    assert s.arrived(3, F("y")) is True
