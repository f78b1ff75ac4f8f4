import subprocess
import sys


def test_importing_the_core_loads_no_qt_and_no_torch():
    code = (
        "import sys, osteo_desktop.core.display, osteo_desktop.core.preprocessing, osteo_desktop.core.bundle, "
        "osteo_desktop.core.inference, osteo_desktop.core.overlay, osteo_desktop.core.loading, osteo_desktop.cli.screen, "
        "osteo_desktop.core.session, osteo_desktop.core.scoring, osteo_desktop.core.device, osteo_desktop.core.reports;"
        "bad=[m for m in sys.modules if m.startswith(('PySide6','PyQt','shiboken'))];"
        "print(bad); sys.exit(1 if bad or 'torch' in sys.modules else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_qt_import_statement_in_core_sources():
    from pathlib import Path

    import osteo_desktop.core as core

    root = Path(core.__file__).parent
    offenders = [p for p in root.rglob("*.py") if "PySide6" in p.read_text() or "PyQt" in p.read_text()]
    assert offenders == []
