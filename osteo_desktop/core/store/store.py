"""`LocalStore`: DICOM files in a folder, indexed in SQLite, with screening results and an audit trail.

Adding an instance writes its file first (atomically: a temporary file, fsynced, then linked into
place, never overwriting) and indexes it second, in one transaction. A crash between the two leaves
a complete file without an index row, which `reconcile()` (run when a node starts) indexes; it never
leaves an index row without its file. A caller acknowledges an instance (a C-STORE success) only
after `add_*` returned, so an acknowledged instance is on disk and in the index.

The same SOP Instance UID with the same content (see `files.content_digest`) is a no-op
("duplicate"); with different content both copies are kept and the arrival is recorded in the
`conflicts` table ("conflict").

One `LocalStore` may be shared by threads (calls are serialised by a lock). Several processes may
use one store folder at the same time (SQLite's locking; WAL journal). The rows and outcomes it hands
back are the dataclasses of `records`.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..errors import StoreError
from .database import DEFAULT_BUSY_TIMEOUT_S, open_database, transaction, translated
from .files import (
    DB_NAME,
    STUDIES_DIR,
    SUFFIX,
    InstanceHeader,
    content_digest,
    encode_dataset,
    inspect_instance,
    instance_relpath,
    part10_bytes,
    read_header,
)
from .records import CONFLICT, DUPLICATE, STORED, AuditEntry, InstanceRow, ReconcileReport, ResultRow, StoredInstance

log = logging.getLogger(__name__)

SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."  # every Structured Report storage SOP class

#: SOP classes that are not pictures: structured reports and key objects, presentation states,
#: encapsulated documents, raw data / spatial registrations
NON_FILM_SOP_CLASS_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.11.",
                               "1.2.840.10008.5.1.4.1.1.104.", "1.2.840.10008.5.1.4.1.1.66")
#: `source` of the instances osteo-desktop made itself (SR and secondary capture of a result)
OWN_OUTPUT_SOURCES = frozenset({"osteo-node"})
#: temporary files of interrupted writes older than this are removed by `reconcile`
STALE_TEMP_S = 3600.0


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        env = os.environ.get("USER") or os.environ.get("USERNAME")
        if env:
            return env
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


class InvalidInstanceError(StoreError):
    """The bytes received are not a DICOM instance the store can index (no UIDs, unreadable)."""


def _model_of(model: Any) -> tuple[str, str, str]:
    if model is None:
        return "", "", ""
    if isinstance(model, dict):
        return str(model.get("name") or ""), str(model.get("version") or ""), str(model.get("sha256") or "")
    return str(getattr(model, "name", "")), str(getattr(model, "version", "")), str(getattr(model, "sha256", ""))


class LocalStore:
    """A store folder and its index. Raises StoreError (and subclasses) with the fix in the message."""

    def __init__(self, folder: str | os.PathLike[str], *, timeout: float = DEFAULT_BUSY_TIMEOUT_S, create: bool = True):
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            if not create:
                raise StoreError(f"{self.folder}: no such store folder. Check the path, or let osteo-node create it.")
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"{self.folder}: cannot create the store folder ({e.strerror or e}). "
                                 "Choose a folder you can write to (--store).") from e
        self.db_path = self.folder / DB_NAME
        self.timeout = timeout
        had_db = self.db_path.exists()
        self._conn: sqlite3.Connection | None = open_database(self.db_path, timeout=timeout)
        self._lock = threading.RLock()
        if not had_db and (self.folder / STUDIES_DIR).is_dir():
            log.warning("%s: no index found beside existing files; rebuilding it from the files", self.folder)
            report = self.reconcile()
            log.warning("%s: index rebuilt: %d files indexed", self.folder, len(report.indexed))

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.db_path}: the store was closed.")
        return self._conn

    def _translated(self):
        return translated(self.db_path, self.timeout)

    # -- adding instances --------------------------------------------------------------------
    def add_received(self, dataset_bytes: bytes, *, sop_class_uid: str, sop_instance_uid: str,
                     transfer_syntax: str, source: str = "") -> StoredInstance:
        """An encoded data set as received by C-STORE (in the negotiated transfer syntax)."""
        data = part10_bytes(dataset_bytes, sop_class_uid=sop_class_uid, sop_instance_uid=sop_instance_uid,
                            transfer_syntax=transfer_syntax)
        return self.add_bytes(data, source=source)

    def add_dataset(self, ds: Any, *, source: str = "") -> StoredInstance:
        """A pydicom Dataset with file meta (our own SR / SC outputs)."""
        return self.add_bytes(encode_dataset(ds), source=source)

    def add_file(self, path: str | os.PathLike[str], *, source: str = "import") -> StoredInstance:
        """A copy of a DICOM file (the original is left alone)."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as e:
            raise StoreError(f"{p}: cannot read the file ({e.strerror or e}).") from e
        return self.add_bytes(data, source=source)

    def add_bytes(self, data: bytes, *, source: str = "") -> StoredInstance:
        """A DICOM Part 10 file's bytes: written atomically, then indexed (see the module docstring)."""
        try:
            header, digest = inspect_instance(data)
        except ValueError as e:
            raise InvalidInstanceError(f"instance from {source or 'an unknown source'}: {e}; not stored.") from e
        with self._lock:
            with self._translated():
                rows = self._db().execute("SELECT path, sha256 FROM instances WHERE sop_uid = ? ORDER BY id",
                                          (header.sop_uid,)).fetchall()
            for rel, sha in rows:
                if sha == digest:
                    if not (self.folder / rel).is_file():  # the index knew it, the file was removed: restore
                        log.warning("%s: file was missing; restored from a new copy", rel)
                        self._write(rel, data, overwrite=True)
                    return StoredInstance(DUPLICATE, self.folder / rel, header, digest)
            rel = instance_relpath(header.study_uid, header.series_uid, header.sop_uid, digest if rows else None)
            rel = self._write_new(rel, data, digest, header)
            conflict_with = rows[0][0] if rows else None
            if conflict_with is None and rel != instance_relpath(header.study_uid, header.series_uid, header.sop_uid):
                conflict_with = instance_relpath(header.study_uid, header.series_uid, header.sop_uid)
            try:
                with self._translated(), transaction(self._db()) as db:
                    self._index(db, rel, header, digest, len(data), source, utc_now())
                    if conflict_with is not None:
                        db.execute("INSERT INTO conflicts (sop_uid, kept_path, new_path, detected_at, source) "
                                   "VALUES (?, ?, ?, ?, ?)", (header.sop_uid, conflict_with, rel, utc_now(), source))
                        self._audit(db, "conflict", study_uid=header.study_uid, sop_uid=header.sop_uid, target=rel,
                                    details={"kept": conflict_with, "source": source})
            except sqlite3.IntegrityError:  # another process indexed the same content meanwhile
                return StoredInstance(DUPLICATE, self.folder / rel, header, digest)
        if conflict_with is not None:
            log.warning("SOP Instance %s received again with different content (from %s); both kept, conflict "
                        "recorded", header.sop_uid, source or "?")
            return StoredInstance(CONFLICT, self.folder / rel, header, digest)
        return StoredInstance(STORED, self.folder / rel, header, digest)

    def _write(self, rel: str, data: bytes, *, overwrite: bool) -> None:
        try:
            atomic_write_bytes(self.folder / rel, data, overwrite=overwrite)
        except FileExistsError:
            raise
        except OSError as e:
            raise StoreError(f"{self.folder / rel}: cannot write the instance ({e.strerror or e}). Check free "
                             "space and permissions of the store folder.") from e

    def _write_new(self, rel: str, data: bytes, digest: str, header: InstanceHeader) -> str:
        """Write at `rel`; if a file is already there (unindexed: an interrupted earlier arrival or another
        process) keep it when identical, else write at the content-named path."""
        for candidate in (rel, instance_relpath(header.study_uid, header.series_uid, header.sop_uid, digest)):
            try:
                self._write(candidate, data, overwrite=False)
                return candidate
            except FileExistsError:
                try:
                    existing = (self.folder / candidate).read_bytes()
                except OSError:
                    existing = b""
                if content_digest(existing) == digest:
                    return candidate
        raise StoreError(f"{self.folder / rel}: two different files claim this instance's content name; "
                         "run the store check (osteo-node --check) and report it.")

    @staticmethod
    def _index(db: sqlite3.Connection, rel: str, h: InstanceHeader, digest: str, size: int, source: str,
               now: str) -> None:
        db.execute(
            "INSERT INTO patients (patient_id, patient_name, birth_date, sex) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (patient_id, patient_name, birth_date) DO UPDATE SET "
            "sex = CASE WHEN excluded.sex != '' THEN excluded.sex ELSE patients.sex END",
            (h.patient_id, h.patient_name, h.birth_date, h.sex),
        )
        (patient_ref,) = db.execute("SELECT id FROM patients WHERE patient_id = ? AND patient_name = ? AND "
                                    "birth_date = ?", (h.patient_id, h.patient_name, h.birth_date)).fetchone()
        db.execute(
            "INSERT INTO studies (study_uid, patient_ref, study_date, study_time, description, accession, "
            "first_received, last_received) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (study_uid) DO UPDATE SET last_received = excluded.last_received, "
            "study_date = CASE WHEN studies.study_date = '' THEN excluded.study_date ELSE studies.study_date END, "
            "description = CASE WHEN studies.description = '' THEN excluded.description ELSE studies.description END, "
            "accession = CASE WHEN studies.accession = '' THEN excluded.accession ELSE studies.accession END",
            (h.study_uid, patient_ref, h.study_date, h.study_time, h.study_description, h.accession, now, now),
        )
        db.execute(
            "INSERT INTO series (series_uid, study_uid, modality, series_number, description, body_part) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (series_uid) DO NOTHING",
            (h.series_uid, h.study_uid, h.modality, h.series_number, h.series_description, h.body_part),
        )
        db.execute(
            "INSERT INTO instances (sop_uid, sop_class_uid, series_uid, study_uid, instance_number, path, sha256, "
            "size, transfer_syntax, received_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (h.sop_uid, h.sop_class_uid, h.series_uid, h.study_uid, h.instance_number, rel, digest, size,
             h.transfer_syntax, now, source),
        )

    # -- store and index agree ---------------------------------------------------------------
    def _walk(self) -> Iterator[Path]:
        root = self.folder / STUDIES_DIR
        if not root.is_dir():
            return
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                yield Path(dirpath) / name

    def check(self) -> tuple[list[str], list[str]]:
        """(files without an index row, index rows without a file), as relative paths; changes nothing."""
        files = {p.relative_to(self.folder).as_posix() for p in self._walk()
                 if p.name.endswith(SUFFIX) and not p.name.startswith(".")}
        with self._lock, self._translated():
            rows = {r[0] for r in self._db().execute("SELECT path FROM instances")}
        return sorted(files - rows), sorted(rows - files)

    def reconcile(self, *, stale_temp_s: float = STALE_TEMP_S) -> ReconcileReport:
        """Make the index agree with the files: index complete files it lacks, drop rows whose file is
        gone (audited), delete temporary files of interrupted writes older than `stale_temp_s`."""
        report = ReconcileReport()
        now = time.time()
        for p in list(self._walk()):
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                try:
                    if now - p.stat().st_mtime >= stale_temp_s:
                        p.unlink()
                        report.temp_removed += 1
                except OSError:
                    pass
        with self._lock:
            unindexed, missing = self.check()
            for rel in unindexed:
                path = self.folder / rel
                try:
                    data = path.read_bytes()
                    header, digest = inspect_instance(data)
                except (OSError, ValueError) as e:
                    log.warning("%s: not indexed: %s", path, e)
                    report.unreadable.append(rel)
                    continue
                with self._translated():
                    twin = self._db().execute("SELECT path FROM instances WHERE sop_uid = ? AND sha256 = ?",
                                              (header.sop_uid, digest)).fetchone()
                if twin is not None and (self.folder / twin[0]).is_file():
                    path.unlink()
                    report.redundant.append(rel)
                    continue
                with self._translated(), transaction(self._db()) as db:
                    if twin is not None:
                        db.execute("DELETE FROM instances WHERE path = ?", (twin[0],))
                    self._index(db, rel, header, digest, len(data), "reconcile", utc_now())
                report.indexed.append(rel)
            for rel in missing:
                with self._translated(), transaction(self._db()) as db:
                    row = db.execute("SELECT study_uid, sop_uid FROM instances WHERE path = ?", (rel,)).fetchone()
                    if row is None:
                        continue
                    db.execute("DELETE FROM instances WHERE path = ?", (rel,))
                    self._audit(db, "index-file-missing", study_uid=row[0], sop_uid=row[1], target=rel,
                                outcome="removed from index")
                log.warning("%s: file is gone; its index row was removed (recorded in the audit trail)", rel)
                report.removed.append(rel)
        return report

    # -- reading the index -------------------------------------------------------------------
    _INSTANCE_COLS = ("i.id, i.sop_uid, i.sop_class_uid, i.series_uid, i.study_uid, i.path, i.sha256, i.size, "
                      "i.transfer_syntax, i.received_at, i.source, s.modality")

    def _instance_rows(self, where: str, params: tuple) -> list[InstanceRow]:
        sql = (f"SELECT {self._INSTANCE_COLS} FROM instances i JOIN series s ON s.series_uid = i.series_uid "
               f"{where} ORDER BY i.study_uid, s.series_number, i.series_uid, CAST(i.instance_number AS INTEGER), i.id")
        with self._lock, self._translated():
            rows = self._db().execute(sql, params).fetchall()
        return [InstanceRow(r[0], r[1], r[2], r[3], r[4], self.folder / r[5], *r[6:]) for r in rows]

    def instances(self, *, study_uid: str | None = None, series_uid: str | None = None) -> list[InstanceRow]:
        clauses, params = [], []
        if study_uid:
            clauses.append("i.study_uid = ?")
            params.append(study_uid)
        if series_uid:
            clauses.append("i.series_uid = ?")
            params.append(series_uid)
        return self._instance_rows(("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(params))

    def film_paths(self, study_uid: str) -> list[Path]:
        """The files of a study worth opening in the viewer: image instances, without structured reports,
        presentation states, documents and our own screening outputs (SR, secondary capture)."""
        return [r.path for r in self.instances(study_uid=study_uid)
                if not r.sop_class_uid.startswith(NON_FILM_SOP_CLASS_PREFIXES) and r.source not in OWN_OUTPUT_SOURCES]

    def instance(self, sop_uid: str) -> InstanceRow | None:
        """The first-received copy of an instance (None when not in the store)."""
        rows = self._instance_rows("WHERE i.sop_uid = ?", (sop_uid,))
        return min(rows, key=lambda r: r.id) if rows else None

    def count(self, table: str = "instances") -> int:
        if table not in ("patients", "studies", "series", "instances", "results", "audit", "conflicts"):
            raise ValueError(table)
        with self._lock, self._translated():
            return int(self._db().execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def conflicts(self) -> list[dict[str, str]]:
        with self._lock, self._translated():
            rows = self._db().execute("SELECT sop_uid, kept_path, new_path, detected_at, source FROM conflicts "
                                      "ORDER BY id").fetchall()
        return [dict(zip(("sop_uid", "kept_path", "new_path", "detected_at", "source"), r, strict=True)) for r in rows]

    # -- screening results and the audit trail -----------------------------------------------
    def record_result(self, row: dict[str, Any], *, sop_uid: str = "", series_uid: str = "", study_uid: str = "",
                      patient_id: str = "", source: str = "") -> int:
        """Record one screening (the JSON row `osteo-screen --json` prints) and its audit entry."""
        status = str(row.get("status") or "error")
        decision = row.get("decision")
        score = row.get("low_bmd_score")
        threshold = row.get("threshold")
        name, version, sha = _model_of(row.get("model"))
        now, user = utc_now(), os_user()
        with self._lock, self._translated(), transaction(self._db()) as db:
            cur = db.execute(
                "INSERT INTO results (created_at, os_user, source, file, sop_uid, series_uid, study_uid, patient_id, "
                "status, decision, score, threshold, model_name, model_version, model_sha256, row_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, user, source, str(row.get("file") or ""), sop_uid, series_uid, study_uid, patient_id, status,
                 decision, None if score is None else float(score), None if threshold is None else float(threshold),
                 name, version, sha, json.dumps(row, sort_keys=True, default=str)),
            )
            rid = int(cur.lastrowid or 0)
            self._audit(db, "screen", study_uid=study_uid, sop_uid=sop_uid, target=str(row.get("file") or ""),
                        model=row.get("model"), outcome=status if status != "ok" else str(decision or "ok"),
                        details={"result_id": rid, "source": source, "error": row.get("error") or ""}, now=now, user=user)
        return rid

    def audit(self, action: str, *, study_uid: str = "", sop_uid: str = "", target: str = "", model: Any = None,
              outcome: str = "ok", details: dict[str, Any] | None = None) -> int:
        """Append to the audit trail (exports, sends, retrieves...). Returns the entry's id."""
        with self._lock, self._translated(), transaction(self._db()) as db:
            return self._audit(db, action, study_uid=study_uid, sop_uid=sop_uid, target=target, model=model,
                               outcome=outcome, details=details)

    def audit_export(self, path: Path, *, kind: str | None = None, model: Any = None,
                     details: dict[str, Any] | None = None) -> int:
        """Record a written report: "pdf", or "dicom" told apart by SOP class into an SR ("sr") or a
        Secondary Capture ("sc"), with its study and SOP instance; `kind` defaults from the suffix."""
        kind = kind or ("pdf" if path.suffix.lower() == ".pdf" else "dicom")
        study_uid = sop_uid = ""
        if kind == "dicom":
            try:
                h = read_header(path)
                study_uid, sop_uid = h.study_uid, h.sop_uid
                kind = "sr" if h.sop_class_uid.startswith(SR_CLASS_PREFIX) else "sc"
            except ValueError:
                pass
        return self.audit(f"export-{kind}", study_uid=study_uid, sop_uid=sop_uid, target=str(path), model=model,
                          details=details)

    @staticmethod
    def _audit(db: sqlite3.Connection, action: str, *, study_uid: str = "", sop_uid: str = "", target: str = "",
               model: Any = None, outcome: str = "ok", details: dict[str, Any] | None = None,
               now: str | None = None, user: str | None = None) -> int:
        name, version, sha = _model_of(model)
        cur = db.execute(
            "INSERT INTO audit (at, os_user, action, study_uid, sop_uid, target, model_name, model_version, "
            "model_sha256, outcome, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now or utc_now(), user or os_user(), action, study_uid, sop_uid, target, name, version, sha, outcome,
             json.dumps(details or {}, sort_keys=True, default=str)),
        )
        return int(cur.lastrowid or 0)

    def results(self, *, sop_uid: str | None = None, study_uid: str | None = None,
                latest_only: bool = False) -> list[ResultRow]:
        clauses, params = [], []
        if sop_uid is not None:
            clauses.append("sop_uid = ?")
            params.append(sop_uid)
        if study_uid is not None:
            clauses.append("study_uid = ?")
            params.append(study_uid)
        if latest_only:
            clauses.append("id IN (SELECT max(id) FROM results GROUP BY CASE WHEN sop_uid != '' THEN sop_uid ELSE file END)")
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._lock, self._translated():
            rows = self._db().execute(
                "SELECT id, created_at, os_user, source, file, sop_uid, study_uid, status, decision, score, model_name, "
                f"model_version, model_sha256, row_json FROM results {where} ORDER BY id", tuple(params)).fetchall()
        return [ResultRow(id=r[0], created_at=r[1], os_user=r[2], source=r[3], file=r[4], sop_uid=r[5], study_uid=r[6],
                          status=r[7], decision=r[8], score=r[9], model_name=r[10], model_version=r[11],
                          model_sha256=r[12], row=json.loads(r[13])) for r in rows]

    def audit_trail(self, *, study_uid: str | None = None, action: str | None = None) -> list[AuditEntry]:
        clauses, params = [], []
        if study_uid is not None:
            clauses.append("study_uid = ?")
            params.append(study_uid)
        if action is not None:
            clauses.append("action = ?")
            params.append(action)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._lock, self._translated():
            rows = self._db().execute(
                "SELECT id, at, os_user, action, study_uid, sop_uid, target, model_name, model_version, model_sha256, "
                f"outcome, details FROM audit {where} ORDER BY id", tuple(params)).fetchall()
        return [AuditEntry(id=r[0], at=r[1], os_user=r[2], action=r[3], study_uid=r[4], sop_uid=r[5], target=r[6],
                           model_name=r[7], model_version=r[8], model_sha256=r[9], outcome=r[10],
                           details=json.loads(r[11])) for r in rows]

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        """A read-only query on the index (used by the worklist)."""
        with self._lock, self._translated():
            return self._db().execute(sql, params).fetchall()
