"""installer/linux/qt-libs.sh: every system library Qt's xcb platform needs, and the check that
dev.sh, install.sh and the installed launcher run with it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QT_LIBS = REPO / "installer" / "linux" / "qt-libs.sh"
# the C/C++ runtime and the loader: on every Linux system, never worth a message
BASE = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libpthread.so.0", "libdl.so.2", "librt.so.1"}

pytestmark = pytest.mark.skipif(os.name != "posix" or shutil.which("bash") is None, reason="needs bash")


def listed() -> dict[str, str]:
    """soname -> Debian package, as qt-libs.sh lists them (read by bash itself)."""
    out = subprocess.run(["bash", "-c", f'. "{QT_LIBS}"; printf "%s" "$QT_XCB_LIBS"'], capture_output=True, text=True,
                         check=True).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def needed(lib: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def test_the_list_is_what_the_xcb_plugin_needs():
    """Derived again from the installed PySide6: libqxcb.so and the Qt libraries it loads, less
    what PySide6 bundles and the C/C++ runtime. Fails when a new PySide6 needs another library."""
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) not installed")
    pyside = pytest.importorskip("PySide6")
    qt = Path(pyside.__file__).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip("this PySide6 has no xcb platform plugin (not Linux)")
    bundled = {p.name for p in (qt / "lib").iterdir()}
    system: set[str] = set()
    todo, seen = [plugin], set()
    while todo:
        lib = todo.pop()
        for name in needed(lib):
            if name in bundled:
                if name not in seen:
                    seen.add(name)
                    todo.append(qt / "lib" / name)
            elif name not in BASE and not name.startswith("ld-linux"):
                system.add(name)
    assert {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"} <= system
    assert set(listed()) == system


def _fake_ldconfig(folder: Path, present: list[str]) -> Path:
    """An `ldconfig` whose -p lists only `present`, in ldconfig's own format."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{len(present)} libs found in cache `/etc/ld.so.cache'"]
    lines += [f"\t{so} (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/{so}" for so in present]
    tool = folder / "ldconfig"
    tool.write_text("#!/bin/sh\ncat <<'EOF'\n" + "\n".join(lines) + "\nEOF\n")
    tool.chmod(0o755)
    return folder


def _check(bin_dir: Path) -> subprocess.CompletedProcess:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(["bash", "-c", f'set -euo pipefail; . "{QT_LIBS}"; qt_check_libs "p: "'], capture_output=True,
                          text=True, env=env)


def test_the_check_names_what_is_missing_and_the_packages(tmp_path):
    libs = listed()
    gone = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]  # what the old check missed
    r = _check(_fake_ldconfig(tmp_path / "bin", [so for so in libs if so not in gone]))
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == "p: system libraries Qt 6 needs to open its window are missing: libxcb-icccm.so.4 libxcb-keysyms.so.1"
    assert lines[1] == "p: Debian/Ubuntu: sudo apt-get install libxcb-icccm4 libxcb-keysyms1"
    assert lines[2] == "p: Fedora/RHEL:   sudo dnf install 'libxcb-icccm.so.4()(64bit)' 'libxcb-keysyms.so.1()(64bit)'"


def test_the_check_is_silent_when_everything_is_there(tmp_path):
    r = _check(_fake_ldconfig(tmp_path / "bin", list(listed())))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_one_package_for_two_libraries_is_named_once(tmp_path):
    libs = listed()
    gone = ["libglib-2.0.so.0", "libgthread-2.0.so.0"]
    r = _check(_fake_ldconfig(tmp_path / "bin", [so for so in libs if so not in gone]))
    assert "sudo apt-get install libglib2.0-0\n" in r.stderr


def test_readme_and_install_notes_name_every_package():
    packages = set(listed().values())
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(ln for ln in readme.splitlines() if "apt-get install libxcb" in ln or "apt-get install libx" in ln)
    named = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", line.split("apt-get install", 1)[1].split("`")[0]))
    assert packages <= named, sorted(packages - named)


def test_the_launcher_warns_and_still_starts(tmp_path):
    from .test_packaging_files import _fake_artifact

    stage = _fake_artifact(tmp_path)
    prefix = tmp_path / "prefix"
    bin_dir = _fake_ldconfig(tmp_path / "bin", [so for so in listed() if so != "libxcb-cursor.so.0"])
    env = {"HOME": str(tmp_path), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    r = subprocess.run(["bash", str(stage / "install.sh"), "--prefix", str(prefix), "--no-self-test", "--no-menu"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "NOTE: Debian/Ubuntu: sudo apt-get install libxcb-cursor0" in r.stderr
    out = subprocess.run([str(prefix / "bin" / "osteo-desktop"), "a.dcm"], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "fake app a.dcm"
    assert "osteo-desktop: system libraries Qt 6 needs to open its window are missing: libxcb-cursor.so.0" in out.stderr
    quiet = subprocess.run([str(prefix / "bin" / "osteo-desktop"), "--self-test"], capture_output=True, text=True, env=env)
    assert quiet.stderr == ""  # the self-test needs no window
