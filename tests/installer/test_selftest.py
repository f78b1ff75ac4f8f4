"""`osteo-desktop --self-test` (osteo_desktop.selftest): passes on a good bundle, one clear line on failure."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from osteo_desktop import selftest

REPO = Path(__file__).resolve().parents[2]
FAIL_PREFIX = "osteo-desktop self-test: FAILED: "


@pytest.fixture
def no_default_bundle(monkeypatch):
    """No $OSTEO_BUNDLE and no bundled model_weights/, whatever this checkout holds."""
    monkeypatch.delenv("OSTEO_BUNDLE", raising=False)
    monkeypatch.setattr("osteo_desktop.core.bundle.default_bundle_dir", lambda: None)


def _first_line(capsys) -> str:
    out = capsys.readouterr().out
    assert out, "the self-test printed nothing on stdout"
    return out.splitlines()[0]


@pytest.mark.slow
def test_passes_with_a_bundle(tiny_bundle, capsys):
    assert selftest.main(["--bundle", str(tiny_bundle.path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "osteo-desktop self-test: PASSED"
    for needle in ("osteo-desktop 0.", "python", "torch", "timm", "pydicom", "PySide6", "device",
                   "test-bundle 0.0.1-test", tiny_bundle.config.sha256[:12], "knee_demo.dcm", "low-BMD score",
                   "1 PDF", "load model", "screen", "report", "from source"):
        assert needle in out, f"{needle!r} missing from the summary:\n{out}"


def test_json_result_and_kept_report(tiny_bundle, tmp_path, capsys):
    rc = selftest.main(["--bundle", str(tiny_bundle.path), "--json", "--report-dir", str(tmp_path / "r"),
                        "--device", "cpu", "--output", str(tmp_path / "st.json")])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d == json.loads((tmp_path / "st.json").read_text())
    assert d["ok"] is True and d["exit_code"] == 0 and d["reason"] == ""
    assert d["device"] == "cpu" and d["frozen"] is False
    assert d["model"]["sha256"] == tiny_bundle.config.sha256
    assert d["steps_passed"] == ["import", "model", "film", "decoders", "screen", "report"]
    assert set(d["timings_ms"]) >= {"load_model", "screen", "report", "total"}
    assert d["result"]["decision"] in ("low_bmd_suspected", "low_bmd_not_suspected")
    pdfs = list((tmp_path / "r").glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF-") and d["report"]["bytes"] == pdfs[0].stat().st_size
    for v in ("torch", "timm", "pydicom", "PySide6"):
        assert d["versions"][v] != "missing"


def test_bundle_from_environment(tiny_bundle, monkeypatch, capsys):
    monkeypatch.setenv("OSTEO_BUNDLE", str(tiny_bundle.path))
    assert selftest.main([]) == 0
    assert _first_line(capsys).endswith("PASSED")


def test_no_bundled_model_is_a_clear_failure(no_default_bundle, capsys):
    assert selftest.main(["--self-test"]) == selftest.EXIT_BUNDLE
    line = _first_line(capsys)
    assert line.startswith(FAIL_PREFIX + "model: no bundled model")
    assert "--bundle" in line and "OSTEO_BUNDLE" in line


def test_folder_without_bundle(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert selftest.main(["--bundle", str(tmp_path / "empty")]) == selftest.EXIT_BUNDLE
    line = _first_line(capsys)
    assert line.startswith(FAIL_PREFIX + "model: no model bundle") and "config.json" in line


def test_tampered_bundle(tiny_bundle, tmp_path, capsys):
    bad = tmp_path / "tampered"
    shutil.copytree(tiny_bundle.path, bad)
    w = bad / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    assert selftest.main(["--bundle", str(bad)]) == selftest.EXIT_BUNDLE
    line = _first_line(capsys)
    assert line.startswith(FAIL_PREFIX + "model: model bundle failed its integrity check") and "sha256" in line


def test_missing_film_and_bad_usage(tiny_bundle, tmp_path, capsys):
    assert selftest.main(["--bundle", str(tiny_bundle.path), "--film", str(tmp_path / "nope.dcm")]) == selftest.EXIT_FAILED
    assert _first_line(capsys).startswith(FAIL_PREFIX + "film: demo film ")
    assert selftest.main(["--device", "tpu"]) == selftest.EXIT_USAGE


def test_decoder_round_trips():
    checks = selftest.check_decoders()
    assert len(checks) == 4 and set(checks.values()) == {"ok"}
    assert any("JPEG 2000" in k for k in checks) and any("JPEG-LS" in k for k in checks)


@pytest.mark.slow
def test_command_line_exit_status_and_no_qt(tiny_bundle):
    """As `python -m`: exit status 0, JSON on stdout, and Qt never imported."""
    r = subprocess.run([sys.executable, "-m", "osteo_desktop.selftest", "--bundle", str(tiny_bundle.path), "--json",
                        "--device", "cpu"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    d = json.loads(r.stdout)
    assert d["ok"] and d["qt_loaded"] is False


def test_entry_script_falls_back_to_selftest(tiny_bundle, monkeypatch, capsys):
    """installer/entry.py runs the self-test itself when the GUI package cannot be imported."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("osteo_entry", REPO / "installer" / "entry.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    monkeypatch.setitem(sys.modules, "osteo_desktop.gui.app", None)  # import -> ImportError
    assert entry.main(["--self-test", "--bundle", str(tiny_bundle.path)]) == 0
    assert _first_line(capsys).endswith("PASSED")
    assert entry.main(["--demo"]) == 1


def test_empty_report_is_a_failure_without_patient_names(tiny_bundle, monkeypatch, capsys):
    import osteo_desktop.core.reports as reports_pkg
    import osteo_desktop.core.reports.pdf as pdf

    def fake_write(items, out_dir, **kw):
        p = Path(out_dir) / "DOE^JANE_report.pdf"
        p.write_bytes(b"")
        return [p]

    monkeypatch.setattr(pdf, "write_patient_reports", fake_write)
    if hasattr(reports_pkg, "write_patient_reports"):
        monkeypatch.setattr(reports_pkg, "write_patient_reports", fake_write)
    assert selftest.main(["--bundle", str(tiny_bundle.path)]) == selftest.EXIT_FAILED
    out = capsys.readouterr().out
    assert out.splitlines()[0] == FAIL_PREFIX + "report: PDF report 1 of 1 is empty (0 bytes)"
    assert "DOE" not in out
