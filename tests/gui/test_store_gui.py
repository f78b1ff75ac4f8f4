"""The viewer's local store and PACS: the worklist dock (badges, search, open), the PACS dialog against a
real PACS (Orthanc: echo, find, retrieve with progress, open), and the audit trail of the viewer's
screenings and exports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from osteo_desktop.core.net import NetworkSettings
from osteo_desktop.core.store import SUSPECTED, LocalStore, default_store_dir
from osteo_desktop.gui.pacs_dialog import PacsDialog
from osteo_desktop.gui.worklist import WorklistPanel
from tests.dicom_factory import film_bytes, make_film
from tests.orthanc_server import ORTHANC_AET, SCU_AET, start_orthanc

from .conftest import FakeScreener


def fill_store(folder: Path) -> dict[str, str]:
    """Three studies: one screened suspected, one CT not screened, one new. Returns name -> study UID."""
    uids = {}
    with LocalStore(folder) as s:
        for key, kw in {"knee": dict(patient_id="P-K", patient_name="Knee^Kim", study_date="20240301", rows=160, cols=128),
                        "ct": dict(patient_id="P-C", patient_name="Head^Carl", modality="CT", body_part="HEAD",
                                   study_date="20240201"),
                        "new": dict(patient_id="P-N", patient_name="New^Nora", study_date="20240101")}.items():
            ds = make_film(**kw)
            r = s.add_bytes(film_bytes(ds), source="PACS")
            uids[key] = r.header.study_uid
            if key == "knee":
                s.record_result({"status": "ok", "decision": "low_bmd_suspected", "low_bmd_score": 0.9},
                                sop_uid=r.header.sop_uid, study_uid=r.header.study_uid)
            elif key == "ct":
                s.record_result({"status": "ok", "decision": "not_screened"}, sop_uid=r.header.sop_uid,
                                study_uid=r.header.study_uid)
    return uids


def test_worklist_shows_badges_searches_and_opens_a_study(qtbot, make_window, tmp_path):
    store_dir = default_store_dir()  # the tests' own (conftest points OSTEO_STORE at a temporary folder)
    assert str(store_dir).startswith(os.environ["OSTEO_STORE"])
    uids = fill_store(store_dir)
    w = make_window(FakeScreener())
    w.show_worklist()
    panel = w.store.worklist
    assert w.store.dock.isVisible()
    assert panel.table.rowCount() == 3
    assert panel.badges() == ["suspected", "not screened", ""]
    assert panel.table.item(0, 0).text() == "Suspected" and panel.table.item(2, 0).text() == "New"
    panel.patient_edit.setText("kim")
    assert panel.refresh() == 1
    panel.patient_edit.setText("")
    panel.result_combo.setCurrentIndex(panel.result_combo.findData(SUSPECTED))  # refreshes by itself
    assert [s.study_uid for s in panel.rows] == [uids["knee"]]
    panel.result_combo.setCurrentIndex(0)
    panel.modality_combo.setCurrentText("CT")
    assert panel.refresh() == 1 and panel.rows[0].study_uid == uids["ct"]
    panel.modality_combo.setCurrentText("")
    panel.from_edit.setText("2024-02-01")
    assert panel.refresh() == 2

    with qtbot.waitSignal(w.film_shown, timeout=20000):
        assert panel.open_row(0)  # the suspected knee study
    assert w.session.current.film.ids.study_instance_uid == uids["knee"]


def test_worklist_of_a_missing_or_damaged_store_says_so(qtbot, tmp_path):
    panel = WorklistPanel(tmp_path / "nothing")
    qtbot.addWidget(panel)
    assert panel.refresh() == 0 and "empty" in panel.status.text()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "index.sqlite").write_bytes(b"garbage" * 100)
    panel.set_store_dir(tmp_path / "bad")
    assert panel.rows == [] and "damaged" in panel.status.text()


def test_screening_a_store_film_in_the_viewer_records_the_result(qtbot, make_window):
    store_dir = default_store_dir()
    with LocalStore(store_dir) as s:
        r = s.add_bytes(film_bytes(make_film(patient_id="P-V", rows=160, cols=128)), source="PACS")
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.screening_done, timeout=20000):
        w.open_paths([r.path])
    with LocalStore(store_dir) as s:
        [res] = s.results()
        assert (res.sop_uid, res.source, res.decision, res.model_name) == (
            r.header.sop_uid, "viewer", "low_bmd_suspected", "fake-model")
        assert res.row["status"] == "ok" and res.row["model"]["sha256"] == "ab" * 32
        assert [a.action for a in s.audit_trail()] == ["screen"]


def test_exports_from_the_viewer_are_audited(qtbot, make_window, tmp_path, monkeypatch):
    from osteo_desktop.gui import report_export as rx

    monkeypatch.setattr(rx, "confirm_replace", lambda parent, paths: False)
    film = tmp_path / "knee.dcm"
    make_film(patient_id="P-X", rows=160, cols=128).save_as(film, enforce_file_format=True)
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.screening_done, timeout=20000):
        w.open_paths([film])
    with qtbot.waitSignal(w.export_finished, timeout=60000) as sig:
        w.export_dicom(tmp_path / "out", sr=True, sc=True)
    written = sig.args[1]
    assert len(written) == 2
    with LocalStore(default_store_dir()) as s:
        entries = {a.action: a for a in s.audit_trail()}
        assert set(entries) == {"export-sr", "export-sc"}
        assert {Path(a.target) for a in entries.values()} == set(written)
        assert entries["export-sr"].model_name == "fake-model" and entries["export-sr"].os_user
        assert entries["export-sr"].study_uid == w.session.current.film.ids.study_instance_uid


# -- the PACS dialog against Orthanc ----------------------------------------------------------------


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    server = start_orthanc(tmp_path_factory.mktemp("orthanc-gui"))
    yield server
    server.stop()


def dialog_for(qtbot, orthanc, *, port: int | None = None) -> PacsDialog:
    d = PacsDialog()
    qtbot.addWidget(d)
    d.aet_edit.setText(ORTHANC_AET)
    d.host_edit.setText("127.0.0.1")
    d.port_spin.setValue(port or orthanc.dicom_port)
    d.our_edit.setText(SCU_AET)
    d.timeout_spin.setValue(10)
    return d


def wait_idle(qtbot, d: PacsDialog, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: not d.busy and d.cancel_button.isEnabled() is False, timeout=timeout)


def test_pacs_dialog_echo_find_retrieve_and_open(qtbot, make_window, orthanc):
    orthanc.reset()
    study, series = generate_uid(), generate_uid()
    films = [make_film(patient_id="P-GUI", patient_name="Gui^Gwen", study_uid=study, series_uid=series,
                       instance_number=i + 1, seed=i, rows=160, cols=128) for i in range(2)]
    other = make_film(patient_id="P-ELSE", patient_name="Else^Eve")
    for ds in films + [other]:
        orthanc.upload(film_bytes(ds))
    w = make_window(FakeScreener())
    w.show_pacs()
    d = w.store.dialog
    qtbot.addWidget(d)
    d.aet_edit.setText(ORTHANC_AET)
    d.host_edit.setText("127.0.0.1")
    d.port_spin.setValue(orthanc.dicom_port)
    d.our_edit.setText(SCU_AET)

    d.echo_button.click()
    wait_idle(qtbot, d)
    assert d.echo_label.text().startswith("C-ECHO ok")
    assert d.save_settings()
    saved = NetworkSettings.load()
    assert saved.pacs == f"{ORTHANC_AET}@127.0.0.1:{orthanc.dicom_port}" and saved.our_aet == SCU_AET

    d.patient_name_edit.setText("gui*")
    d.search_button.click()
    wait_idle(qtbot, d)
    assert d.table.rowCount() == 1 and [m.study_uid for m in d.matches] == [study]
    assert d.table.item(0, 0).text() == "Gui Gwen" and d.table.item(0, 7).text() == "2"
    assert d.retrieve_button.isEnabled()

    with qtbot.waitSignal(d.retrieved, timeout=60000):
        d.retrieve_button.click()
    wait_idle(qtbot, d)
    assert d.last_result.completed == 2 and "2 instances retrieved" in d.status_label.text()
    assert d.progress.value() == d.progress.maximum()
    with LocalStore(default_store_dir()) as s:
        assert {r.sop_uid for r in s.instances()} == {f.SOPInstanceUID for f in films}
        assert [a.action for a in s.audit_trail()] == ["retrieve"]
    assert w.store.worklist.table.rowCount() == 1  # the worklist shows what arrived

    with qtbot.waitSignal(w.load_finished, timeout=30000):
        d.open_button.click()
    assert set(w.browser.paths()) == {str(p) for p in LocalStore(default_store_dir()).film_paths(study)}
    d.close()


def test_pacs_dialog_says_what_went_wrong(qtbot, orthanc):
    from tests.orthanc_server import free_port

    d = dialog_for(qtbot, orthanc, port=free_port())
    d.echo_button.click()
    wait_idle(qtbot, d)
    assert d.echo_label.text() == "C-ECHO failed" and "connection refused" in d.status_label.text()

    d = dialog_for(qtbot, orthanc)
    d.our_edit.setText("STRANGER")
    d.search_button.click()
    wait_idle(qtbot, d)
    assert "refused the association" in d.status_label.text() and d.table.rowCount() == 0

    d.our_edit.setText("")
    assert not d.echo() and "our AE title" in d.status_label.text()
    d.our_edit.setText(SCU_AET)
    d.date_edit.setText("last tuesday")
    assert not d.search() and "date" in d.status_label.text()
    assert not d.retrieve() and "Select a study" in d.status_label.text()
