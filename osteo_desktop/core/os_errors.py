"""OS errors in words: "the disk is full", "the output folder is read-only", not "Errno 28".

An OS error while writing an output is the user's machine saying no (a full disk, a read-only
folder, a missing drive); the message must say which, name the file, and say what to do, never
"unexpected error ... report it".
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .text import escape_controls

_WHAT = {
    errno.ENOSPC: ("the disk is full (no space left on the device)", "free some space and run again"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space and run again"),
    errno.EROFS: ("the output folder is on a read-only file system", "choose a writable --out folder"),
    errno.EACCES: ("permission denied: the output folder is read-only for you", "choose a folder you can write to"),
    errno.EPERM: ("the operation is not permitted here", "choose a folder you can write to"),
    errno.ENAMETOOLONG: ("the file name is too long for this file system", "use a shorter --out path"),
    errno.ENOTDIR: ("a file stands where a folder should be", "choose another --out folder"),
    errno.EISDIR: ("a folder stands where the file should be", "remove it or choose another --out folder"),
    errno.ELOOP: ("the path runs in a loop of symbolic links", "fix the links or choose another folder"),
    errno.ENOENT: ("the folder no longer exists (a removed drive?)", "check the --out folder and run again"),
    errno.EIO: ("an input/output error on the drive", "check the drive and run again"),
}


def describe_os_error(e: OSError, path: str | os.PathLike[str] | None = None, action: str = "write") -> str:
    """One line: '<path>: cannot write: the disk is full (...); free some space and run again.'"""
    what, fix = _WHAT.get(e.errno or -1, (e.strerror or str(e) or type(e).__name__, "check the folder and the drive"))
    where = escape_controls(Path(path)) if path is not None else escape_controls(e.filename or "")
    return f"{where}: cannot {action}: {what}; {fix}." if where else f"cannot {action}: {what}; {fix}."
