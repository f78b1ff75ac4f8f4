"""The setup script installs the PACS the tests run against (Orthanc), like Qt's system libraries."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEV_SH = Path(__file__).resolve().parents[2] / "dev.sh"


def test_dev_sh_test_installs_orthanc_and_defines_every_function_it_calls():
    text = DEV_SH.read_text()
    defined = set(re.findall(r"^([a-z_]+)\(\) \{", text, flags=re.M))
    branch = re.search(r"^  test\)\n(.*?);;", text, flags=re.M | re.S)
    assert branch is not None
    called = set(re.findall(r"^\s+([a-z_]+)\s*$", branch.group(1), flags=re.M)) | set(
        re.findall(r"^\s+([a-z_]+);", branch.group(1), flags=re.M))
    assert "install_test_tools" in called
    assert called <= defined, f"dev.sh test calls undefined functions: {sorted(called - defined)}"
    body = text[text.index("install_test_tools() {"):]
    body = body[:body.index("\n}\n")]
    assert "apt-get install" in body and " orthanc" in body and "skipped" in body


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not available")
def test_without_apt_it_says_the_tests_skip(tmp_path):
    """On a machine without apt (or not Linux) the function says what to do and lets the tests run."""
    fn = DEV_SH.read_text()
    fn = fn[fn.index("install_test_tools() {"):]
    fn = fn[:fn.index("\n}\n") + 3]
    script = tmp_path / "t.sh"
    # no Orthanc on PATH, /usr/sbin/Orthanc looked up under another name, and no apt-get
    script.write_text(fn.replace("/usr/sbin/Orthanc", str(tmp_path / "absent")) + "\ninstall_test_tools\n")
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={"PATH": str(tmp_path)},
                       executable=shutil.which("bash"))
    assert r.returncode == 0
    assert "PACS tests will be skipped" in r.stderr
