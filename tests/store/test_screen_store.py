"""`osteo-screen --store DIR`: results, films and reports recorded in the local study store."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from osteo_desktop.cli.screen import main
from osteo_desktop.core.store import LocalStore, os_user, worklist
from tests.dicom_factory import write_film


def run(capsys, *args) -> tuple[int, list[dict], str]:
    rc = main([*map(str, args)])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_results_films_and_reports_are_recorded(tmp_path, tiny_bundle, capsys):
    knee = write_film(tmp_path / "in" / "knee.dcm", patient_id="P-CLI", study_uid="1.2.826.0.1.3680043.10.1.1",
                      rows=160, cols=128)
    png = tmp_path / "in" / "photo.png"
    cv2.imwrite(str(png), (np.arange(160 * 128).reshape(160, 128) % 251).astype(np.uint8))
    bad = tmp_path / "in" / "broken.dcm"
    bad.write_bytes(b"DICM" * 50)
    store_dir = tmp_path / "store"
    rc, rows, err = run(capsys, tmp_path / "in", "--json", "--bundle", tiny_bundle.path, "--device", "cpu",
                        "--store", store_dir, "--out", tmp_path / "out", "--pdf", "--dicom-sr", "--dicom-sc", "-q")
    assert rc == 1  # the broken file
    printed = {Path(r["file"]).name: r for r in rows}

    with LocalStore(store_dir) as s:
        results = {Path(r.file).name: r for r in s.results()}
        assert set(results) == {"knee.dcm", "photo.png", "broken.dcm"}
        k = results["knee.dcm"]
        assert k.row == printed["knee.dcm"]  # the very row osteo-screen printed
        assert k.decision == printed["knee.dcm"]["decision"] and k.score == printed["knee.dcm"]["low_bmd_score"]
        assert (k.model_name, k.model_version, k.model_sha256) == (
            tiny_bundle.config.name, tiny_bundle.config.version, tiny_bundle.config.sha256)
        assert k.study_uid == "1.2.826.0.1.3680043.10.1.1" and k.source == "osteo-screen" and k.os_user == os_user()
        assert results["broken.dcm"].status == "error" and results["photo.png"].study_uid == ""
        # the DICOM film is in the store (a copy; the source is untouched), so the worklist shows it
        [inst] = s.instances()
        assert inst.study_uid == k.study_uid and inst.path != knee and knee.is_file()
        [study] = worklist(s)
        assert study.patient_id == "P-CLI" and study.badge in ("suspected", "screened")
        assert len(s.audit_trail(action="export-pdf")) == 2  # the DICOM patient's and the PNG's
        assert len(s.audit_trail(action="screen")) == 3
        assert sorted(a.action for a in s.audit_trail(study_uid=k.study_uid)) == ["export-sc", "export-sr", "screen"]
        [sr] = s.audit_trail(study_uid=k.study_uid, action="export-sr")
        assert sr.study_uid == k.study_uid and Path(sr.target).is_file() and sr.model_sha256 == tiny_bundle.config.sha256


def test_a_damaged_store_stops_before_screening(tmp_path, tiny_bundle, capsys):
    film = write_film(tmp_path / "knee.dcm")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "index.sqlite").write_bytes(b"garbage" * 100)
    rc, rows, err = run(capsys, film, "--json", "--bundle", tiny_bundle.path, "--store", tmp_path / "store")
    assert rc == 1 and rows == []
    assert "index.sqlite" in err and "damaged" in err
