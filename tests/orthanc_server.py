"""A real PACS for the tests: Orthanc (Debian package `orthanc`), started with a generated
configuration on free loopback ports. It knows our client (OSTEOTEST) and our node (OSTEONODE), whose
port is chosen up front (`node_port`), and nobody else. Used by tests/net and tests/gui."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ORTHANC_PACKAGE = "orthanc"
ORTHANC_AET = "ORTHANC"
SCU_AET = "OSTEOTEST"  # our client's AE title (known to Orthanc)
NODE_AET = "OSTEONODE"  # our osteo-node's AE title (known to Orthanc, C-MOVE destination)
STRANGER_AET = "STRANGER"  # known to nobody


def die_with_parent() -> None:
    """preexec_fn for test servers: on Linux the child gets SIGTERM when the test process dies, even by
    SIGTERM/SIGKILL (a `timeout` around pytest), so no Orthanc or osteo-node outlives its test run."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0, log: Path | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"process exited with {proc.returncode} before listening on {port}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


def orthanc_executable() -> str | None:
    found = shutil.which("Orthanc")
    if found:
        return found
    for p in ("/usr/sbin/Orthanc", "/usr/local/sbin/Orthanc", "/usr/bin/Orthanc"):
        if os.access(p, os.X_OK):
            return p
    return None


@dataclass
class Orthanc:
    exe: str
    workdir: Path
    dicom_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    node_port: int = field(default_factory=free_port)  # where the tests' osteo-node listens
    proc: subprocess.Popen | None = None

    @property
    def pacs(self) -> str:
        return f"{ORTHANC_AET}@127.0.0.1:{self.dicom_port}"

    @property
    def remote(self):
        from osteo_desktop.core.net import RemoteNode

        return RemoteNode(ORTHANC_AET, "127.0.0.1", self.dicom_port)

    def config(self) -> dict[str, Any]:
        def modality(aet: str, port: int) -> dict[str, Any]:
            return {"AET": aet, "Host": "127.0.0.1", "Port": port, "AllowEcho": True, "AllowFind": True,
                    "AllowGet": True, "AllowMove": True, "AllowStore": True}

        return {
            "Name": "osteo-desktop tests",
            "StorageDirectory": str(self.workdir / "db"),
            "IndexDirectory": str(self.workdir / "db"),
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,  # HTTP on loopback only; no credentials needed there
            "AuthenticationEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": ORTHANC_AET,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": True,
            "DicomCheckModalityHost": False,
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,  # only the modalities below may talk to it
            "DicomModalities": {
                "osteo-scu": modality(SCU_AET, self.node_port),
                "osteo-node": modality(NODE_AET, self.node_port),
            },
            "DicomScuTimeout": 10,
            "DicomScpTimeout": 30,
            "Plugins": [],
            "StorageCompression": False,
            "SaveJobs": False,
            "ConcurrentJobs": 2,
            "HttpThreadsCount": 8,
            "LoadPrivateDictionary": False,
            "StableAge": 1,
        }

    def start(self) -> None:
        cfg = self.workdir / "orthanc.json"
        cfg.write_text(json.dumps(self.config(), indent=2))
        log = self.workdir / "orthanc.log"
        self.proc = subprocess.Popen([self.exe, str(cfg)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                     cwd=self.workdir, preexec_fn=die_with_parent)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"Orthanc exited ({self.proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
            try:
                self.rest("GET", "/system")
                wait_for_port(self.dicom_port, self.proc, 10, log)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise AssertionError(f"Orthanc did not start within 30 s:\n{log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    # -- REST ------------------------------------------------------------------------------
    def rest(self, method: str, path: str, body: bytes | dict | list | str | None = None, timeout: float = 30) -> Any:
        data = None
        headers = {}
        if isinstance(body, (dict, list)):
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        elif isinstance(body, str):
            data = body.encode()
        elif body is not None:
            data, headers["Content-Type"] = body, "application/dicom"
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                     headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw

    def upload(self, data: bytes) -> str:
        return self.rest("POST", "/instances", data)["ID"]

    def reset(self) -> None:
        for pid in self.rest("GET", "/patients"):
            self.rest("DELETE", f"/patients/{pid}")

    def find(self, level: str, query: dict[str, str]) -> list[dict]:
        return self.rest("POST", "/tools/find", {"Level": level, "Query": query, "Expand": True})




def start_orthanc(workdir: Path) -> Orthanc:
    """A started Orthanc, or a skip naming the package to install."""
    exe = orthanc_executable()
    if exe is None:
        pytest.skip(f"Orthanc is not installed: install the Debian package `{ORTHANC_PACKAGE}` (apt-get install "
                    f"{ORTHANC_PACKAGE}; ./dev.sh test does it when run as root in a container)")
    server = Orthanc(exe, workdir)
    server.start()
    return server
