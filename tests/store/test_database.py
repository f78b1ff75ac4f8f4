"""The store database: forward migrations, and clear errors (never silent loss) when it is damaged,
foreign, too new or locked."""

from __future__ import annotations

import sqlite3

import pytest

from osteo_desktop.core.errors import StoreCorruptError, StoreLockedError, StoreSchemaError
from osteo_desktop.core.store import DB_NAME, SCHEMA_VERSION, LocalStore
from osteo_desktop.core.store.database import open_database, schema_version
from tests.dicom_factory import film_bytes, make_film


def test_a_new_store_has_the_current_schema(tmp_path):
    with LocalStore(tmp_path) as s:
        assert schema_version(s._db()) == SCHEMA_VERSION >= 3
        tables = {r[0] for r in s.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"patients", "studies", "series", "instances", "results", "audit", "conflicts"} <= tables


def test_a_version_1_database_migrates_forward_keeping_its_data(tmp_path):
    db = tmp_path / DB_NAME
    conn = open_database(db, upto=1)  # the first released schema: the image index only
    assert schema_version(conn) == 1
    conn.execute("INSERT INTO patients (patient_id, patient_name) VALUES ('P-OLD', 'Old^Patient')")
    conn.execute("INSERT INTO studies (study_uid, patient_ref, study_date, first_received, last_received) "
                 "VALUES ('1.2.3', 1, '20200101', 't', 't')")
    conn.execute("INSERT INTO series (series_uid, study_uid, modality) VALUES ('1.2.3.4', '1.2.3', 'CR')")
    conn.execute("INSERT INTO instances (sop_uid, series_uid, study_uid, path, sha256, size, received_at) "
                 "VALUES ('1.2.3.4.5', '1.2.3.4', '1.2.3', 'studies/1.2.3/1.2.3.4/1.2.3.4.5.dcm', 'ab', 10, 't')")
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {
        "patients", "studies", "series", "instances"}
    conn.close()

    conn = open_database(db)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute("SELECT patient_name FROM patients").fetchall() == [("Old^Patient",)]
        assert conn.execute("SELECT sop_uid, size FROM instances").fetchall() == [("1.2.3.4.5", 10)]
        conn.execute("INSERT INTO results (created_at, status, row_json) VALUES ('t', 'ok', '{}')")  # v2 table
        conn.execute("INSERT INTO conflicts (sop_uid, kept_path, new_path, detected_at) VALUES ('1', 'a', 'b', 't')")
        with pytest.raises(sqlite3.IntegrityError):  # v3's unique (sop_uid, sha256)
            conn.execute("INSERT INTO instances (sop_uid, series_uid, study_uid, path, sha256, size, received_at) "
                         "VALUES ('1.2.3.4.5', '1.2.3.4', '1.2.3', 'other.dcm', 'ab', 10, 't')")
    finally:
        conn.close()
    backup = tmp_path / f"{DB_NAME}.v1.bak"
    assert backup.is_file()  # the old database, as it was, beside the new one
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    old.close()


def test_a_migrated_store_is_usable(tmp_path):
    open_database(tmp_path / DB_NAME, upto=2).close()
    with LocalStore(tmp_path) as s:
        ds = make_film()
        s.add_bytes(film_bytes(ds))
        ds.PatientName = "Other"
        assert s.add_bytes(film_bytes(ds)).status == "conflict"
        assert len(s.conflicts()) == 1


def test_garbage_in_place_of_the_database_is_a_clear_error_and_left_untouched(tmp_path):
    db = tmp_path / DB_NAME
    junk = b"this is not a database, it is a shopping list\n" * 100
    db.write_bytes(junk)
    with pytest.raises(StoreCorruptError) as e:
        LocalStore(tmp_path)
    msg = str(e.value)
    assert str(db) in msg and "Move the file aside" in msg and "damaged" in msg
    assert db.read_bytes() == junk  # never re-created or "repaired" behind the user's back


def test_damaged_pages_are_a_clear_error(tmp_path):
    with LocalStore(tmp_path) as s:
        for i in range(40):
            s.add_bytes(film_bytes(make_film(seed=i, patient_id=f"P-{i:03d}" * 8)))
    db = tmp_path / DB_NAME
    data = bytearray(db.read_bytes())
    assert len(data) > 8192
    data[4096:len(data) - 100] = b"\xa5" * (len(data) - 4196)  # every page after the first overwritten
    db.write_bytes(bytes(data))
    before = db.read_bytes()
    with pytest.raises(StoreCorruptError, match=DB_NAME):
        LocalStore(tmp_path)
    assert db.read_bytes() == before


def test_another_applications_sqlite_file_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreCorruptError, match="another application"):
        LocalStore(tmp_path)


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    LocalStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreSchemaError, match="newer osteo-desktop") as e:
        LocalStore(tmp_path)
    assert f"schema {SCHEMA_VERSION + 1}" in str(e.value)


def test_a_locked_database_is_a_clear_error_and_nothing_is_lost(tmp_path):
    store = LocalStore(tmp_path, timeout=0.2)
    other = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
        ds = make_film()
        with pytest.raises(StoreLockedError) as e:
            store.add_bytes(film_bytes(ds))
        assert str(tmp_path / DB_NAME) in str(e.value) and "locked by another program" in str(e.value)
        with pytest.raises(StoreLockedError):
            store.record_result({"status": "ok", "decision": "low_bmd_suspected"}, sop_uid=ds.SOPInstanceUID)
        other.execute("ROLLBACK")
        # the file was written before the index refused: a retry (the sender's) indexes it, once
        assert store.add_bytes(film_bytes(ds)).status == "stored"
        assert store.count() == 1 and store.check() == ([], [])
    finally:
        other.close()
        store.close()
