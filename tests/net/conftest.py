"""Fixtures of the network tests: a real PACS (Orthanc, started per session with a generated config on
free loopback ports), osteo-node in a subprocess, and in-process runs of osteo-pacs.

Orthanc comes from the Debian package `orthanc` (`./dev.sh test` installs it as root in a container);
where it is missing the Orthanc tests skip with a message naming the package.
"""

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

REPO = Path(__file__).resolve().parents[2]
ORTHANC_AET = "ORTHANC"
SCU_AET = "OSTEOTEST"  # our client's AE title (known to Orthanc)
NODE_AET = "OSTEONODE"  # our osteo-node's AE title (known to Orthanc, C-MOVE destination)
STRANGER_AET = "STRANGER"  # known to nobody


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
                                     cwd=self.workdir)
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


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory):
    exe = orthanc_executable()
    if exe is None:
        pytest.skip("Orthanc is not installed: install the Debian package `orthanc` (apt-get install orthanc; "
                    "./dev.sh test does it when run as root in a container)")
    server = Orthanc(exe, tmp_path_factory.mktemp("orthanc"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def orthanc(orthanc_server):
    """The session's Orthanc, emptied before each test."""
    orthanc_server.reset()
    return orthanc_server


# -- our commands -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """No test reads or writes the user's real network settings or store."""
    monkeypatch.setenv("OSTEO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("OSTEO_STORE", str(tmp_path / "default-store"))


def child_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OSTEO_CONFIG_DIR"] = str(tmp_path / "config")
    env["OSTEO_STORE"] = str(tmp_path / "default-store")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


class NodeProcess:
    """`osteo-node` in a subprocess (so that it can be killed like a real one)."""

    def __init__(self, tmp_path: Path, port: int, *args: str):
        self.port = port
        self.args = ["--port", str(port), *args]
        self.env = child_env(tmp_path)
        self.log = tmp_path / f"node-{port}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 300.0) -> NodeProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "osteo_desktop.cli.node", *self.args],
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("wb"), env=self.env, cwd=REPO)
        wait_for_port(self.port, self.proc, timeout, self.log)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("osteo-node did not stop on SIGTERM:\n" + self.output()[-3000:]) from None
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no clean-up of any kind
        self.proc.wait(10)


@pytest.fixture
def node_factory(tmp_path):
    made: list[NodeProcess] = []

    def make(port: int, *args: str) -> NodeProcess:
        n = NodeProcess(tmp_path, port, *args)
        made.append(n)
        return n

    yield make
    for n in made:
        if n.proc is not None and n.proc.poll() is None:
            n.proc.kill()
            n.proc.wait(10)


def run_pacs(capsys, *args: str) -> tuple[int, str, str]:
    """osteo-pacs in this process: (exit status, stdout, stderr)."""
    from osteo_desktop.cli.pacs import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
