"""The PACS and node settings, shared by the viewer's PACS dialog and the `osteo-pacs` / `osteo-node`
commands: a small JSON file in the user's settings folder (`network.json`)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import OsteoError
from .address import RemoteNode, check_aet

log = logging.getLogger(__name__)

FILENAME = "network.json"


@dataclass
class NetworkSettings:
    pacs: str = ""  # AET@HOST:PORT of the PACS ("" = none configured)
    our_aet: str = "OSTEO"  # our AE title (calling AE of queries; the node's own AE title)
    timeout_s: float = 30.0
    node_port: int = 11112  # where our osteo-node listens (the C-MOVE destination)
    retrieve: str = "get"  # "get" (C-GET into the store) or "move" (C-MOVE to our node)
    store_dir: str = ""  # "" = the default store folder

    def remote(self) -> RemoteNode | None:
        return RemoteNode.parse(self.pacs) if self.pacs.strip() else None

    def validate(self) -> NetworkSettings:
        """Raises PacsError (AddressError) naming the bad field."""
        if self.pacs.strip():
            RemoteNode.parse(self.pacs)
        check_aet(self.our_aet, "our AE title")
        if not 0 < int(self.node_port) < 65536:
            raise OsteoError(f"node port {self.node_port} is not between 1 and 65535.")
        if self.retrieve not in ("get", "move"):
            raise OsteoError(f"retrieve method {self.retrieve!r}: use get or move.")
        if not self.timeout_s > 0:
            raise OsteoError("the timeout must be a positive number of seconds.")
        return self

    @staticmethod
    def default_path() -> Path:
        from ..store.location import user_config_dir

        return user_config_dir() / FILENAME

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> NetworkSettings:
        """The saved settings (defaults when the file does not exist)."""
        p = Path(path) if path else cls.default_path()
        if not p.is_file():
            return cls()
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise OsteoError(f"{p}: cannot read the network settings ({e}). Fix or delete the file.") from e
        if not isinstance(data, dict):
            raise OsteoError(f"{p}: the network settings are not a JSON object. Fix or delete the file.")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            log.warning("%s: ignoring unknown settings %s", p, ", ".join(sorted(unknown)))
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as e:
            raise OsteoError(f"{p}: bad network settings ({e}). Fix or delete the file.") from e

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        p = Path(path) if path else self.default_path()
        self.validate()
        return atomic_write_text(p, json.dumps(asdict(self), indent=2) + "\n")
