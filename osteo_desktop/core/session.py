"""The viewer's session as plain data (no Qt), in the spirit of napari's `ViewerModel`.

What is open and what is known about it: a small most-recently-used cache of loaded films (the film
on display is never evicted), the film on display, the results cache, which screening request
belongs to which film (only the newest counts), and which load job should show which film when it
arrives. The main window keeps the widgets and asks the session; the rules live here and are tested
without a display.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from .clinical import ClinicalInputs

FILM_CACHE = 6
RESULT_CACHE = 16


class Keyed(Protocol):
    """A loaded film: `key` is its path as a string (the key of the browser and of the caches)."""

    @property
    def key(self) -> str: ...


F = TypeVar("F", bound=Keyed)
R = TypeVar("R")


class Session(Generic[F, R]):
    """Films (type F, e.g. the GUI's LoadedFilm) and their screening results (type R, a Prediction)."""

    def __init__(self, film_cache: int | None = None, result_cache: int | None = None):
        self.film_cache = FILM_CACHE if film_cache is None else film_cache
        self.result_cache = RESULT_CACHE if result_cache is None else result_cache
        if self.film_cache < 1 or self.result_cache < 1:
            raise ValueError("the caches need room for at least one film and one result")
        self._films: OrderedDict[str, F] = OrderedDict()
        self._results: OrderedDict[str, R] = OrderedDict()
        self.current_key: str | None = None
        self.requested_key: str | None = None  # the film last asked for (shown, or still loading)
        self._request: tuple[int, str] | None = None  # the newest screening request and its film
        self._show_first: set[int] = set()  # load jobs whose first film is shown when it arrives
        self._want: dict[int, str] = {}  # load job -> the film to show when it arrives
        self._clinical: dict[str, ClinicalInputs] = {}  # patient key -> values a user entered (this session only)

    # -- films ---------------------------------------------------------------------------------
    @property
    def current(self) -> F | None:
        return self._films.get(self.current_key) if self.current_key else None

    def film(self, key: str) -> F | None:
        return self._films.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._films

    def film_keys(self) -> list[str]:
        """Cached films, least recently used first."""
        return list(self._films)

    def add_film(self, film: F) -> None:
        """Cache a loaded film (most recently used); evicts the oldest, never the film on display."""
        self._films[film.key] = film
        self._films.move_to_end(film.key)
        while len(self._films) > self.film_cache:
            old = next(iter(self._films))
            if old == self.current_key:
                self._films.move_to_end(old)
                if len(self._films) <= 1:
                    break
                continue
            del self._films[old]

    def show(self, key: str) -> F | None:
        """The user asks for film `key`: it becomes the requested film (the one PgDown counts from,
        and the only one a pending load may still show). Returns it when it is cached (it is then on
        display), else None (load it first, then `want`)."""
        self.requested_key = key
        self._show_first.clear()  # films that earlier opens or loads were to show: not any more
        self._want.clear()
        film = self._films.get(key)
        if film is not None:
            self._films.move_to_end(key)
            self.current_key = key
        return film

    def set_current(self, film: F) -> None:
        self.add_film(film)
        self.current_key = film.key
        self.requested_key = film.key

    @property
    def navigation_key(self) -> str | None:
        """Where Next/Previous film count from: the film last asked for, else the one on display."""
        return self.requested_key or self.current_key

    @staticmethod
    def step(keys: Sequence[str], current: str | None, delta: int) -> str | None:
        """The film `delta` places from `current` in `keys`, wrapping around (counted from just before the
        first film when `current` is not among them)."""
        if not keys:
            return None
        i = list(keys).index(current) if current is not None and current in keys else -1
        return keys[(i + delta) % len(keys)]

    # -- results -------------------------------------------------------------------------------
    def result(self, key: str | None) -> R | None:
        return self._results.get(key) if key is not None else None

    def has_result(self, key: str | None) -> bool:
        return key is not None and key in self._results

    def cache_result(self, key: str, result: R) -> None:
        self._results[key] = result
        self._results.move_to_end(key)
        while len(self._results) > self.result_cache:
            self._results.popitem(last=False)

    def forget_results(self, keys: Iterable[str] | None = None) -> None:
        """Drop the cached results of `keys` (all when None): the next display screens them again."""
        if keys is None:
            self._results.clear()
            return
        for k in keys:
            self._results.pop(k, None)

    # -- clinical inputs a user entered ---------------------------------------------------------
    def clinical(self, patient_key: str | None) -> ClinicalInputs | None:
        """Age/sex/weight entered for a patient (they override the films' tags), or None."""
        return self._clinical.get(patient_key) if patient_key else None

    def set_clinical(self, patient_key: str, inputs: ClinicalInputs | None) -> None:
        """Remember (or with None, forget) what a user entered for a patient. Kept in memory only:
        patient data is never written to the settings."""
        if inputs is None or (inputs.age is None and inputs.sex is None and inputs.weight is None):
            self._clinical.pop(patient_key, None)
        else:
            self._clinical[patient_key] = inputs

    # -- screening requests ----------------------------------------------------------------------
    def start_request(self, rid: int, key: str) -> None:
        """A new request for film `key`: every older request is stale from now on."""
        self._request = (rid, key)

    def request_key(self, rid: int) -> str | None:
        """The film of request `rid` while it is the newest one, else None."""
        return self._request[1] if self._request is not None and self._request[0] == rid else None

    def end_request(self, rid: int) -> str | None:
        """Request `rid` ended (result, failure, cancel): its film if it was the newest, else None."""
        key = self.request_key(rid)
        if key is not None:
            self._request = None
        return key

    # -- load jobs -------------------------------------------------------------------------------
    def show_first_of(self, jid: int) -> None:
        """Show the first film load job `jid` delivers (the user opened files)."""
        self._show_first.add(jid)

    def wanted_jobs(self) -> set[int]:
        """Load jobs that still have a film to show (the others need not run any more)."""
        return set(self._show_first) | set(self._want)

    def want(self, jid: int, key: str) -> None:
        """Show film `key` when load job `jid` delivers it (it was evicted and is read again)."""
        self._want[jid] = key

    def arrived(self, jid: int, film: F) -> bool:
        """A film of load job `jid` arrived (and is cached): True when it should be shown now."""
        self.add_film(film)
        if jid in self._show_first:
            self._show_first.discard(jid)
            return True
        if self._want.get(jid) == film.key:
            del self._want[jid]
            return True
        return False

    def job_finished(self, jid: int) -> None:
        self._show_first.discard(jid)
        self._want.pop(jid, None)
