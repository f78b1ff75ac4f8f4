"""osteo-pacs and osteo-node against a real PACS nobody here wrote: Orthanc.

Orthanc runs with a generated configuration on free loopback ports (see conftest.py); it knows our
client (OSTEOTEST) and our node (OSTEONODE) and nobody else.
"""

from __future__ import annotations

import io
import time

import pydicom
import pytest
from pydicom.uid import generate_uid

from osteo_desktop.core.store import LocalStore, content_digest
from tests.dicom_factory import film_bytes, make_film

from .conftest import NODE_AET, ORTHANC_AET, SCU_AET, STRANGER_AET, json_lines, run_pacs

pytestmark = pytest.mark.orthanc


def pacs_args(orthanc, *extra: str) -> list[str]:
    return ["--pacs", orthanc.pacs, "--aet", SCU_AET, "--timeout", "20", *extra]


def upload_study(orthanc, n: int = 2, series: int = 1, **kw) -> list:
    study = kw.pop("study_uid", None) or generate_uid()
    series_uids = [generate_uid() for _ in range(series)]
    films = []
    for i in range(n):
        ds = make_film(study_uid=study, series_uid=series_uids[i % series], series_number=i % series + 1,
                       instance_number=i + 1, seed=i, **kw)
        orthanc.upload(film_bytes(ds))
        films.append(ds)
    return films


def test_echo_both_ways(orthanc, node_factory, capsys, tmp_path):
    code, out, err = run_pacs(capsys, "echo", *pacs_args(orthanc, "--json"))
    assert code == 0, err
    [res] = json_lines(out)
    assert res["ok"] is True and res["pacs"] == orthanc.pacs and res["our_aet"] == SCU_AET

    node = node_factory(orthanc.node_port, "--aet", NODE_AET, "--allow", ORTHANC_AET, "--store", str(tmp_path / "s"))
    node.start()
    assert orthanc.rest("POST", "/modalities/osteo-node/echo", {}) == {}  # Orthanc -> osteo-node: C-ECHO ok
    assert node.stop() == 0
    assert "C-ECHO from ORTHANC" in node.output()


def test_strangers_are_refused_both_ways(orthanc, node_factory, capsys, tmp_path):
    import urllib.error

    code, out, err = run_pacs(capsys, "echo", "--pacs", orthanc.pacs, "--aet", STRANGER_AET)
    assert code == 1 and out == ""
    assert "refused the association" in err and STRANGER_AET in err and "known modalities" in err

    # a node that only accepts another AE title refuses Orthanc
    node = node_factory(orthanc.node_port, "--aet", NODE_AET, "--allow", "SOMEONE_ELSE", "--store", str(tmp_path / "s"))
    node.start()
    with pytest.raises(urllib.error.HTTPError):
        orthanc.rest("POST", "/modalities/osteo-node/echo", {})
    node.stop()
    assert "refused an association from ORTHANC" in node.output()


def test_store_into_orthanc_then_find_by_every_key(orthanc, capsys, tmp_path):
    a1 = make_film(patient_id="P-A", patient_name="Doe^Jane", study_date="20240110", accession="A1", modality="DX")
    a2 = make_film(patient_id="P-A", patient_name="Doe^Jane", study_date="20230505", accession="A2", modality="CR",
                   body_part="LSPINE")
    b1 = make_film(patient_id="P-B", patient_name="Roe^Richard", study_date="20240301", accession="B1", modality="CT",
                   body_part="HEAD")
    (tmp_path / "films").mkdir()
    for i, ds in enumerate((a1, a2, b1)):
        ds.save_as(tmp_path / "films" / f"{i}.dcm", enforce_file_format=True)

    code, out, err = run_pacs(capsys, "store", str(tmp_path / "films"), *pacs_args(orthanc, "--json"))
    assert code == 0, err
    assert json_lines(out) == [{"pacs": orthanc.pacs, "sent": 3, "failed": []}]
    assert len(orthanc.rest("GET", "/instances")) == 3

    def find(*args: str) -> list[dict]:
        code, out, err = run_pacs(capsys, "find", *pacs_args(orthanc, "--json", *args))
        assert code == 0, err
        return json_lines(out)

    by_id = find("--patient-id", "P-A")
    assert sorted(m["study_uid"] for m in by_id) == sorted([a1.StudyInstanceUID, a2.StudyInstanceUID])
    m = next(m for m in by_id if m["study_uid"] == a1.StudyInstanceUID)
    assert (m["level"], m["patient_name"], m["study_date"], m["accession"], m["modalities"], m["n_instances"]) == (
        "study", "Doe^Jane", "20240110", "A1", ["DX"], 1)
    assert {m["study_uid"] for m in find("--patient-name", "doe*")} == {a1.StudyInstanceUID, a2.StudyInstanceUID}
    assert {m["study_uid"] for m in find("--date", "2024-01-01..2024-12-31")} == {a1.StudyInstanceUID, b1.StudyInstanceUID}
    assert [m["study_uid"] for m in find("--date", "-20231231")] == [a2.StudyInstanceUID]
    assert [m["study_uid"] for m in find("--modality", "CR")] == [a2.StudyInstanceUID]
    assert [m["study_uid"] for m in find("--accession", "B1")] == [b1.StudyInstanceUID]
    assert find("--patient-id", "NOBODY") == []

    series = find("--level", "series", "--patient-id", "P-A")
    assert sorted((s["series_uid"], s["modality"]) for s in series) == sorted(
        [(a1.SeriesInstanceUID, "DX"), (a2.SeriesInstanceUID, "CR")])
    assert all(s["level"] == "series" and s["patient_id"] == "P-A" and s["n_instances"] == 1 for s in series)
    [one] = find("--level", "series", "--study-uid", b1.StudyInstanceUID)
    assert (one["series_uid"], one["modality"], one["body_part"]) == (b1.SeriesInstanceUID, "CT", "HEAD")

    code, out, err = run_pacs(capsys, "find", *pacs_args(orthanc, "--patient-id", "P-B"))  # the table for people
    assert code == 0 and b1.StudyInstanceUID in out and "P-B" in out and "CT" in out


def test_get_retrieves_a_study_into_the_store(orthanc, capsys, tmp_path):
    films = upload_study(orthanc, n=3, series=2, patient_id="P-GET")
    other = upload_study(orthanc, n=1, patient_id="P-OTHER")
    store_dir = tmp_path / "store"
    study = films[0].StudyInstanceUID

    code, out, err = run_pacs(capsys, "get", "--study-uid", study, "--store", str(store_dir), *pacs_args(orthanc, "--json"))
    assert code == 0, err
    [res] = json_lines(out)
    assert (res["operation"], res["completed"], res["failed"], res["already_stored"]) == ("C-GET", 3, 0, 0)
    with LocalStore(store_dir) as s:
        rows = s.instances()
        assert {r.sop_uid for r in rows} == {f.SOPInstanceUID for f in films}  # that study, nothing else
        assert other[0].SOPInstanceUID not in {r.sop_uid for r in rows}
        for f in films:  # the very data set Orthanc holds, not a re-encoding
            assert content_digest(s.instance(f.SOPInstanceUID).path.read_bytes()) == content_digest(film_bytes(f))
        assert s.check() == ([], [])
        [audit] = s.audit_trail(action="retrieve")
        assert audit.study_uid == study and audit.target == orthanc.pacs and audit.details["completed"] == 3

    code, out, err = run_pacs(capsys, "get", "--study-uid", study, "--store", str(store_dir), *pacs_args(orthanc, "--json"))
    assert code == 0 and json_lines(out)[0]["already_stored"] == 3  # again: nothing new, nothing doubled
    with LocalStore(store_dir) as s:
        assert s.count() == 3

    series = films[1].SeriesInstanceUID
    code, out, err = run_pacs(capsys, "get", "--study-uid", study, "--series-uid", series, "--store",
                              str(tmp_path / "s2"), *pacs_args(orthanc))
    assert code == 0 and "1 completed" in out
    with LocalStore(tmp_path / "s2") as s:
        assert [r.series_uid for r in s.instances()] == [series]

    code, out, err = run_pacs(capsys, "get", "--study-uid", "1.2.3.999", "--store", str(store_dir), *pacs_args(orthanc))
    assert code == 1 and "C-GET" in err and "Check that the study exists" in err


def test_move_sends_a_study_to_a_running_osteo_node(orthanc, node_factory, capsys, tmp_path):
    films = upload_study(orthanc, n=3, series=1, patient_id="P-MOVE")
    store_dir = tmp_path / "node-store"
    node = node_factory(orthanc.node_port, "--aet", NODE_AET, "--allow", ORTHANC_AET, "--store", str(store_dir))
    node.start()
    code, out, err = run_pacs(capsys, "move", "--study-uid", films[0].StudyInstanceUID, "--dest", NODE_AET,
                              *pacs_args(orthanc, "--json"))
    assert code == 0, err
    [res] = json_lines(out)
    assert (res["operation"], res["completed"], res["failed"], res["destination"]) == ("C-MOVE", 3, 0, NODE_AET)
    assert node.stop() == 0
    with LocalStore(store_dir) as s:
        rows = s.instances()
        assert {r.sop_uid for r in rows} == {f.SOPInstanceUID for f in films}
        assert {r.source for r in rows} == {ORTHANC_AET}
        assert s.check() == ([], [])

    code, out, err = run_pacs(capsys, "move", "--study-uid", films[0].StudyInstanceUID, "--dest", "NOBODY",
                              *pacs_args(orthanc))
    assert code == 1 and "NOBODY" in err and "DicomModalities" in err


def test_move_to_a_node_that_refuses_the_pacs_reports_failed_sub_operations(orthanc, node_factory, capsys, tmp_path):
    films = upload_study(orthanc, n=2, patient_id="P-REFUSED")
    node = node_factory(orthanc.node_port, "--aet", NODE_AET, "--allow", "SOMEONE_ELSE", "--store", str(tmp_path / "s"))
    node.start()
    code, out, err = run_pacs(capsys, "move", "--study-uid", films[0].StudyInstanceUID, "--dest", NODE_AET,
                              *pacs_args(orthanc))
    node.stop()
    assert code == 1
    assert "C-MOVE" in err and ("failed" in err or "refused" in err)
    with LocalStore(tmp_path / "s") as s:
        assert s.count() == 0


def wait_for(predicate, timeout: float, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")


@pytest.mark.slow
def test_node_screens_arrivals_and_sends_sr_and_sc_back_to_orthanc(orthanc, node_factory, tiny_bundle, tmp_path):
    knee = make_film(patient_id="P-SCREEN", patient_name="Screen^Me", modality="DX", body_part="KNEE", rows=160,
                     cols=128, seed=3)
    head_ct = make_film(patient_id="P-SCREEN", patient_name="Screen^Me", modality="CT", body_part="HEAD", seed=4)
    ids = [orthanc.upload(film_bytes(ds)) for ds in (knee, head_ct)]
    store_dir = tmp_path / "node-store"
    node = node_factory(orthanc.node_port, "--aet", NODE_AET, "--allow", ORTHANC_AET, "--store", str(store_dir),
                        "--screen", "--bundle", str(tiny_bundle.path), "--device", "cpu", "--threads", "1",
                        "--send-results", orthanc.pacs)
    node.start()
    orthanc.rest("POST", "/modalities/osteo-node/store", {"Resources": ids, "Synchronous": True})

    def outputs():
        series = orthanc.find("Series", {"StudyInstanceUID": knee.StudyInstanceUID})
        mods = {s["MainDicomTags"].get("Modality") for s in series}
        return series if {"SR", "OT"} <= mods or ({"SR"} <= mods and len(series) >= 3) else None

    series = wait_for(outputs, 300, lambda: "the SR and the SC in Orthanc\n" + node.output()[-3000:])
    got = {}
    for s in series:
        for inst in s["Instances"]:
            ds = pydicom.dcmread(io.BytesIO(orthanc.rest("GET", f"/instances/{inst}/file")))
            got[str(ds.SOPClassUID)] = ds
    sr = got["1.2.840.10008.5.1.4.1.1.88.33"]  # Comprehensive SR
    sc = got["1.2.840.10008.5.1.4.1.1.7"]  # Secondary Capture
    assert sr.StudyInstanceUID == sc.StudyInstanceUID == knee.StudyInstanceUID
    assert sr.PatientID == "P-SCREEN" and sr.Manufacturer == "osteo-desktop"
    refs = [str(i.ReferencedSOPInstanceUID) for e in sr.CurrentRequestedProcedureEvidenceSequence
            for s in e.ReferencedSeriesSequence for i in s.ReferencedSOPSequence]
    assert refs == [knee.SOPInstanceUID]
    assert sc.BurnedInAnnotation == "YES" and sc.SourceImageSequence[0].ReferencedSOPInstanceUID == knee.SOPInstanceUID
    # the CT was not screened, so nothing went back for it
    ct_series = orthanc.find("Series", {"StudyInstanceUID": head_ct.StudyInstanceUID})
    assert [s["MainDicomTags"]["Modality"] for s in ct_series] == ["CT"]
    assert node.stop() == 0

    with LocalStore(store_dir) as s:
        [knee_result] = s.results(sop_uid=knee.SOPInstanceUID)
        assert knee_result.status == "ok" and knee_result.decision in ("low_bmd_suspected", "low_bmd_not_suspected")
        assert (knee_result.model_name, knee_result.model_version, knee_result.model_sha256) == (
            tiny_bundle.config.name, tiny_bundle.config.version, tiny_bundle.config.sha256)
        assert knee_result.row["image"]["modality"] == "DX" and knee_result.source == "osteo-node"
        [ct_result] = s.results(sop_uid=head_ct.SOPInstanceUID)
        assert ct_result.decision == "not_screened" and "computed tomography" in ct_result.row["not_screened_reason"]
        assert ct_result.row["eligibility"]["by"] == "tags" and ct_result.row["probabilities"] is None
        actions = [(a.action, a.outcome) for a in s.audit_trail(study_uid=knee.StudyInstanceUID)]
        assert ("export-sr", "ok") in actions and ("export-sc", "ok") in actions and ("send", "ok") in actions
        [send] = s.audit_trail(action="send")
        assert send.target == orthanc.pacs and send.model_sha256 == tiny_bundle.config.sha256
        # our own SR and SC are in the store too (and were not screened)
        assert {r.sop_uid for r in s.instances(study_uid=knee.StudyInstanceUID)} == {
            knee.SOPInstanceUID, str(sr.SOPInstanceUID), str(sc.SOPInstanceUID)}
        assert len(s.results()) == 2


def test_a_cancelled_get_stops_and_keeps_what_arrived(orthanc, tmp_path):
    from osteo_desktop.core.net import PacsClient, RetrieveCancelled

    films = upload_study(orthanc, n=4, patient_id="P-CANCEL")
    client = PacsClient(orthanc.remote, our_aet=SCU_AET, timeout=20)
    seen = []
    with LocalStore(tmp_path / "s") as store:
        with pytest.raises(RetrieveCancelled, match="cancelled after"):
            client.get(store, study_uid=films[0].StudyInstanceUID, progress=lambda *a: seen.append(a),
                       should_cancel=lambda: len(seen) >= 1)
        assert 1 <= store.count() < 4  # stopped early; what arrived is complete and indexed
        assert store.check() == ([], [])
        result = client.get(store, study_uid=films[0].StudyInstanceUID)  # a retry completes it
        assert result.completed == 4 and store.count() == 4
