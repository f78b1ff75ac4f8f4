"""Screening films as they arrive at `osteo-node --screen`, in one background thread.

Each new instance that is a film (pixel data, not one of our own SR / Secondary Capture outputs) is
screened with the core `Screener`; the result is recorded in the store as the same JSON row
`osteo-screen --json` prints (plus indexed columns and an audit entry). The screener's eligibility
rule decides what is screened: a film it declines (a CT, a chest film...) is recorded as
`not_screened`, with its reason, and nothing is sent for it. With a destination, the film's
DICOM SR and Secondary Capture (the same objects `osteo-screen --dicom-sr --dicom-sc` writes) are
added to the store and sent there by C-STORE; every send is audited.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import OsteoError, PacsError, StoreError
from ..core.scoring import Decision

if TYPE_CHECKING:
    from ..core.net import RemoteNode
    from ..core.store import InstanceHeader, LocalStore

log = logging.getLogger("osteo_desktop.node")

SKIP, SCREEN = "skip", "screen"


def screening_plan(header: InstanceHeader) -> tuple[str, str]:
    """(SKIP | SCREEN, why). SKIP: not a film at all, so no result is recorded. Whether a film may be
    screened (modality, body part, picture, age) is the screener's own rule (core.eligibility): a CT
    slice is handed over too, and comes back "not screened" with the reason."""
    from ..core.reports.dicom_outputs import MANUFACTURER

    if not header.has_pixels:
        return SKIP, "no pixel data (not an image)"
    if header.manufacturer == MANUFACTURER:
        return SKIP, "an osteo-desktop output (SR or secondary capture)"
    return SCREEN, ""


@dataclass
class _Job:
    path: Path
    header: InstanceHeader


class AutoScreener:
    """`screener`: a Screener-like object, or a callable that makes one; it is then called in the
    worker thread, so that loading the model (torch) never delays receiving."""

    def __init__(self, store: LocalStore, screener: Any, *, send_to: RemoteNode | None = None,
                 our_aet: str = "OSTEO", timeout: float = 30.0, source: str = "osteo-node", send_attempts: int = 3):
        self.store = store
        self.screener = screener if hasattr(screener, "screen") else None
        self._make_screener = None if self.screener is not None else screener
        self.broken = ""  # why the screener could not be made (films then wait for the next start)
        self.send_to = send_to
        self.our_aet = our_aet
        self.timeout = timeout
        self.source = source
        self.send_attempts = send_attempts
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.screened = 0
        self.failed = 0
        self.sent = 0
        self.idle = threading.Event()  # set while no film is queued or being screened
        self.idle.set()
        self._pending = 0
        self._pending_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="osteo-autoscreen", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Finish the film in progress, then stop (films still queued are caught up at the next start)."""
        if self._thread is not None:
            while True:  # drop what is queued: it has no result yet, so the next start screens it
                try:
                    if self._queue.get_nowait() is not None:
                        self._done()
                except queue.Empty:
                    break
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, path: Path, header: InstanceHeader) -> None:
        with self._pending_lock:
            self._pending += 1
            self.idle.clear()
        self._queue.put(_Job(Path(path), header))

    def _done(self) -> None:
        with self._pending_lock:
            self._pending -= 1
            if self._pending <= 0:
                self._pending = 0
                self.idle.set()

    def pending(self) -> int:
        return self._queue.qsize()

    def catch_up(self) -> int:
        """Queue the store's films that have no screening result yet (received while not screening,
        or queued when the node stopped). Returns how many."""
        from ..core.store import read_header

        done = {r[0] for r in self.store.execute("SELECT DISTINCT sop_uid FROM results WHERE sop_uid != ''")}
        n = 0
        for inst in self.store.instances():
            if inst.sop_uid in done or inst.source == self.source:
                continue
            try:
                header = read_header(inst.path)
            except (ValueError, OSError):
                continue
            if screening_plan(header)[0] != SKIP:
                self.submit(inst.path, header)
                n += 1
        return n

    # -- the worker --------------------------------------------------------------------------
    def _run(self) -> None:
        if self.screener is None and self._make_screener is not None:
            try:
                self.screener = self._make_screener()
            except Exception as e:  # receiving goes on; the films are screened at the next start
                self.broken = str(e) if isinstance(e, OsteoError) else f"{type(e).__name__}: {e}"
                log.error("the model could not be loaded, so nothing is screened (films are still received and will "
                          "be screened at the next start): %s", self.broken)
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                if self.screener is not None:
                    self._screen(job)
            except StoreError as e:  # the store is unusable: say so, keep the node receiving
                log.error("%s", e)
            except Exception:  # one film never stops the worker
                log.exception("screening %s failed unexpectedly", job.header.sop_uid)
            finally:
                self._done()

    def _record(self, row: dict[str, Any], h: InstanceHeader) -> None:
        self.store.record_result(row, sop_uid=h.sop_uid, series_uid=h.series_uid, study_uid=h.study_uid,
                                 patient_id=h.patient_id, source=self.source)

    def _screen(self, job: _Job) -> None:
        from ..core.loading import load_film
        from .screen import FilmOutcome

        h = job.header
        plan, why = screening_plan(h)
        if plan == SKIP:
            log.debug("%s: not screened: %s", h.sop_uid, why)
            return
        outcome = FilmOutcome(job.path)
        t0 = time.perf_counter()
        try:
            outcome.film = load_film(job.path)
            outcome.warnings += outcome.film.warnings
            assert self.screener is not None  # _run screens only once there is one
            pred = self.screener.screen(outcome.film, gradcam=self.send_to is not None)
            outcome.prediction = pred
            outcome.warnings += [w for w in pred.warnings if w not in outcome.warnings]
            outcome.timings_ms.update({f"screen_{k}": v for k, v in pred.timings_ms.items()})
        except OsteoError as e:
            outcome.error = str(e)
        except MemoryError:
            outcome.error = f"{job.path}: not enough memory to screen this film."
        except Exception as e:
            outcome.error = f"{job.path}: unexpected error ({type(e).__name__}: {e})."
            log.exception("screening %s", h.sop_uid)
        outcome.timings_ms["total"] = (time.perf_counter() - t0) * 1000
        row = outcome.to_dict()
        self._record(row, h)
        if not outcome.ok:
            self.failed += 1
            log.error("%s: screening failed: %s", h.sop_uid, outcome.error)
            return
        self.screened += 1
        if row.get("low_bmd_score") is None:
            log.info("%s: %s (%s)", h.sop_uid, row.get("decision"), row.get("not_screened_reason") or "no score")
        else:
            log.info("%s: %s (score %.2f)", h.sop_uid, row.get("decision"), row["low_bmd_score"])
        if self.send_to is not None and row.get("decision") in (Decision.POSITIVE, Decision.NEGATIVE):
            self._send_outputs(outcome.film, outcome.prediction, h)

    def _send_outputs(self, film: Any, pred: Any, h: InstanceHeader) -> None:
        from ..core import reports

        assert self.send_to is not None
        target = str(self.send_to)
        paths: list[Path] = []
        bundle = getattr(self.screener, "bundle", None)
        for kind, build in (("sr", lambda: reports.build_dicom_sr(film, pred, bundle)),
                            ("sc", lambda: reports.build_dicom_sc(film, pred))):
            try:
                stored = self.store.add_dataset(build(), source=self.source)
            except (OsteoError, ValueError, TypeError, AttributeError) as e:
                self.store.audit(f"export-{kind}", study_uid=h.study_uid, sop_uid=h.sop_uid, model=pred.model,
                                 outcome="failed", details={"error": str(e)})
                log.error("%s: could not make the DICOM %s: %s", h.sop_uid, kind.upper(), e)
                continue
            self.store.audit(f"export-{kind}", study_uid=h.study_uid, sop_uid=stored.header.sop_uid,
                             target=str(stored.path), model=pred.model, details={"source_sop_uid": h.sop_uid})
            paths.append(stored.path)
        if not paths:
            return
        from ..core.net import PacsClient

        client = PacsClient(self.send_to, our_aet=self.our_aet, timeout=self.timeout)
        error = ""
        for attempt in range(1, self.send_attempts + 1):
            try:
                result = client.send(paths)
            except PacsError as e:
                error = str(e)
            else:
                if not result.failed:
                    error = ""
                    break
                error = "; ".join(f"{Path(w).name}: {why}" for w, why in result.failed)
            if attempt < self.send_attempts:
                time.sleep(2.0 * attempt)
        self.store.audit("send", study_uid=h.study_uid, sop_uid=h.sop_uid, target=target, model=pred.model,
                         outcome="failed" if error else "ok",
                         details={"files": [str(p) for p in paths], "error": error})
        if error:
            log.error("%s: SR/SC not sent to %s: %s", h.sop_uid, target, error)
        else:
            self.sent += len(paths)
            log.info("%s: SR and SC sent to %s", h.sop_uid, target)
