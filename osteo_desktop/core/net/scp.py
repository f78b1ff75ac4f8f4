"""A DICOM storage node (C-STORE and C-ECHO SCP) that files what it receives into a `LocalStore`.

    node = StorageNode(store, aet="OSTEO", bind="127.0.0.1", port=11112, allowed_aets=["ORTHANC"])
    node.start()          # serves in background threads
    ...
    node.stop()

Safety by default: it binds to the loopback interface only (another address must be asked for),
refuses calling AE titles that are not in `allowed_aets` (pass `accept_any=True` to open it) and
associations addressed to another AE title. A C-STORE is answered "success" only after the instance
is on disk and indexed; a store failure answers "out of resources" (the sender keeps it and can retry).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import PacsError, StoreError
from .address import check_aet
from .contexts import VERIFICATION, storage_scp_contexts

if TYPE_CHECKING:
    from ..store import LocalStore, StoredInstance

log = logging.getLogger(__name__)

DEFAULT_PORT = 11112
LOOPBACK = "127.0.0.1"
#: called with each instance that was new to the store (not for duplicates), and the calling AE title;
#: runs in the association's thread: keep it short (queue the work)
OnStored = Callable[["StoredInstance", str], None]


class StorageNode:
    def __init__(self, store: LocalStore, *, aet: str = "OSTEO", bind: str = LOOPBACK, port: int = DEFAULT_PORT,
                 allowed_aets: Sequence[str] = (), accept_any: bool = False, on_stored: OnStored | None = None,
                 max_associations: int = 10, timeout: float = 60.0):
        self.store = store
        self.aet = check_aet(aet, "our AE title")
        self.bind = bind
        self.port = int(port)
        self.allowed = [check_aet(a, "allowed AE title") for a in allowed_aets]
        self.accept_any = accept_any
        if not self.allowed and not accept_any:
            raise PacsError("no calling AE title is allowed to send: list them (--allow AET) or accept any "
                            "(--accept-any).")
        self.on_stored = on_stored
        self.max_associations = max_associations
        self.timeout = timeout
        self._server: Any = None
        self._ae: Any = None
        self._lock = threading.Lock()
        self.received = 0  # instances new to the store
        self.duplicates = 0
        self.refused = 0  # refused associations

    @property
    def address(self) -> tuple[str, int]:
        if self._server is not None:
            host, port = self._server.server_address[:2]
            return str(host), int(port)
        return self.bind, self.port

    def start(self) -> None:
        from pynetdicom import AE, evt

        if self._server is not None:
            return
        ae = AE(ae_title=self.aet)
        ae.supported_contexts = storage_scp_contexts()
        ae.add_supported_context(VERIFICATION)
        ae.require_called_aet = True
        ae.require_calling_aet = [] if self.accept_any else list(self.allowed)
        ae.maximum_associations = self.max_associations
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_c_store),
            (evt.EVT_C_ECHO, self._on_c_echo),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ESTABLISHED, self._on_established),
        ]
        try:
            self._server = ae.start_server((self.bind, self.port), block=False, evt_handlers=handlers)
        except OSError as e:
            raise PacsError(f"cannot listen on {self.bind} port {self.port}: {e.strerror or e}. Another program may "
                            "use the port (choose another with --port), or the address is not this computer's.") from e
        self._ae = ae
        host, port = self.address
        log.debug("storage node %s listening on %s:%d (%s)", self.aet, host, port,
                 "any calling AE title" if self.accept_any else "calling AE titles " + ", ".join(self.allowed))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._ae is not None:
            self._ae.shutdown()
            self._ae = None

    def __enter__(self) -> StorageNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- event handlers (run in the association's thread) ------------------------------------
    @staticmethod
    def _peer(event: Any) -> str:
        req = event.assoc.requestor
        return f"{req.ae_title}@{req.address}:{req.port}"

    def _on_rejected(self, event: Any) -> None:
        with self._lock:
            self.refused += 1
        req = event.assoc.requestor
        log.warning("refused an association from %s (%s:%s) calling %s: %s", req.ae_title, req.address, req.port,
                    getattr(req.primitive, "called_ae_title", "?") if req.primitive is not None else "?",
                    "unknown calling AE title (use --allow or --accept-any)" if req.ae_title not in self.allowed
                    and not self.accept_any else "called AE title or limits")

    def _on_established(self, event: Any) -> None:
        log.debug("association from %s", self._peer(event))

    def _on_c_echo(self, event: Any) -> int:
        log.info("C-ECHO from %s", self._peer(event))
        return 0x0000

    def _on_c_store(self, event: Any) -> int:
        from ..store import InvalidInstanceError

        calling = str(event.assoc.requestor.ae_title)
        try:
            stored = self.store.add_received(event.encoded_dataset(include_meta=False),
                                             sop_class_uid=str(event.request.AffectedSOPClassUID),
                                             sop_instance_uid=str(event.request.AffectedSOPInstanceUID),
                                             transfer_syntax=str(event.context.transfer_syntax), source=calling)
        except InvalidInstanceError as e:
            log.error("C-STORE from %s: %s", calling, e)
            return 0xC210  # cannot understand
        except StoreError as e:
            log.error("C-STORE from %s: %s", calling, e)
            return 0xA700  # out of resources: the sender keeps the instance and may retry
        except Exception:
            log.exception("C-STORE from %s: unexpected error; not stored", calling)
            return 0xC211
        with self._lock:
            if stored.is_new:
                self.received += 1
            else:
                self.duplicates += 1
        log.info("%s %s from %s", stored.status, stored.header.sop_uid, calling)
        if stored.is_new and self.on_stored is not None:
            try:
                self.on_stored(stored, calling)
            except Exception:
                log.exception("after storing %s", stored.header.sop_uid)
        return 0x0000
