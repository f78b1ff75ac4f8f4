"""Fixtures of the network tests: a real PACS (Orthanc, started per session with a generated config on
free loopback ports), osteo-node in a subprocess, and in-process runs of osteo-pacs.

Orthanc comes from the Debian package `orthanc` (`./dev.sh test` installs it as root in a container);
where it is missing the Orthanc tests skip with a message naming the package.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.orthanc_server import (  # noqa: F401 - re-exported for the test modules
    NODE_AET,
    ORTHANC_AET,
    SCU_AET,
    STRANGER_AET,
    Orthanc,
    die_with_parent,
    free_port,
    start_orthanc,
    wait_for_port,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory):
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
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
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("wb"), env=self.env, cwd=REPO,
                                     preexec_fn=die_with_parent)
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
