"""PyInstaller entry point of the frozen osteo-desktop application.

Starts the viewer (`osteo_desktop.gui.app:main`). `--self-test` is handled by the viewer's main,
which delegates to `osteo_desktop.selftest.main`; should the GUI package not import at all (a broken
or partial build), `--self-test` still runs the self-test directly so that it can say what is wrong.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("osteo_desktop.entry")

EXIT_FAILED = 1


def _attach_windows_console() -> None:
    """A windowed Windows build has no stdout: borrow the console of the shell that started it."""
    if sys.platform != "win32" or sys.stdout is not None:
        return
    try:
        import ctypes

        if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
            sys.stdout = open("CONOUT$", "w", encoding="utf-8", errors="replace")
            sys.stderr = sys.stdout
    except Exception:  # no console to borrow (double-clicked): --output FILE still works
        pass


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # grad-cam imports matplotlib.pyplot: keep it on the Agg backend (no Tk, no second Qt binding)
    os.environ.setdefault("MPLBACKEND", "Agg")
    self_test = "--self-test" in args
    if self_test:
        _attach_windows_console()
    try:
        from osteo_desktop.gui.app import main as gui_main
    except ImportError as e:
        if not self_test:
            logging.basicConfig(level=logging.ERROR, format="%(levelname)s: %(message)s")
            log.error("the viewer cannot start: %s. Run `osteo-desktop --self-test` for a diagnosis.", e)
            return EXIT_FAILED
        from osteo_desktop.selftest import main as self_test_main

        logging.getLogger("osteo_desktop").debug("GUI not importable (%s); running the self-test directly", e)
        return self_test_main([a for a in args if a != "--self-test"])
    sys.argv = [sys.argv[0], *args]
    result = gui_main() if argv is None else _call_with_argv(gui_main, args)
    return int(result or 0)


def _call_with_argv(fn, args: list[str]):
    try:
        return fn(args)
    except TypeError:  # a main() that reads sys.argv itself
        return fn()


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()  # torch/sklearn may spawn workers; needed in frozen Windows apps
    sys.exit(main())
