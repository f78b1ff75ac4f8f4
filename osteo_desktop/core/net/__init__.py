"""DICOM networking with pynetdicom (Qt-free): a storage node that files into the local store, and a
client for a PACS (echo, find, get, move, store).

* `RemoteNode.parse("AET@HOST:PORT")`
* `PacsClient(remote, our_aet=..., timeout=...)`: `echo()`, `find(FindQuery(...))`, `get(store, ...)`,
  `move(dest_aet, ...)`, `send([...])`
* `StorageNode(store, aet=..., bind="127.0.0.1", port=..., allowed_aets=[...])`: C-STORE/C-ECHO SCP
* `NetworkSettings`: the PACS and node settings shared by the viewer and the commands.

Errors: `PacsError` and subclasses (core.errors), each saying what to check.
"""

from __future__ import annotations

from .address import AddressError, RemoteNode, check_aet
from .query import SERIES, STUDY, FindMatch, FindQuery, dicom_date_range
from .results import RetrieveResult, SendResult
from .scp import DEFAULT_PORT, LOOPBACK, StorageNode
from .scu import DEFAULT_AET, DEFAULT_TIMEOUT_S, PacsClient, RetrieveCancelled
from .settings import NetworkSettings

__all__ = [
    "DEFAULT_AET",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT_S",
    "LOOPBACK",
    "SERIES",
    "STUDY",
    "AddressError",
    "FindMatch",
    "FindQuery",
    "NetworkSettings",
    "PacsClient",
    "RemoteNode",
    "RetrieveCancelled",
    "RetrieveResult",
    "SendResult",
    "StorageNode",
    "check_aet",
    "dicom_date_range",
]
