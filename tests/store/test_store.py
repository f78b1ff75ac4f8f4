"""The local study store: atomic adds, duplicates and conflicts, reconcile, results and the audit trail."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from osteo_desktop.core.errors import StoreError
from osteo_desktop.core.store import (
    CONFLICT,
    DB_NAME,
    DUPLICATE,
    STORED,
    InvalidInstanceError,
    LocalStore,
    content_digest,
    os_user,
)
from tests.dicom_factory import film_bytes, make_film


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "store")
    yield s
    s.close()


def dcm_files(store: LocalStore) -> list[str]:
    return sorted(p.relative_to(store.folder).as_posix() for p in (store.folder / "studies").rglob("*.dcm"))


def test_add_writes_the_file_under_study_series_instance_and_indexes_it(store):
    ds = make_film(patient_id="P-7", patient_name="Doe^Jane", accession="A-77", study_date="20230405")
    data = film_bytes(ds)
    r = store.add_bytes(data, source="ORTHANC")
    assert r.status == STORED and r.is_new
    assert r.path == store.folder / "studies" / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
    assert r.path.read_bytes() == data  # byte for byte what was given
    [row] = store.instances()
    assert (row.sop_uid, row.study_uid, row.series_uid, row.modality) == (
        ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID, "DX")
    assert row.source == "ORTHANC" and row.size == len(data) and row.sha256 == content_digest(data)
    assert row.received_at.endswith("Z")
    (pid, name, acc, date) = store.execute(
        "SELECT p.patient_id, p.patient_name, s.accession, s.study_date FROM studies s JOIN patients p ON p.id = s.patient_ref")[0]
    assert (pid, name, acc, date) == ("P-7", "Doe^Jane", "A-77", "20230405")
    assert not list(store.folder.rglob("*.tmp"))


def test_same_instance_with_identical_bytes_is_a_no_op(store):
    data = film_bytes(make_film())
    first = store.add_bytes(data)
    mtime = first.path.stat().st_mtime_ns
    again = store.add_bytes(data)
    assert again.status == DUPLICATE and not again.is_new and again.path == first.path
    assert store.count() == 1 and len(dcm_files(store)) == 1 and first.path.stat().st_mtime_ns == mtime
    assert store.conflicts() == []


def test_identical_data_set_with_other_file_meta_is_still_a_duplicate(store):
    ds = make_film()
    store.add_bytes(film_bytes(ds))
    ds.file_meta.ImplementationVersionName = "OTHER_WRITER"
    ds.file_meta.SourceApplicationEntityTitle = "SOMEONE"
    assert store.add_bytes(film_bytes(ds)).status == DUPLICATE
    assert store.count() == 1


def test_same_instance_with_different_bytes_keeps_both_and_records_the_conflict(store):
    ds = make_film(seed=1)
    first = store.add_bytes(film_bytes(ds), source="PACS_A")
    ds.PatientName = "Corrected^Name"
    second = store.add_bytes(film_bytes(ds), source="PACS_B")
    assert second.status == CONFLICT and second.path != first.path
    assert first.path.is_file() and second.path.is_file()
    assert second.path.name.startswith(ds.SOPInstanceUID + ".") and second.path.name.endswith(".dcm")
    assert store.count() == 2
    [c] = store.conflicts()
    assert c["sop_uid"] == ds.SOPInstanceUID and c["source"] == "PACS_B"
    assert store.folder / c["kept_path"] == first.path and store.folder / c["new_path"] == second.path
    assert [a.action for a in store.audit_trail()] == ["conflict"]
    # the second copy again: a no-op as well
    assert store.add_bytes(film_bytes(ds)).status == DUPLICATE and store.count() == 2


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_uids_that_are_not_uids_never_name_a_path_outside_the_store(store, tmp_path):
    ds = make_film(study_uid="../../../escape", series_uid="a/b\\c", sop_uid="..")
    r = store.add_bytes(film_bytes(ds))
    assert store.folder / "studies" in r.path.parents
    assert ".." not in r.path.relative_to(store.folder).parts
    assert not (tmp_path / "escape").exists()
    assert store.instance("..").path == r.path  # still indexed under its real UID


def test_data_without_uids_is_refused_and_nothing_is_written(store):
    ds = make_film()
    del ds.StudyInstanceUID
    with pytest.raises(InvalidInstanceError, match="Study Instance UID"):
        store.add_bytes(film_bytes(ds), source="X")
    with pytest.raises(InvalidInstanceError):
        store.add_bytes(b"not dicom at all" * 20)
    assert store.count() == 0 and dcm_files(store) == []


def test_received_data_set_becomes_a_part10_file_with_the_negotiated_syntax(store):
    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from pydicom.uid import ImplicitVRLittleEndian

    ds = make_film()
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_dataset(fp, ds)  # the data set alone, as it travels in a C-STORE
    raw = fp.getvalue()
    r = store.add_received(raw, sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID,
                           transfer_syntax=ImplicitVRLittleEndian, source="SCU")
    back = pydicom.dcmread(r.path)
    assert back.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert back.SOPInstanceUID == ds.SOPInstanceUID and back.PixelData == ds.PixelData
    assert r.path.read_bytes().endswith(raw)  # the data set exactly as received, never re-encoded


def test_threads_adding_the_same_and_different_instances_agree(store):
    films = [film_bytes(make_film(seed=i)) for i in range(6)]
    errors = []

    def worker():
        try:
            for data in films:
                store.add_bytes(data)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 6 and len(dcm_files(store)) == 6 and store.conflicts() == []
    assert store.check() == ([], [])


def test_two_processes_worth_of_stores_share_one_folder(tmp_path):
    a, b = LocalStore(tmp_path / "s"), LocalStore(tmp_path / "s")
    try:
        data = film_bytes(make_film())
        assert a.add_bytes(data).status == STORED
        assert b.add_bytes(data).status == DUPLICATE
        assert b.count() == 1
    finally:
        a.close()
        b.close()


# -- store and index agree after a crash -------------------------------------------------------


def test_reconcile_indexes_orphans_drops_rows_of_vanished_files_and_clears_stale_temps(store):
    kept = store.add_bytes(film_bytes(make_film(seed=1)))
    gone = store.add_bytes(film_bytes(make_film(seed=2)))
    # a crash after the file was written but before it was indexed:
    orphan_ds = make_film(seed=3)
    orphan = store.folder / "studies" / orphan_ds.StudyInstanceUID / orphan_ds.SeriesInstanceUID / f"{orphan_ds.SOPInstanceUID}.dcm"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(film_bytes(orphan_ds))
    # a crash in the middle of a write (old and fresh temporary files):
    stale = kept.path.parent / f".{orphan.name}.abc.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = kept.path.parent / ".x.dcm.def.tmp"
    fresh.write_bytes(b"half")
    gone.path.unlink()  # somebody deleted a file
    junk = store.folder / "studies" / "junk.dcm"
    junk.write_bytes(b"garbage")

    assert store.check() == (sorted([orphan.relative_to(store.folder).as_posix(), "studies/junk.dcm"]),
                             [gone.path.relative_to(store.folder).as_posix()])
    report = store.reconcile()
    assert report.indexed == [orphan.relative_to(store.folder).as_posix()]
    assert report.removed == [gone.path.relative_to(store.folder).as_posix()]
    assert report.unreadable == ["studies/junk.dcm"] and report.temp_removed == 1
    assert not stale.exists() and fresh.exists()  # a write in progress elsewhere is left alone
    assert store.instance(orphan_ds.SOPInstanceUID).path == orphan
    assert store.instance(gone.header.sop_uid) is None
    [entry] = store.audit_trail(action="index-file-missing")
    assert entry.sop_uid == gone.header.sop_uid
    junk.unlink()
    assert store.check() == ([], [])
    assert store.reconcile().clean


def test_an_unindexed_copy_at_the_target_is_reused_when_identical(store):
    ds = make_film()
    data = film_bytes(ds)
    target = store.folder / "studies" / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
    target.parent.mkdir(parents=True)
    target.write_bytes(data)  # written by a node that was killed before indexing it
    r = store.add_bytes(data)  # the sender retries
    assert r.status == STORED and r.path == target and store.count() == 1 and len(dcm_files(store)) == 1


def test_a_deleted_index_is_rebuilt_from_the_files(tmp_path, caplog):
    s = LocalStore(tmp_path / "s")
    sops = {s.add_bytes(film_bytes(make_film(seed=i))).header.sop_uid for i in range(3)}
    s.close()
    (tmp_path / "s" / DB_NAME).unlink()
    for extra in ("-wal", "-shm"):
        (tmp_path / "s" / (DB_NAME + extra)).unlink(missing_ok=True)
    with caplog.at_level("WARNING", logger="osteo_desktop"):
        s2 = LocalStore(tmp_path / "s")
    try:
        assert {r.sop_uid for r in s2.instances()} == sops
        assert "rebuilding" in caplog.text
    finally:
        s2.close()


def test_a_folder_that_cannot_be_created_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the store folder"):
        LocalStore(blocker / "store")
    with pytest.raises(StoreError, match="no such store folder"):
        LocalStore(tmp_path / "absent", create=False)


# -- screening results and the audit trail ------------------------------------------------------


def row(decision="low_bmd_suspected", status="ok", score=0.8, file="/x/film.dcm", **extra):
    d = {"file": file, "status": status, "error": "" if status == "ok" else "boom", "decision": decision,
         "low_bmd_score": score, "threshold": 0.5, "probabilities": {"normal": 0.2},
         "model": {"name": "m", "version": "1.2", "sha256": "ab" * 32, "architecture": "x"}}
    d.update(extra)
    return d


def test_results_keep_the_whole_row_and_index_its_fields(store):
    r = row(new_field_from_a_later_version={"anything": [1, 2]})
    rid = store.record_result(r, sop_uid="1.2.3", study_uid="1.2", series_uid="1.2.9", patient_id="P", source="test")
    [res] = store.results()
    assert res.id == rid and res.row == r  # unknown fields survive, no schema change needed
    assert (res.status, res.decision, res.score, res.model_name, res.model_version, res.model_sha256) == (
        "ok", "low_bmd_suspected", 0.8, "m", "1.2", "ab" * 32)
    assert res.os_user == os_user() and res.source == "test"
    [a] = store.audit_trail()
    assert (a.action, a.sop_uid, a.study_uid, a.model_name, a.model_version, a.model_sha256, a.outcome) == (
        "screen", "1.2.3", "1.2", "m", "1.2", "ab" * 32, "low_bmd_suspected")
    assert a.os_user == os_user() and a.details["result_id"] == rid


def test_latest_result_per_film(store):
    store.record_result(row(status="error", decision=None, score=None), sop_uid="1.1", study_uid="9")
    store.record_result(row(decision="low_bmd_not_suspected", score=0.1), sop_uid="1.1", study_uid="9")
    store.record_result(row(), sop_uid="1.2", study_uid="9")
    latest = store.results(study_uid="9", latest_only=True)
    assert {(r.sop_uid, r.decision) for r in latest} == {("1.1", "low_bmd_not_suspected"), ("1.2", "low_bmd_suspected")}


def test_exports_are_audited_with_model_and_user(store):
    from osteo_desktop.core.inference import ModelInfo

    m = ModelInfo("net", "2.0", "cd" * 32, "arch")
    store.audit("export-pdf", study_uid="1.2", target="/out/report.pdf", model=m)
    store.audit("send", study_uid="1.2", target="PACS@h:104", outcome="failed", details={"error": "refused"})
    a, b = store.audit_trail(study_uid="1.2")
    assert (a.action, a.target, a.model_name, a.model_version, a.model_sha256, a.outcome) == (
        "export-pdf", "/out/report.pdf", "net", "2.0", "cd" * 32, "ok")
    assert (b.action, b.outcome, b.details) == ("send", "failed", {"error": "refused"})
    assert a.at <= b.at and a.os_user == os_user()


def test_a_failed_write_leaves_no_index_row(store, monkeypatch):
    import osteo_desktop.core.store.store as mod

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mod, "atomic_write_bytes", boom)
    with pytest.raises(StoreError, match="No space left"):
        store.add_bytes(film_bytes(make_film()))
    assert store.count() == 0


def test_index_failure_after_the_write_is_repaired_by_reconcile(store, monkeypatch):
    """The file is on disk, the transaction failed (killed, locked): the index learns it at the next start."""
    ds = make_film()
    original = LocalStore._index

    def fail(*a, **k):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(LocalStore, "_index", staticmethod(fail))
    with pytest.raises(StoreError, match="locked"):
        store.add_bytes(film_bytes(ds))
    monkeypatch.setattr(LocalStore, "_index", staticmethod(original))
    assert store.count() == 0 and len(dcm_files(store)) == 1
    assert store.reconcile().indexed == [dcm_files(store)[0]]
    assert store.instance(ds.SOPInstanceUID) is not None


def test_one_instance_in_implicit_then_explicit_vr_is_the_same_content(store):
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    ds = make_film()
    encoded = {}
    for ts, implicit in ((ImplicitVRLittleEndian, True), (ExplicitVRLittleEndian, False)):
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, implicit
        write_dataset(fp, ds)
        encoded[ts] = fp.getvalue()
    assert encoded[ImplicitVRLittleEndian] != encoded[ExplicitVRLittleEndian]
    first = store.add_received(encoded[ImplicitVRLittleEndian], sop_class_uid=ds.SOPClassUID,
                               sop_instance_uid=ds.SOPInstanceUID, transfer_syntax=ImplicitVRLittleEndian)
    again = store.add_received(encoded[ExplicitVRLittleEndian], sop_class_uid=ds.SOPClassUID,
                               sop_instance_uid=ds.SOPInstanceUID, transfer_syntax=ExplicitVRLittleEndian)
    assert (first.status, again.status) == (STORED, DUPLICATE) and store.count() == 1
    ds.PixelData = bytes(len(ds.PixelData))  # other pixels: a real conflict, whatever the encoding
    assert store.add_bytes(film_bytes(ds)).status == CONFLICT
