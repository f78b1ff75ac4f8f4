"""Remote DICOM nodes written as `AET@HOST:PORT`, and AE title checks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import PacsError

_AET_BAD = re.compile(r"[\\\x00-\x1f\x7f]")


class AddressError(PacsError, ValueError):
    """A malformed AE title or `AET@HOST:PORT`."""


def check_aet(aet: str, what: str = "AE title") -> str:
    """An AE title: 1-16 characters, no backslash or control characters, not only spaces."""
    value = (aet or "").strip()
    if not value:
        raise AddressError(f"the {what} is empty: use 1 to 16 characters, e.g. OSTEO.")
    if len(value) > 16:
        raise AddressError(f"the {what} {value!r} is longer than 16 characters (DICOM's limit).")
    if _AET_BAD.search(value):
        raise AddressError(f"the {what} {value!r} contains a backslash or a control character.")
    return value


@dataclass(frozen=True)
class RemoteNode:
    """A DICOM node we talk to: its AE title, host and port."""

    aet: str
    host: str
    port: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "aet", check_aet(self.aet, "remote AE title"))
        if not self.host:
            raise AddressError(f"no host given for {self.aet}: write AET@HOST:PORT.")
        if not 0 < int(self.port) < 65536:
            raise AddressError(f"port {self.port} of {self.aet} is not between 1 and 65535.")

    @classmethod
    def parse(cls, text: str) -> RemoteNode:
        """`AET@HOST:PORT` (IPv6 hosts in brackets: `AET@[::1]:104`)."""
        s = (text or "").strip()
        m = re.fullmatch(r"(?P<aet>[^@]+)@(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:@\[\]]+)):(?P<port>\d{1,5})", s)
        if not m:
            raise AddressError(f"{text!r} is not AET@HOST:PORT (for example ORTHANC@127.0.0.1:4242).")
        return cls(m["aet"], m["v6"] or m["host"], int(m["port"]))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.aet}@{host}:{self.port}"
