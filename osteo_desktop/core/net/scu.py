"""A DICOM network client (SCU) for one PACS: C-ECHO, C-FIND, C-GET, C-MOVE and C-STORE.

    client = PacsClient(RemoteNode.parse("ORTHANC@127.0.0.1:4242"), our_aet="OSTEO", timeout=30)
    client.echo()
    for match in client.find(FindQuery(patient_id="P1")): ...
    client.get(store, study_uid=...)                      # C-GET into a LocalStore
    client.move("OSTEO", study_uid=...)                   # C-MOVE to a storage node (osteo-node)
    client.send([path, ...])                              # C-STORE

Every failure is a `PacsError` whose message says what went wrong and what to check:
`PacsUnreachableError` (no TCP connection), `AssociationRefusedError` (AE titles, services),
`PacsTimeoutError`, `SubOperationsFailedError` (a retrieve where some instances failed; the
partial `RetrieveResult` is its `.result`). Every association is released (or aborted) on exit.

The query keys and matches live in `query`, the results of retrieves and sends in `results`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AssociationRefusedError, PacsError, PacsTimeoutError, PacsUnreachableError, StoreError, SubOperationsFailedError
from .address import RemoteNode, check_aet
from .contexts import (
    FILM_TRANSFER_SYNTAXES,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    VERIFICATION,
    retrieve_storage_contexts,
    status_text,
)
from .query import SERIES, STUDY, FindMatch, FindQuery, tag_int, tag_str
from .results import RetrieveResult, SendResult

if TYPE_CHECKING:
    from pydicom import Dataset

    from ..store import LocalStore

log = logging.getLogger(__name__)

DEFAULT_AET = "OSTEO"
DEFAULT_TIMEOUT_S = 30.0
#: progress(done, total or None, message)
RetrieveProgress = Callable[[int, "int | None", str], None]


class RetrieveCancelled(PacsError):
    """The user cancelled a retrieve (the association was aborted; what arrived is kept)."""




def _tcp_problem(host: str, port: int, timeout: float) -> str | None:
    """Why a TCP connection fails (None when it succeeds)."""
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 10.0)):
            return None
    except socket.gaierror as e:
        return f"host name {host!r} not found ({e.strerror or e})"
    except ConnectionRefusedError:
        return f"connection refused: nothing listens on {host} port {port}"
    except TimeoutError:
        return f"no answer from {host} port {port} within {min(timeout, 10.0):.0f} s (host down or a firewall)"
    except OSError as e:
        return f"{e.strerror or e}"


class PacsClient:
    def __init__(self, remote: RemoteNode, *, our_aet: str = DEFAULT_AET, timeout: float = DEFAULT_TIMEOUT_S):
        self.remote = remote
        self.our_aet = check_aet(our_aet, "our AE title")
        self.timeout = float(timeout)

    # -- associations ------------------------------------------------------------------------
    def _ae(self) -> Any:
        from pynetdicom import AE

        ae = AE(ae_title=self.our_aet)
        ae.acse_timeout = self.timeout
        ae.dimse_timeout = self.timeout
        ae.network_timeout = self.timeout
        ae.connection_timeout = min(self.timeout, 10.0)
        return ae

    @contextlib.contextmanager
    def _association(self, contexts: Sequence[Any], *, roles: Sequence[Any] | None = None,
                     handlers: Sequence[Any] | None = None, what: str = "") -> Iterator[Any]:
        ae = self._ae()
        for cx in contexts:
            ae.add_requested_context(cx.abstract_syntax, cx.transfer_syntax)
        t0 = time.monotonic()
        try:
            assoc = ae.associate(self.remote.host, self.remote.port, ae_title=self.remote.aet,
                                 ext_neg=list(roles) if roles else None, evt_handlers=list(handlers or []))
        except OSError as e:  # e.g. a host name that does not resolve
            ae.shutdown()
            problem = _tcp_problem(self.remote.host, self.remote.port, self.timeout) or (e.strerror or str(e))
            raise PacsUnreachableError(f"cannot reach {self.remote}: {problem}. Check the host, the port and that the "
                                       "PACS is running.") from e
        if not assoc.is_established:
            ae.shutdown()
            raise self._association_error(assoc, what, time.monotonic() - t0)
        try:
            yield assoc
        except BaseException:
            if assoc.is_established:
                assoc.abort()
            raise
        else:
            if assoc.is_established:
                assoc.release()
        finally:
            ae.shutdown()

    def _association_error(self, assoc: Any, what: str, elapsed: float = 0.0) -> PacsError:
        r = self.remote
        prim = getattr(assoc.acceptor, "primitive", None)
        if assoc.is_rejected and prim is not None:
            diag = getattr(prim, "diagnostic", None)
            try:
                reason = prim.reason_str
            except Exception:
                reason = "no reason given"
            hint = ""
            if diag == 3:
                hint = (f" Add our AE title {self.our_aet} (with this computer's address) to the known modalities of "
                        f"{r.aet}, or use the AE title it expects.")
            elif diag == 7:
                hint = f" Check the PACS's own AE title: is it really {r.aet}?"
            elif getattr(prim, "result", None) == 2:
                hint = " The refusal is transient (the PACS is busy): try again later."
            return AssociationRefusedError(f"{r} refused the association from {self.our_aet}: {reason}.{hint}")
        if prim is not None and getattr(prim, "result", None) == 0:  # accepted, but none of our contexts
            return AssociationRefusedError(
                f"{r} accepted the association but none of the services asked for ({what or 'see the log'}); it does "
                f"not offer them to {self.our_aet}. Check the PACS's configuration for this AE title."
            )
        problem = _tcp_problem(r.host, r.port, self.timeout)
        if problem is not None:
            return PacsUnreachableError(f"cannot reach {r}: {problem}. Check the host, the port and that the PACS is "
                                        "running.")
        if assoc.is_aborted and elapsed < 0.9 * self.timeout:  # closed without a (readable) reason
            return AssociationRefusedError(
                f"{r} refused the association from {self.our_aet} (it closed the connection without a reason). Most "
                f"often it does not know our AE title: add {self.our_aet} (with this computer's address) to the known "
                f"modalities of {r.aet}; or check its own AE title ({r.aet}?) and whether it limits connections.")
        return PacsTimeoutError(f"{r} did not answer the association request within {self.timeout:.0f} s.")

    def _lost(self, what: str) -> PacsTimeoutError:
        return PacsTimeoutError(f"{what}: no answer from {self.remote} within {self.timeout:.0f} s, or the connection "
                                "was lost. Retry, or raise the timeout (--timeout).")

    # -- C-ECHO ------------------------------------------------------------------------------
    def echo(self) -> float:
        """C-ECHO; returns the round trip in milliseconds (association included)."""
        from pynetdicom import build_context

        t0 = time.perf_counter()
        with self._association([build_context(VERIFICATION)], what="verification (C-ECHO)") as assoc:
            status = assoc.send_c_echo()
            code = getattr(status, "Status", None) if status is not None and len(status) else None
            if code != 0x0000:
                raise (self._lost("C-ECHO") if code is None else PacsError(f"C-ECHO to {self.remote}: {status_text(code)}"))
        return (time.perf_counter() - t0) * 1000

    # -- C-FIND ------------------------------------------------------------------------------
    def find(self, query: FindQuery, *, limit: int | None = None) -> list[FindMatch]:
        """Study-level matches, or series-level ones (for each matching study when no study UID is given)."""
        from pynetdicom import build_context
        FIND = STUDY_ROOT_FIND

        level = query.level.upper()
        if level not in (STUDY, SERIES):
            raise PacsError(f"query level {query.level!r}: use study or series.")
        out: list[FindMatch] = []
        with self._association([build_context(FIND)], what="study root C-FIND") as assoc:
            if level == STUDY or not query.study_uid:
                study_query = query if level == STUDY else FindQuery(STUDY, query.patient_id, query.patient_name,
                                                                     query.date, query.modality, query.accession)
                studies = [FindMatch.from_study(ds) for ds in self._c_find(assoc, study_query.identifier(STUDY))]
            else:
                studies = [FindMatch(STUDY, query.study_uid)]
            if level == STUDY:
                return studies[:limit] if limit else studies
            for st in studies:
                for ds in self._c_find(assoc, query.identifier(SERIES, st.study_uid)):
                    out.append(st.with_series(ds))
                    if limit and len(out) >= limit:
                        return out
        return out

    def _c_find(self, assoc: Any, identifier: Dataset) -> Iterator[Dataset]:
        FIND = STUDY_ROOT_FIND

        for status, ident in assoc.send_c_find(identifier, FIND):
            code = getattr(status, "Status", None) if status is not None and len(status) else None
            if code in (0xFF00, 0xFF01):
                if ident is not None:
                    yield ident
            elif code == 0x0000:
                return
            elif code is None:
                raise self._lost("C-FIND")
            else:
                comment = tag_str(status, "ErrorComment")
                raise PacsError(f"C-FIND on {self.remote}: {status_text(code)}" + (f": {comment}" if comment else ""))

    # -- C-GET and C-MOVE --------------------------------------------------------------------
    @staticmethod
    def _retrieve_identifier(study_uid: str, series_uid: str | None, sop_uids: Sequence[str] | None) -> Dataset:
        from pydicom import Dataset

        if not study_uid:
            raise PacsError("a retrieve needs the study's Study Instance UID (from find).")
        ds = Dataset()
        ds.StudyInstanceUID = study_uid
        if sop_uids:
            ds.QueryRetrieveLevel = "IMAGE"
            ds.SeriesInstanceUID = series_uid or ""
            ds.SOPInstanceUID = list(sop_uids)
        elif series_uid:
            ds.QueryRetrieveLevel = SERIES
            ds.SeriesInstanceUID = series_uid
        else:
            ds.QueryRetrieveLevel = STUDY
        return ds

    def _run_retrieve(self, responses: Iterator[tuple[Any, Any]], result: RetrieveResult, what: str,
                      progress: RetrieveProgress | None, should_cancel: Callable[[], bool] | None, assoc: Any) -> None:
        for status, ident in responses:
            code = getattr(status, "Status", None) if status is not None and len(status) else None
            if code is None:
                raise self._lost(what)
            result.status = code
            for attr, kw in (("completed", "NumberOfCompletedSuboperations"), ("failed", "NumberOfFailedSuboperations"),
                             ("warning", "NumberOfWarningSuboperations")):
                v = tag_int(status, kw)
                if v is not None:
                    setattr(result, attr, v)
            result.remaining = tag_int(status, "NumberOfRemainingSuboperations")
            result.error_comment = tag_str(status, "ErrorComment") or result.error_comment
            if ident is not None and "FailedSOPInstanceUIDList" in ident:
                result.failed_sop_uids = [x for x in tag_str(ident, "FailedSOPInstanceUIDList").split("\\") if x]
            if progress is not None:
                done = result.completed + result.failed + result.warning
                total = None if result.remaining is None else done + result.remaining
                noun = "instance" if (total if total is not None else done) == 1 else "instances"
                progress(done, total, f"{what}: {done}" + (f" of {total}" if total is not None else "") + f" {noun}")
            if code in (0xFF00, 0xFF01):
                if should_cancel is not None and should_cancel():
                    assoc.abort()
                    raise RetrieveCancelled(f"{what} from {self.remote} cancelled after {result.completed} instances; "
                                            "what arrived is kept.")
                continue
            break

    def _finish_retrieve(self, result: RetrieveResult, what: str, destination: str = "") -> RetrieveResult:
        code = result.status
        if code == 0xA801:
            raise PacsError(f"{what}: {self.remote} does not know the destination AE title {destination!r}. Add it to "
                            "the PACS's known modalities (in Orthanc: DicomModalities) with its host and port.")
        if code == 0xFE00:
            raise RetrieveCancelled(f"{what} from {self.remote} was cancelled ({result.completed} instances arrived).")
        if result.failed or result.store_errors:
            parts = [f"{result.failed or len(result.store_errors)} of "
                     f"{result.completed + max(result.failed, len(result.store_errors)) + result.warning} instances failed"]
            if result.store_errors:
                parts.append("here: " + "; ".join(sorted(set(result.store_errors))[:3]))
            if result.failed_sop_uids:
                parts.append("failed SOP Instance UIDs: " + ", ".join(result.failed_sop_uids[:5])
                             + (" ..." if len(result.failed_sop_uids) > 5 else ""))
            raise SubOperationsFailedError(f"{what} from {self.remote}: " + "; ".join(parts) + ".", result)
        if code not in (0x0000, 0xB000):
            comment = f" ({result.error_comment})" if result.error_comment else ""
            hint = (f" Check that the study exists there (osteo-pacs find --study-uid ...) and that it lets "
                    f"{self.our_aet} retrieve.")
            if what == "C-MOVE":
                hint += (f" For C-MOVE the destination AE title {destination!r} must be among its known modalities "
                         "(in Orthanc: DicomModalities) with the host and port where it listens, and a storage node "
                         "(osteo-node) must be listening there.")
            raise PacsError(f"{what} from {self.remote}: {status_text(code)}{comment}.{hint}")
        return result

    def get(self, store: LocalStore, *, study_uid: str, series_uid: str | None = None,
            sop_uids: Sequence[str] | None = None, progress: RetrieveProgress | None = None,
            should_cancel: Callable[[], bool] | None = None) -> RetrieveResult:
        """C-GET a study (or series) into `store`: the PACS sends the instances back over this association."""
        from pynetdicom import build_context, build_role, evt
        GET = STUDY_ROOT_GET

        from ..store import InvalidInstanceError

        result = RetrieveResult("C-GET")
        lock = threading.Lock()

        def on_store(event: Any) -> int:
            try:
                stored = store.add_received(event.encoded_dataset(include_meta=False),
                                            sop_class_uid=str(event.request.AffectedSOPClassUID),
                                            sop_instance_uid=str(event.request.AffectedSOPInstanceUID),
                                            transfer_syntax=str(event.context.transfer_syntax),
                                            source=f"C-GET {self.remote.aet}")
            except InvalidInstanceError as e:
                with lock:
                    result.store_errors.append(str(e))
                return 0xC210
            except StoreError as e:
                log.error("%s", e)
                with lock:
                    result.store_errors.append(str(e))
                return 0xA700
            with lock:
                result.stored.append(stored)
            return 0x0000

        storage = retrieve_storage_contexts()
        contexts = [build_context(GET)] + storage
        roles = [build_role(cx.abstract_syntax, scp_role=True) for cx in storage]
        t0 = time.perf_counter()
        ident = self._retrieve_identifier(study_uid, series_uid, sop_uids)
        with self._association(contexts, roles=roles, handlers=[(evt.EVT_C_STORE, on_store)],
                               what="study root C-GET") as assoc:
            self._run_retrieve(assoc.send_c_get(ident, GET), result, "C-GET", progress, should_cancel, assoc)
        result.seconds = time.perf_counter() - t0
        return self._finish_retrieve(result, "C-GET")

    def move(self, destination: str, *, study_uid: str, series_uid: str | None = None,
             sop_uids: Sequence[str] | None = None, progress: RetrieveProgress | None = None,
             should_cancel: Callable[[], bool] | None = None) -> RetrieveResult:
        """C-MOVE a study (or series) to the storage node `destination` (an AE title the PACS knows)."""
        from pynetdicom import build_context
        MOVE = STUDY_ROOT_MOVE

        dest = check_aet(destination, "move destination AE title")
        result = RetrieveResult("C-MOVE")
        t0 = time.perf_counter()
        ident = self._retrieve_identifier(study_uid, series_uid, sop_uids)
        with self._association([build_context(MOVE)], what="study root C-MOVE") as assoc:
            self._run_retrieve(assoc.send_c_move(ident, dest, MOVE), result, "C-MOVE", progress, should_cancel, assoc)
        result.seconds = time.perf_counter() - t0
        return self._finish_retrieve(result, "C-MOVE", dest)

    # -- C-STORE -----------------------------------------------------------------------------
    def send(self, items: Sequence[str | Path | Dataset], *, progress: RetrieveProgress | None = None) -> SendResult:
        """C-STORE files or data sets (with file meta). Raises PacsError only when nothing could be
        attempted (no association); per-instance failures are in the result."""
        import pydicom
        from pynetdicom import build_context

        result = SendResult()
        datasets: list[tuple[str, Any]] = []
        for it in items:
            if isinstance(it, (str, Path)):
                try:
                    datasets.append((str(it), pydicom.dcmread(str(it))))
                except Exception as e:
                    result.failed.append((str(it), f"not a readable DICOM file ({e})"))
            else:
                datasets.append((str(it.get("SOPInstanceUID", "data set")), it))
        if not datasets:
            return result
        pairs: dict[str, list[str]] = {}
        for _, ds in datasets:
            ts = str(ds.file_meta.TransferSyntaxUID)
            syntaxes = pairs.setdefault(str(ds.SOPClassUID), [])
            for t in [ts] + ([str(s) for s in FILM_TRANSFER_SYNTAXES[:2]] if ts in FILM_TRANSFER_SYNTAXES[:4] else []):
                if t not in syntaxes:
                    syntaxes.append(t)
        contexts = [build_context(sop, ts) for sop, ts in list(pairs.items())[:127]]
        with self._association(contexts, what="storage (C-STORE)") as assoc:
            for i, (name, ds) in enumerate(datasets):
                try:
                    status = assoc.send_c_store(ds)
                except (ValueError, RuntimeError, AttributeError) as e:
                    result.failed.append((name, f"not sent: {e}"))
                    continue
                code = getattr(status, "Status", None) if status is not None and len(status) else None
                if code is None:
                    result.failed.append((name, "no answer (timeout or connection lost)"))
                    if not assoc.is_established:
                        for rest, _ in datasets[i + 1:]:
                            result.failed.append((rest, "not sent: the association was lost"))
                        break
                elif code == 0x0000 or 0xB000 <= code <= 0xBFFF:
                    result.sent.append(str(ds.SOPInstanceUID))
                else:
                    result.failed.append((name, status_text(code)))
                if progress is not None:
                    progress(i + 1, len(datasets), f"C-STORE: {i + 1} of {len(datasets)}")
        return result
