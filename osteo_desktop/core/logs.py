"""Logging helpers shared by the command-line tool and the viewer."""

from __future__ import annotations

import logging


class _DropThirdPartyNoise(logging.Filter):
    """Drops pydicom's own records below CRITICAL.

    pydicom logs every failing decoder's traceback and notes on non-conformant values; the loader
    turns those failures into one message that names the file and the fix, so the user sees that
    instead. (A filter on the handlers, because pydicom resets its logger's level when imported.)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "pydicom" or record.name.startswith("pydicom.")) or record.levelno >= logging.CRITICAL


def quiet_third_party_logs() -> None:
    """Install the filter on every handler of the root logger (call after configuring logging)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _DropThirdPartyNoise) for f in handler.filters):
            handler.addFilter(_DropThirdPartyNoise())
