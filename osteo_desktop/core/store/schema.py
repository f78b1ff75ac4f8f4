"""The store database's schema, as an ordered list of forward migrations.

`PRAGMA user_version` holds the schema version. Migration N takes a version N-1 database to version
N; a new database runs them all. Never edit a released migration: append a new one (and a test that
opens a database of the previous version).

Tables (version 3):

* `patients`, `studies`, `series`, `instances`: the image index. An instance row is one file of the
  store (its path relative to the store folder, sha256 of its data set, size, transfer syntax, when
  it arrived and from whom). The same SOP Instance UID may have several rows only when copies with
  different content were received (each such arrival is recorded in `conflicts`).
* `results`: one row per screening of a film: indexed columns (decision, score, model name,
  version, sha256, ...) plus `row_json`, the full JSON row `osteo-screen --json` prints, so that new
  fields flow through without a schema change.
* `audit`: the audit trail: every screening and every export or send (what, when, which model, which
  operating-system user).
* `conflicts`: the same SOP Instance UID received again with different bytes.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "image index: patients, studies, series, instances",
        """
        CREATE TABLE patients (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL DEFAULT '',
            patient_name TEXT NOT NULL DEFAULT '',
            birth_date TEXT NOT NULL DEFAULT '',
            sex TEXT NOT NULL DEFAULT '',
            UNIQUE (patient_id, patient_name, birth_date)
        );
        CREATE TABLE studies (
            study_uid TEXT PRIMARY KEY,
            patient_ref INTEGER NOT NULL REFERENCES patients(id),
            study_date TEXT NOT NULL DEFAULT '',
            study_time TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            accession TEXT NOT NULL DEFAULT '',
            first_received TEXT NOT NULL,
            last_received TEXT NOT NULL
        );
        CREATE INDEX studies_patient ON studies(patient_ref);
        CREATE INDEX studies_date ON studies(study_date);
        CREATE TABLE series (
            series_uid TEXT PRIMARY KEY,
            study_uid TEXT NOT NULL REFERENCES studies(study_uid),
            modality TEXT NOT NULL DEFAULT '',
            series_number TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            body_part TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX series_study ON series(study_uid);
        CREATE TABLE instances (
            id INTEGER PRIMARY KEY,
            sop_uid TEXT NOT NULL,
            sop_class_uid TEXT NOT NULL DEFAULT '',
            series_uid TEXT NOT NULL REFERENCES series(series_uid),
            study_uid TEXT NOT NULL REFERENCES studies(study_uid),
            instance_number TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL UNIQUE,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            transfer_syntax TEXT NOT NULL DEFAULT '',
            received_at TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX instances_sop ON instances(sop_uid);
        CREATE INDEX instances_series ON instances(series_uid);
        CREATE INDEX instances_study ON instances(study_uid);
        """,
    ),
    (
        "screening results and the audit trail",
        """
        CREATE TABLE results (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            os_user TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            file TEXT NOT NULL DEFAULT '',
            sop_uid TEXT NOT NULL DEFAULT '',
            series_uid TEXT NOT NULL DEFAULT '',
            study_uid TEXT NOT NULL DEFAULT '',
            patient_id TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            decision TEXT,
            score REAL,
            threshold REAL,
            model_name TEXT NOT NULL DEFAULT '',
            model_version TEXT NOT NULL DEFAULT '',
            model_sha256 TEXT NOT NULL DEFAULT '',
            row_json TEXT NOT NULL
        );
        CREATE INDEX results_sop ON results(sop_uid);
        CREATE INDEX results_study ON results(study_uid);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            os_user TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            study_uid TEXT NOT NULL DEFAULT '',
            sop_uid TEXT NOT NULL DEFAULT '',
            target TEXT NOT NULL DEFAULT '',
            model_name TEXT NOT NULL DEFAULT '',
            model_version TEXT NOT NULL DEFAULT '',
            model_sha256 TEXT NOT NULL DEFAULT '',
            outcome TEXT NOT NULL DEFAULT 'ok',
            details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_study ON audit(study_uid);
        CREATE INDEX audit_at ON audit(at);
        """,
    ),
    (
        "conflicting copies of one SOP Instance UID",
        """
        CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY,
            sop_uid TEXT NOT NULL,
            kept_path TEXT NOT NULL,
            new_path TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX conflicts_sop ON conflicts(sop_uid);
        CREATE UNIQUE INDEX instances_sop_content ON instances(sop_uid, sha256);
        """,
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)
