"""Text from outside (file names, DICOM tags) on its way to a terminal, a log, a file name or a report.

A file name may hold a newline (which would forge a second log line such as "ERROR: ..."), ANSI
escape sequences (which a terminal obeys: colours, cursor moves, a retitled window), or Unicode
bidirectional overrides (which make a name read differently from what it is).

* `escape_controls(text)`: make every such character visible (`\\n`, `\\x1b`, `\\u202e`): for
  terminals and logs, where the reader must see that something odd is there.
* `strip_controls(text)`: drop them (whitespace controls become a space): for values shown as text
  in reports and the viewer (patient names, descriptions) and for file names we create.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, zero-width and bidirectional formatting characters, BOM
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}
_WHITESPACE = "\t\n\r\x0b\x0c\x85\u2028\u2029"


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def has_controls(text: str) -> bool:
    return _CONTROL.search(text) is not None


def escape_controls(text: object) -> str:
    """Every control / invisible formatting character shown as an escape; the rest unchanged."""
    s = str(text)
    return _CONTROL.sub(_escape, s) if _CONTROL.search(s) else s


def strip_controls(text: object) -> str:
    """Control / invisible formatting characters removed (whitespace ones become one space)."""
    s = str(text)
    if not _CONTROL.search(s):
        return s
    return _CONTROL.sub(lambda m: " " if m.group(0) in _WHITESPACE else "", s)
