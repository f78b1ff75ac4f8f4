"""Opening files and folders as plain data (no Qt): which film an "open" shows first, and when the
open is over.

The viewer lists an open's films from their headers (fast) and loads only the film it shows. The
first listed film is loaded at once, while the rest are still being listed; if it cannot be loaded,
the next listed film is tried, and so on. Once the user picks a film (or steps to one), no open
shows its first film any more. An open is over when its listing has ended and it has either shown
a film, been overtaken by the user's choice, or run out of films to try.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Open:
    listed: list[str] = field(default_factory=list)
    loading: str | None = None  # the candidate being loaded to be shown
    tried: set[str] = field(default_factory=set)
    wants_first: bool = True
    listing_done: bool = False


class OpenJobs:
    def __init__(self) -> None:
        self._jobs: dict[int, _Open] = {}

    def start(self, jid: int) -> None:
        self._jobs[jid] = _Open()

    def listed(self, jid: int, key: str) -> str | None:
        """Open `jid` listed film `key`: returns the film to load and show now (this one, when it is
        the open's first), else None."""
        job = self._jobs.get(jid)
        if job is None:
            return None
        job.listed.append(key)
        if job.wants_first and job.loading is None and key not in job.tried:
            return self._try(job, key)
        return None

    def _try(self, job: _Open, key: str) -> str:
        job.loading = key
        job.tried.add(key)
        return key

    def load_failed(self, key: str) -> str | None:
        """Film `key` could not be loaded: the next film to try for the open that wanted it, or None."""
        for job in self._jobs.values():
            if job.loading != key:
                continue
            job.loading = None
            nxt = next((k for k in job.listed if k not in job.tried), None)
            if nxt is not None:
                return self._try(job, nxt)
        return None

    def shown(self, key: str) -> None:
        """Film `key` is on display: the open that was loading it has shown its film."""
        for job in self._jobs.values():
            if job.loading == key:
                job.loading = None
                job.wants_first = False

    def user_chose(self) -> None:
        """The user asked for a film: opens no longer show their first film."""
        for job in self._jobs.values():
            job.wants_first = False
            job.loading = None

    def listing_done(self, jid: int) -> None:
        job = self._jobs.get(jid)
        if job is not None:
            job.listing_done = True

    def finished(self) -> list[tuple[int, int]]:
        """Opens that are over (each reported once): (job id, films listed)."""
        done = [jid for jid, job in self._jobs.items() if job.listing_done and job.loading is None
                and (not job.wants_first or all(k in job.tried for k in job.listed))]
        return [(jid, len(self._jobs.pop(jid).listed)) for jid in done]

    def __contains__(self, jid: object) -> bool:
        return jid in self._jobs
