"""`osteo-desktop` entry point: screenshot mode end to end, exit codes, --self-test delegation."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from osteo_desktop.gui import app as gui_app

from .conftest import write_dicom, write_png

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OSTEO_BUNDLE", None)
    env.update(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(REPO))
    return env


@pytest.mark.slow
def test_screenshot_mode_end_to_end_subprocess(tiny_bundle, tmp_path):
    film = write_dicom(tmp_path / "knee.dcm", rows=300, cols=260)
    shot = tmp_path / "out" / "shot.png"
    stats = tmp_path / "stats.json"
    env = _env(tmp_path)
    env["OSTEO_GUI_STATS"] = str(stats)
    cmd = [sys.executable, "-m", "osteo_desktop.gui.app", str(film), "--bundle", str(tiny_bundle.path), "--device", "cpu",
           "--screenshot", str(shot), "--exit-after-result"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    img = QImage(str(shot))
    assert (img.width(), img.height()) == gui_app.SCREENSHOT_SIZE
    assert "torch imported before the window: False" in proc.stderr
    assert "automation: exit code 0" in proc.stderr
    assert "Test^Patient" not in proc.stderr and "19600101" not in proc.stderr  # no patient data in logs
    import json

    data = json.loads(stats.read_text())
    assert data["info"]["torch_before_window"] is False
    assert "first_result" in data["marks"] and data["marks"]["first_result"] >= data["marks"]["window_shown"]


def test_no_bundle_screenshot_exits_4(qapp, tmp_path, monkeypatch):
    monkeypatch.delenv("OSTEO_BUNDLE", raising=False)
    empty = tmp_path / "no_bundle"
    empty.mkdir()
    png = write_png(tmp_path / "a.png")
    shot = tmp_path / "shot.png"
    rc = gui_app.main([str(png), "--bundle", str(empty), "--screenshot", str(shot), "--exit-after-result"])
    assert rc == gui_app.EXIT_NO_MODEL
    assert QImage(str(shot)).width() == gui_app.SCREENSHOT_SIZE[0]


def test_bad_file_exits_3(qapp, tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not an image at all" * 10)
    empty = tmp_path / "no_bundle"
    empty.mkdir()
    shot = tmp_path / "shot.png"
    rc = gui_app.main([str(bad), "--bundle", str(empty), "--screenshot", str(shot), "--exit-after-result"])
    assert rc == gui_app.EXIT_FILM
    assert shot.is_file()


def test_missing_demo_exits_3(qapp, tmp_path, monkeypatch):
    monkeypatch.setattr("osteo_desktop.gui.main_window.demo_film_path", lambda: tmp_path / "nope.dcm")
    empty = tmp_path / "no_bundle"
    empty.mkdir()
    rc = gui_app.main(["--demo", "--bundle", str(empty), "--exit-after-result"])
    assert rc == gui_app.EXIT_FILM


def test_safety_timeout_exits_nonzero(qapp, tmp_path, monkeypatch):
    import threading

    from .conftest import FakeScreener

    gate = threading.Event()
    monkeypatch.setattr("osteo_desktop.gui.screening.default_factory", lambda b, d: FakeScreener(gate=gate))
    png = write_png(tmp_path / "a.png")
    try:
        rc = gui_app.main([str(png), "--exit-after-result", "--timeout", "1"])
    finally:
        gate.set()
    assert rc == gui_app.EXIT_TIMEOUT


def test_self_test_is_delegated(monkeypatch):
    calls = []
    mod = types.ModuleType("osteo_desktop.selftest")
    mod.__spec__ = importlib.machinery.ModuleSpec("osteo_desktop.selftest", None)
    mod.main = lambda argv: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "osteo_desktop.selftest", mod)
    # the self-test's own options (unknown to the viewer) are passed through untouched
    assert gui_app.main(["--self-test", "--json", "--device", "cpu"]) == 0
    assert calls == [["--self-test", "--json", "--device", "cpu"]]
    mod.main = lambda argv: 3
    assert gui_app.main(["--self-test"]) == 3


def test_unknown_option_is_a_usage_error():
    with pytest.raises(SystemExit) as e:
        gui_app.main(["--no-such-option"])
    assert e.value.code == 2


def test_importing_the_gui_does_not_import_torch(tmp_path):
    code = (
        "import sys; import osteo_desktop.gui.app, osteo_desktop.gui.main_window, osteo_desktop.gui.screening;"
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), timeout=60).returncode == 0
