"""Atomic file writes: write a temporary file beside the target, then rename it into place.

A reader never sees a half-written file. With `overwrite=False` an existing target is never
replaced, race-free: the finished temporary file is hard-linked to the target name (which fails if
the name exists); on file systems without hard links it falls back to an existence check.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def _write_temp(target: Path, data: bytes) -> str:
    """`data` in a new temporary file beside `target`, flushed to disk; returns its name (a failed
    write, e.g. a full disk, leaves no temporary file behind)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _remove_temp(tmp)
        raise
    return tmp


def _place(tmp: str, target: Path, overwrite: bool) -> None:
    """Put a finished temporary file at `target`; without `overwrite`, never over an existing file."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some network/FAT file systems)
        if target.exists():
            raise FileExistsError(target) from None
        os.replace(tmp, target)


def _remove_temp(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover
        log.warning("could not remove temporary file %s", tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """Write `data` to `path` atomically. Raises FileExistsError when `overwrite` is False and it exists."""
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:  # a file stands where the folder should be: not "target exists"
        raise NotADirectoryError(f"{target.parent} is a file, not a folder") from e
    tmp = ""
    try:
        tmp = _write_temp(target, data)
        _place(tmp, target, overwrite)
    finally:
        if tmp:
            _remove_temp(tmp)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def atomic_write_group(files: dict[Path, bytes], *, overwrite: bool = False) -> list[Path]:
    """Write several files all or nothing: every file is written (and fsynced) to a temporary name
    first, and only when all of them are on disk are they put in place. A full disk or any other
    error while writing leaves none of them (never a film PNG without its overlay and JSON).

    Without `overwrite` an existing target raises FileExistsError before anything is placed (race-
    free by hard links, as `atomic_write_bytes`); the files of the group placed so far are removed.
    """
    temps: dict[Path, str] = {}
    placed: list[Path] = []
    try:
        for target, data in files.items():
            if not overwrite and target.exists():
                raise FileExistsError(target)
            temps[target] = _write_temp(target, data)
        for target, tmp in temps.items():
            _place(tmp, target, overwrite)
            placed.append(target)
    except BaseException:
        if not overwrite:  # what this group created (an overwrite cannot be taken back)
            for target in placed:
                try:
                    os.unlink(target)
                except OSError:  # pragma: no cover
                    log.warning("could not remove %s after a failed group write", target)
        raise
    finally:
        for tmp in temps.values():
            _remove_temp(tmp)
    return placed
