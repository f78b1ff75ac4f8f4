"""Static checks of the installer files: spec, desktop entry, Inno Setup script, install.sh."""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installer"
SPEC = INSTALLER / "osteo_desktop.spec"
DESKTOP = INSTALLER / "linux" / "osteo-desktop.desktop"


def test_spec_parses_and_names_hidden_imports_and_data():
    src = SPEC.read_text(encoding="utf-8")
    ast.parse(src, filename=str(SPEC))
    strings = {n.value for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    for hidden in ("pydicom.pixels.decoders", "pydicom.pixels.encoders", "pylibjpeg", "libjpeg", "openjpeg",
                   "jpeg_ls", "timm", "pytorch_grad_cam", "osteo_desktop", "highdicom", "safetensors.torch",
                   "PySide6.QtWidgets"):
        assert hidden in strings, f"hidden import {hidden!r} not named in the spec"
    for data in ("model_weights", "resources/demo", "resources/icons", "knee_demo.dcm", "config.json",
                 "model.safetensors", "MODEL_CARD.md", "fonts"):
        assert data in strings, f"data {data!r} not named in the spec"
    for dist in ("pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pyjpegls", "PySide6-Essentials"):
        assert dist in strings, f"metadata of {dist!r} not copied (entry points / versions)"
    for excluded in ("tkinter", "PyQt5", "triton", "training"):
        assert excluded in strings
    assert "include_py_files=True" in src and '"pyz+py"' in src
    assert "cv2/qt" in src  # opencv's own Qt plugins are dropped
    for platform_plugin in ("libqxcb.so", "libqoffscreen.so", "qwindows.dll", "libqcocoa.dylib"):
        assert platform_plugin in strings
    assert "upx=False" in src
    assert 'collect_dynamic_libs("torchvision", search_patterns=' in src  # torchvision/_C_stable.so (torchvision >= 0.29)


def test_spec_inputs_exist():
    assert (INSTALLER / "entry.py").is_file()
    assert (REPO / "resources" / "demo" / "knee_demo.dcm").is_file()
    for icon in ("osteo-desktop.png", "osteo-desktop.svg", "osteo-desktop.ico", "osteo-desktop.icns"):
        assert (REPO / "resources" / "icons" / icon).stat().st_size > 0
    ast.parse((INSTALLER / "entry.py").read_text(encoding="utf-8"))


def _desktop_entry() -> configparser.RawConfigParser:
    cp = configparser.RawConfigParser(delimiters=("=",), comment_prefixes=("#",), strict=True)
    cp.optionxform = str  # keys are case-sensitive
    cp.read_string(DESKTOP.read_text(encoding="utf-8"))
    return cp


def test_desktop_entry_is_valid():
    cp = _desktop_entry()
    assert cp.sections() == ["Desktop Entry"]
    e = cp["Desktop Entry"]
    assert e["Type"] == "Application"
    assert e["Exec"].split()[0] == "osteo-desktop" and e["Exec"].split()[1] in ("%f", "%F", "%u", "%U")
    assert e["Icon"] == "osteo-desktop" and (REPO / "resources" / "icons" / "osteo-desktop.png").is_file()
    assert e["Name"] and e["Terminal"] == "false"
    mimes = e["MimeType"].split(";")
    assert e["MimeType"].endswith(";") and "application/dicom" in mimes
    assert e["Categories"].endswith(";") and "MedicalSoftware" in e["Categories"].split(";")
    known = {"Type", "Version", "Name", "GenericName", "Comment", "Exec", "TryExec", "Icon", "Terminal", "Categories",
             "MimeType", "Keywords", "StartupNotify", "StartupWMClass"}
    assert set(e) <= known, set(e) - known


def test_desktop_entry_passes_desktop_file_validate():
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate (desktop-file-utils) not installed")
    r = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout.lower(), r.stdout + r.stderr


def test_inno_setup_script_has_the_required_parts():
    iss = (INSTALLER / "windows" / "osteo-desktop.iss").read_text(encoding="utf-8")
    for section in ("[Setup]", "[Tasks]", "[Files]", "[Icons]", "[Registry]", "[Run]"):
        assert section in iss
    assert "{autoprograms}" in iss or "{group}" in iss  # start-menu entry
    assert "Uninstallable=yes" in iss or "Uninstallable" not in iss
    assert "dicomassoc" in iss and ".dcm" in iss  # optional file association task
    for ref in ("LicenseFile", "InfoBeforeFile"):
        line = next(ln for ln in iss.splitlines() if ln.startswith(ref + "="))
        assert (INSTALLER / "windows" / line.split("=", 1)[1].strip()).is_file(), line


def _fake_artifact(tmp_path: Path) -> Path:
    stage = tmp_path / "stage"
    (stage / "osteo-desktop").mkdir(parents=True)
    app = stage / "osteo-desktop" / "osteo-desktop"
    app.write_text("#!/bin/sh\necho \"fake app $*\"\n")
    app.chmod(0o755)
    for f in ("install.sh", "uninstall.sh", "qt-libs.sh", "osteo-desktop.desktop", "INSTALL.txt"):
        shutil.copy(INSTALLER / "linux" / f, stage / f)
    for f in ("osteo-desktop.png", "osteo-desktop.svg"):
        shutil.copy(REPO / "resources" / "icons" / f, stage / f)
    return stage


@pytest.mark.skipif(os.name != "posix" or shutil.which("bash") is None, reason="needs bash")
def test_install_and_uninstall_into_a_prefix(tmp_path):
    stage = _fake_artifact(tmp_path)
    prefix = tmp_path / "prefix"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(["bash", str(stage / "install.sh"), "--prefix", str(prefix), "--no-self-test"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    launcher = prefix / "bin" / "osteo-desktop"
    out = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, env=env | {"QT_QPA_PLATFORM": "offscreen"})
    assert out.stdout.strip() == "fake app --version"
    entry = (prefix / "share" / "applications" / "osteo-desktop.desktop").read_text()
    assert f"Exec={launcher} %F" in entry
    assert (prefix / "share" / "icons" / "hicolor" / "256x256" / "apps" / "osteo-desktop.png").is_file()
    assert (prefix / "share" / "mime" / "packages" / "osteo-desktop-dicom.xml").is_file()
    r = subprocess.run(["bash", str(prefix / "share" / "osteo-desktop" / "uninstall.sh"), "--prefix", str(prefix)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert not launcher.exists() and not (prefix / "share" / "osteo-desktop").exists()


def test_shell_scripts_parse():
    for script in ("build.sh", "smoke_test.sh", "linux/install.sh", "linux/uninstall.sh", "linux/qt-libs.sh"):
        r = subprocess.run(["bash", "-n", str(INSTALLER / script)], capture_output=True, text=True)
        assert r.returncode == 0, f"{script}: {r.stderr}"
