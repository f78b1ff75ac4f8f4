"""Logging helpers shared by the command-line tool and the viewer."""

from __future__ import annotations

import logging
import os

from .text import escape_controls

#: Libraries whose own log records our messages replace: pydicom logs every failing decoder's
#: traceback and notes on non-conformant values; tifffile logs every malformed tag it skips; highdicom
#: narrates every module it copies into an SR or SC.
_NOISY = ("pydicom", "tifffile", "highdicom")


class _DropThirdPartyNoise(logging.Filter):
    """Drops pydicom's and tifffile's own records below CRITICAL.

    The loader turns their failures into one message that names the file and the fix, so the user
    sees that instead. (A filter on the handlers, because pydicom resets its logger's level when
    imported.)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        noisy = any(record.name == n or record.name.startswith(n + ".") for n in _NOISY)
        return not noisy or record.levelno >= logging.CRITICAL


class EscapingFormatter(logging.Formatter):
    """A formatter whose message part shows control characters as escapes (`\\n`, `\\x1b`...).

    A file name with a newline cannot forge a second log line ("ERROR: ..."), and ANSI escape
    sequences in a name or a tag never reach the terminal. Tracebacks (with -v) keep their lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # logging API name
        saved = record.message
        record.message = escape_controls(saved)
        try:
            return super().formatMessage(record)
        finally:
            record.message = saved


def quiet_third_party_logs() -> None:
    """Install the filter on every handler of the root logger (call after configuring logging)."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # read when cv2 is first imported
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _DropThirdPartyNoise) for f in handler.filters):
            handler.addFilter(_DropThirdPartyNoise())


def escape_log_messages(fmt: str) -> None:
    """Give every handler of the root logger an `EscapingFormatter` with `fmt`."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(EscapingFormatter(fmt))
