"""`osteo-desktop`: the viewer's entry point.

    osteo-desktop [PATH...] [--demo] [--bundle DIR] [--device auto|cpu|cuda|mps]
                  [--screenshot OUT.png] [--exit-after-result] [--no-auto-screen] [--self-test]

The window is shown before anything heavy happens: films load in a pool thread and the model (torch)
loads in the screening thread after the first event-loop turn.

Exit codes with --exit-after-result: 0 screened (or, with no film given, the model loaded);
3 a film could not be opened; 4 no model bundle installed; 5 screening or model error;
6 safety timeout; 7 the screenshot could not be written. 2 is a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()

log = logging.getLogger("osteo_desktop.gui")

EXIT_OK, EXIT_USAGE, EXIT_FILM, EXIT_NO_MODEL, EXIT_SCREENING, EXIT_TIMEOUT, EXIT_SCREENSHOT = 0, 2, 3, 4, 5, 6, 7
DEFAULT_TIMEOUT_S = 300.0
SCREENSHOT_SIZE = (1440, 900)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(
        prog="osteo-desktop",
        description="Read knee and spine radiographs (DICOM, PNG, JPEG, TIFF) and screen them for low bone "
        "density. A screening aid, not a diagnosis.",
        epilog="exit codes with --exit-after-result: 0 screened; 3 a film could not be opened; 4 no model "
        "bundle installed; 5 screening or model error; 6 safety timeout; 7 screenshot not written.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="films or folders to open")
    p.add_argument("--demo", action="store_true", help="open the bundled demo film and screen it")
    p.add_argument("--bundle", metavar="DIR", help="model bundle folder (default: $OSTEO_BUNDLE or model_weights/)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where the model runs (default auto: CUDA when usable, else the CPU; mps only when asked)")
    p.add_argument("--screenshot", metavar="OUT.png", help="save a screenshot of the window once the result (or error) is shown")
    p.add_argument("--exit-after-result", action="store_true",
                   help="exit once the first film is screened (0), or on error (non-zero); implies screening")
    p.add_argument("--no-auto-screen", action="store_true", help="do not screen films as they open (press S)")
    p.add_argument("--self-test", action="store_true", help="run the installation self-test and exit")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                   help=f"safety timeout for --screenshot/--exit-after-result (default {DEFAULT_TIMEOUT_S:.0f} s)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _setup_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
        logging.basicConfig(level=logging.INFO, format=fmt)
        from ..core.logs import escape_log_messages, quiet_third_party_logs

        quiet_third_party_logs()  # the message panel already says what failed and what to do
        escape_log_messages(fmt)  # a file name's control characters never reach the terminal raw


def _self_test(argv: list[str]) -> int:
    """Hand the whole command line to `osteo_desktop.selftest.main` (it has options of its own and
    never imports Qt, so it runs before any Qt or logging set-up here)."""
    selftest = importlib.import_module("osteo_desktop.selftest")
    return int(selftest.main(argv) or 0)


def install_excepthook(window: Any) -> Any:
    """Log unexpected exceptions (any thread) and show them as a message; never crash the viewer."""
    previous = sys.excepthook, threading.excepthook

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous[0](exc_type, exc, tb)
            return
        log.error("unexpected error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        try:
            window.unexpected_error.emit(f"Unexpected error ({exc_type.__name__}: {exc}). The viewer carries on; details are in the log.")
        except RuntimeError:  # the window is already gone
            pass

    sys.excepthook = hook
    threading.excepthook = lambda a: hook(a.exc_type, a.exc_value, a.exc_traceback)
    return previous


class Automation:
    """--screenshot / --exit-after-result: wait for the outcome, grab the window, exit with a code."""

    def __init__(self, app: Any, window: Any, screenshot: str | None, exit_after: bool, expect_film: bool, timeout_s: float,
                 stats: Any = None):
        from PySide6.QtCore import QTimer

        from . import screening as scr

        self.app, self.window, self.stats = app, window, stats
        self.screenshot, self.exit_after = screenshot, exit_after
        self.exit_code: int | None = None
        self.reason = ""
        self._target: str | None = None
        self._film_errors = 0
        self._jobs: set[int] = set()
        self._scr = scr
        window.film_shown.connect(self._on_shown)
        window.film_failed.connect(self._on_film_failed)
        window.load_finished.connect(self._on_load_finished)
        window.screening_done.connect(lambda path, pred: self._outcome(path, EXIT_OK, pred.decision_text))
        window.screening_failed.connect(self._on_screen_failed)
        window.screening_cancelled.connect(lambda path: self._outcome(path, EXIT_SCREENING, "screening was cancelled"))
        if not expect_film:
            window.controller.model_state_changed.connect(self._on_model_state)
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self.finish(EXIT_TIMEOUT, f"no result within {timeout_s:.0f} s (safety timeout)"))
        self._timer.start(int(timeout_s * 1000))

    def expect_job(self, jid: int) -> None:
        self._jobs.add(jid)

    def _on_shown(self, path: str) -> None:
        if self._target is None:
            self._target = path

    def _on_film_failed(self, path: str, message: str) -> None:
        self._film_errors += 1
        if not self._jobs and self._target is None:  # nothing else is coming (e.g. missing demo film)
            self.finish(EXIT_FILM, message)

    def _on_load_finished(self, jid: int, n: int) -> None:
        self._jobs.discard(jid)
        if not self._jobs and self._target is None:
            self.finish(EXIT_FILM, "no film could be opened")

    def _on_screen_failed(self, path: str, message: str) -> None:
        no_model = self.window.controller.model_state == self._scr.NO_MODEL
        self._outcome(path, EXIT_NO_MODEL if no_model else EXIT_SCREENING, message)

    def _outcome(self, path: str, code: int, reason: str) -> None:
        if path != self._target:
            return
        if code == EXIT_OK and self._film_errors:
            code, reason = EXIT_FILM, f"{self._film_errors} film(s) could not be opened"
        self.finish(code, reason)

    def _on_model_state(self, state: str, message: str) -> None:
        scr = self._scr
        if state == scr.READY:
            self.finish(EXIT_OK, message)
        elif state in (scr.NO_MODEL, scr.MODEL_ERROR):
            self.finish(EXIT_NO_MODEL if state == scr.NO_MODEL else EXIT_SCREENING, message)

    def finish(self, code: int, reason: str) -> None:
        if self.exit_code is not None:
            return
        from PySide6.QtCore import QTimer

        self.exit_code, self.reason = code, reason
        self._timer.stop()
        if self.stats is not None:
            self.stats.meter.enter("exiting")  # the screenshot is not a stall of the viewer
        (log.info if code == EXIT_OK else log.error)("automation: exit code %d (%s)", code, reason)
        QTimer.singleShot(200, self._capture_and_exit)  # let the result paint first

    def _capture_and_exit(self) -> None:
        if self.screenshot:
            out = Path(self.screenshot)
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass
            if self.window.grab().save(str(out), "PNG"):
                log.info("screenshot saved to %s", out)
            else:
                log.error("could not write the screenshot %s", out)
                if self.exit_code == EXIT_OK:
                    self.exit_code = EXIT_SCREENSHOT
        if self.exit_after:
            self.app.exit(self.exit_code)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args_list:
        return _self_test(args_list)
    parser = build_parser()
    args, qt_args = parser.parse_known_args(args_list)
    unknown = [a for a in qt_args if a.startswith("--")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    _setup_logging()

    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    from .. import __version__
    from . import stats as stats_mod
    from .main_window import MainWindow
    from .theme import apply_dark_theme

    QCoreApplication.setOrganizationName("osteo-desktop")
    QCoreApplication.setApplicationName("osteo-desktop")
    QCoreApplication.setApplicationVersion(__version__)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0] if sys.argv else "osteo-desktop", *qt_args])
    apply_dark_theme(app)

    automated = bool(args.screenshot or args.exit_after_result)
    stats = stats_mod.from_env()
    auto_screen = False if (args.no_auto_screen and not args.exit_after_result) else (True if automated else None)
    window = MainWindow(
        bundle=args.bundle,
        device=args.device,
        auto_screen=auto_screen,
        persist_settings=not automated,
        stats=stats,
    )
    previous_hooks = install_excepthook(window)
    if automated or not window.geometry_restored:
        window.resize(*SCREENSHOT_SIZE)

    paths = [Path(p) for p in args.paths]
    auto = (
        Automation(app, window, args.screenshot, args.exit_after_result, bool(paths) or args.demo, args.timeout, stats)
        if automated else None
    )

    def after_show() -> None:
        torch_early = "torch" in sys.modules
        shown_ms = (time.perf_counter() - _T0) * 1000
        log.info("window visible %.0f ms after start (torch imported before the window: %s)", shown_ms, torch_early)
        if stats is not None:
            stats.mark("window_shown")
            stats.info.update(torch_before_window=torch_early, window_ms_since_main_import=round(shown_ms, 1))
            stats.meter.start()
            window.screening_done.connect(lambda *_: stats.mark("first_result"))
            window.screening_failed.connect(lambda *_: stats.mark("first_result"))
            window.controller.model_state_changed.connect(lambda st, _m: stats.mark(f"model_{st.replace(' ', '_')}"))
        window.start_background()
        jobs = [window.open_demo()] if args.demo else []  # None (and an error message) when missing
        if paths:
            jobs.append(window.open_paths(paths, remember=not automated))
        if auto is not None:
            for jid in jobs:
                if jid is not None:
                    auto.expect_job(jid)

    window.show()
    QTimer.singleShot(0, after_show)
    try:
        rc = app.exec()
    finally:
        window.shutdown()
        window.hide()  # not close(): a late "last window closed" quit would stop the next event loop
        if stats is not None:
            stats.meter.stop()
            stats.write()
        sys.excepthook, threading.excepthook = previous_hooks
    if auto is not None and auto.exit_code is not None:
        return auto.exit_code
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
