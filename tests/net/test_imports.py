import subprocess
import sys


def test_store_network_and_commands_load_no_qt_and_no_torch():
    code = (
        "import sys, osteo_desktop.core.store, osteo_desktop.core.net, osteo_desktop.cli.node, osteo_desktop.cli.pacs;"
        "bad=[m for m in sys.modules if m.startswith(('PySide6','PyQt','shiboken','torch'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
