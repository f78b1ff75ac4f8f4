"""Opening the store's SQLite database: schema migrations and clear errors.

`open_database(path)` returns a connection in autocommit mode (transactions are explicit, see
`transaction`), with WAL journaling (readers never block the writer) and a busy timeout. It refuses,
with a `StoreError` subclass whose message names the file and the fix:

* a file that is not an SQLite database, or a damaged one (`StoreCorruptError`; nothing is
  changed, never re-created silently);
* a database of another application (`StoreCorruptError`);
* a database written by a newer osteo-desktop (`StoreSchemaError`);
* a database locked by another program for longer than the timeout (`StoreLockedError`).

An older database is migrated forward (`schema.MIGRATIONS`), after a backup copy
`<name>.v<old version>.bak` is written beside it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreCorruptError, StoreError, StoreLockedError, StoreSchemaError
from .schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

APPLICATION_ID = 0x4F535445  # "OSTE": marks the file as an osteo-desktop store
SQLITE_MAGIC = b"SQLite format 3\x00"
DEFAULT_BUSY_TIMEOUT_S = 10.0


def corrupt_message(path: Path, detail: str) -> str:
    return (
        f"{path}: the store's database is damaged or not a database ({detail}). Nothing was changed. Move the "
        f"file aside (keep it for recovery), then open the store again: the image index is rebuilt from the "
        f"files beside it; the screening results and audit trail of the damaged file are not."
    )


def locked_message(path: Path, timeout: float) -> str:
    return (
        f"{path}: the store's database is locked by another program (waited {timeout:.0f} s). Close other "
        f"osteo-desktop windows or commands that use this store, or wait for them to finish, then retry."
    )


def translate(e: sqlite3.Error, path: Path, timeout: float = DEFAULT_BUSY_TIMEOUT_S) -> StoreError:
    """The domain error for an sqlite3 exception (its message names the file and the fix)."""
    text = str(e)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return StoreLockedError(locked_message(path, timeout))
    if "malformed" in low or "not a database" in low or "corrupt" in low or isinstance(e, sqlite3.DatabaseError) and (
        "disk image" in low
    ):
        return StoreCorruptError(corrupt_message(path, text))
    if "readonly" in low or "read-only" in low:
        return StoreError(f"{path}: the store's database is read-only ({text}). Use a store folder you can write to.")
    if "disk is full" in low or "full" in low:
        return StoreError(f"{path}: the disk is full ({text}). Free some space, then retry; nothing was recorded.")
    if "unable to open" in low:
        return StoreError(f"{path}: cannot open the store's database ({text}). Check the folder exists and is writable.")
    return StoreError(f"{path}: store database error ({text}).")


@contextlib.contextmanager
def translated(path: Path, timeout: float = DEFAULT_BUSY_TIMEOUT_S) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as e:
        raise translate(e, path, timeout) from e


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """BEGIN (IMMEDIATE: take the write lock now) ... COMMIT, or ROLLBACK on any exception."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise StoreError(f"{path}: cannot read the store's database ({e.strerror or e}).") from e
    if head and head != SQLITE_MAGIC:
        raise StoreCorruptError(corrupt_message(path, "the file does not start like an SQLite database"))


def open_database(path: str | Path, *, timeout: float = DEFAULT_BUSY_TIMEOUT_S, migrate: bool = True,
                  upto: int | None = None) -> sqlite3.Connection:
    """Open (creating if absent) and migrate the store database. `upto` stops at an older schema
    version (tests build old databases with it)."""
    path = Path(path)
    target = SCHEMA_VERSION if upto is None else upto
    if path.exists():
        _check_header(path)
    try:
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as e:
        raise translate(e, path, timeout) from e
    try:
        with translated(path, timeout):
            conn.execute("PRAGMA foreign_keys = ON")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.info("%s: journal mode %s (WAL not available on this file system)", path, mode)
            conn.execute("PRAGMA synchronous = FULL")
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
            if problems != ["ok"]:
                raise StoreCorruptError(corrupt_message(path, "; ".join(map(str, problems))))
            _migrate(conn, path, target if migrate else None)
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection, path: Path, target: int | None) -> None:
    version = schema_version(conn)
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    has_tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0
    if app_id != APPLICATION_ID and (version or has_tables):
        raise StoreCorruptError(corrupt_message(path, "it is an SQLite database of another application"))
    if version > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"{path}: written by a newer osteo-desktop (database schema {version}; this version knows up to "
            f"{SCHEMA_VERSION}). Upgrade osteo-desktop, or use another store folder."
        )
    if target is None or version >= target:
        return
    if version > 0:
        backup = path.with_name(f"{path.name}.v{version}.bak")
        if not backup.exists():
            dst = sqlite3.connect(str(backup))
            try:
                conn.backup(dst)
            finally:
                dst.close()
            log.info("%s: backed up schema %d to %s before migrating", path, version, backup.name)
    with transaction(conn):
        version = schema_version(conn)  # another process may have migrated meanwhile
        for n in range(version + 1, target + 1):
            title, script = MIGRATIONS[n - 1]
            for stmt in _statements(script):
                conn.execute(stmt)
            log.log(logging.INFO if version else logging.DEBUG, "%s: schema migrated to %d (%s)", path, n, title)
        if not version and target:
            log.info("%s: new store database created", path)
        if target > version:
            conn.execute(f"PRAGMA user_version = {int(target)}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
