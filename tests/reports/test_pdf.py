"""PDF reports: one per patient, fields read back with pypdf, anonymisation, overwrite, page sizes."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import replace

import pypdf
import pytest

from osteo_desktop import INTENDED_USE
from osteo_desktop.core.errors import ReportError
from osteo_desktop.core.reports import (
    ReportExistsError,
    ScreenedFilm,
    build_report_pdf,
    combine_patient,
    pseudonym,
    write_patient_reports,
    write_report_for_patient,
)
from osteo_desktop.core.reports.model_metrics import metric_rows
from osteo_desktop.core.reports.patient import film_results

from .report_fixtures import MODEL, blob_cam, dicom_film, knee_pixels, make_prediction, png_film, spine_pixels

WHEN = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)


def sha8(key: str) -> str:
    """The short hash of the full patient key that keeps report names unique per patient."""
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:8]
IDENTIFIERS = ("Testperson", "Hildegard", "PID-4711-XYZ", "1948-03-17", "19480317", "ACC-99887766", "St. Example")


def pdf_text(path_or_bytes) -> str:
    import io

    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    reader = pypdf.PdfReader(src)
    return " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)


def metadata(path) -> str:
    meta = pypdf.PdfReader(path).metadata or {}
    return " ".join(str(v) for v in meta.values())


def test_report_holds_identifiers_results_model_and_intended_use(tmp_path, patient_films, config):
    paths = write_patient_reports(patient_films, tmp_path / "out", bundle=config, generated_at=WHEN)
    assert len(paths) == 1 and paths[0].name == f"osteo-report_PID-4711-XYZ_{sha8('PID-4711-XYZ')}.pdf"
    text = pdf_text(paths[0])
    for s in ("Testperson, Hildegard Maria", "PID-4711-XYZ", "1948-03-17", "female", "76 years", "ACC-99887766",
              "2024-06-11"):
        assert s in text, s
    for s in ("55.0 %", "35.0 %", "10.0 %", "20.0 %", "45.0 %"):  # class probabilities of both films
        assert s in text, s
    assert "Score 0.450 is below the threshold 0.500" in text
    assert "Score 0.800 is at or above the threshold 0.500" in text
    assert "Low bone density suspected: consider referral for DXA" in text
    assert "Low bone density not suspected at the operating point (this does not rule it out)" in text
    assert f"{MODEL.name} {MODEL.version}" in text and MODEL.sha256[:12] in text
    assert "0.842 (95% CI 0.801–0.879)" in text  # validation metric with its CI
    assert "sensitivity >= 0.90 on validation" in text  # threshold goal
    assert " ".join(INTENDED_USE.split()) in text
    assert "Screening aid — not a diagnosis" in text
    assert re.search(r"Page 1 of \d", text)
    assert "Test warning: film is slightly rotated." in text
    assert "relative model attention, not a lesion" in text
    assert "Signature" in text and "Reviewed by" in text
    assert "2025-03-04 10:30" in text


def test_knee_and_spine_films_of_one_patient_make_one_report_with_the_combined_result(tmp_path, patient_films, config):
    from pydicom.uid import generate_uid

    extra = dicom_film(tmp_path, "knee_lat.dcm", knee_pixels(seed=4), body_part="KNEE", view="LAT",
                       study_uid=generate_uid())  # another study, same PatientID
    items = [*patient_films, ScreenedFilm(extra, make_prediction((0.25, 0.45, 0.30), blob_cam(extra.shape)))]
    paths = write_patient_reports(items, tmp_path / "out", bundle=config, generated_at=WHEN)
    assert len(paths) == 1
    text = pdf_text(paths[0])
    # the rule by hand: knee mean (0.45 + 0.75) / 2 = 0.60, spine 0.80 -> patient 0.80 (spine), >= 0.5
    expected = combine_patient(film_results(["Film 1", "Film 2", "Film 3"], ["knee", "spine", "knee"], items))
    assert expected.score == pytest.approx(0.80) and expected.deciding_anatomy == "spine" and expected.positive
    assert {a.anatomy: round(a.score, 3) for a in expected.anatomies} == {"knee": 0.6, "spine": 0.8}
    assert "Patient result from the spine films: mean low-BMD score 0.800 is at or above the threshold 0.500" in text
    assert "knee Film 1, Film 3 0.450, 0.750 0.600" in text  # per-anatomy row with its films
    assert "3 of 3 film(s) screened" in text
    assert "Film 3 of 3" in text


def test_each_png_is_its_own_patient_and_a_failed_film_is_listed(tmp_path, patient_films, config):
    a = png_film(tmp_path, "first.png", knee_pixels(200, 160))
    b = png_film(tmp_path, "second.png", spine_pixels(220, 150))
    items = [*patient_films, ScreenedFilm(a, make_prediction((0.7, 0.2, 0.1), blob_cam(a.shape))),
             ScreenedFilm(b, None, error="second.png: the model failed on the CPU (test)")]
    paths = write_patient_reports(items, tmp_path / "out", bundle=config, generated_at=WHEN)
    assert [p.name for p in paths] == [f"osteo-report_PID-4711-XYZ_{sha8('PID-4711-XYZ')}.pdf",
                                       f"osteo-report_first_{sha8(f'file:{a.path}')}.pdf",
                                       f"osteo-report_second_{sha8(f'file:{b.path}')}.pdf"]
    text = pdf_text(paths[2])
    assert "Not screened" in text and "the model failed on the CPU (test)" in text
    assert "No result: none of this patient's films could be screened" in text
    assert "first.png (no patient ID)" in pdf_text(paths[1])


def test_anonymised_report_has_no_identifiers_in_text_metadata_or_file_name(tmp_path, patient_films, config):
    paths = write_patient_reports(patient_films, tmp_path / "out", bundle=config, anonymize=True, salt="test-salt",
                                  generated_at=WHEN)
    assert len(paths) == 1
    pseudo = pseudonym("PID-4711-XYZ", "test-salt")
    assert re.fullmatch(r"ANON-[0-9A-F]{10}", pseudo)
    assert paths[0].name == f"osteo-report_{pseudo}.pdf"
    text, meta = pdf_text(paths[0]), metadata(paths[0])
    for s in (*IDENTIFIERS, "2024-06-11", "knee_ap", "spine_lat"):
        assert s.lower() not in text.lower(), s
        assert s.lower() not in meta.lower(), s
        assert s.lower() not in paths[0].name.lower(), s
    for f in patient_films:  # no UIDs
        for uid in (f.film.ids.study_instance_uid, f.film.ids.sop_instance_uid, f.film.ids.series_instance_uid):
            assert uid not in text and uid not in meta
    assert pseudo in text and pseudo in meta
    raw = paths[0].read_bytes()
    for s in IDENTIFIERS:
        assert s.encode() not in raw, s
    assert "55.0 %" in text and "Low bone density suspected" in text  # the results are still there


def test_pseudonym_is_stable_and_depends_on_the_salt(tmp_path, patient_films, config):
    p1 = write_patient_reports(patient_films, tmp_path / "a", bundle=config, anonymize=True, salt=b"k1")
    p2 = write_patient_reports(patient_films, tmp_path / "b", bundle=config, anonymize=True, salt=b"k1")
    p3 = write_patient_reports(patient_films, tmp_path / "c", bundle=config, anonymize=True, salt=b"k2")
    assert p1[0].name == p2[0].name != p3[0].name
    assert pseudonym("X", "s") == pseudonym("X", b"s") != pseudonym("Y", "s")


def test_default_salt_is_per_installation_and_private(tmp_path, monkeypatch, patient_films, config):
    salt_file = tmp_path / "cfg" / "pseudonym.salt"
    monkeypatch.setenv("OSTEO_PSEUDONYM_SALT_FILE", str(salt_file))
    a = write_patient_reports(patient_films, tmp_path / "a", bundle=config, anonymize=True)
    assert salt_file.is_file() and (os.name != "posix" or (salt_file.stat().st_mode & 0o077) == 0)
    b = write_patient_reports(patient_films, tmp_path / "b", bundle=config, anonymize=True)
    assert a[0].name == b[0].name == f"osteo-report_{pseudonym('PID-4711-XYZ', salt_file.read_bytes())}.pdf"


def test_identifiers_in_free_text_are_scrubbed_when_anonymised(tmp_path, patient_films, config):
    film = patient_films[0].film
    items = [ScreenedFilm(film, None, error=f"{film.path}: cannot screen PID-4711-XYZ (Testperson)"), patient_films[1]]
    data = build_report_pdf(items, bundle=config, anonymize=True, salt="s")
    text = pdf_text(data)
    assert "Testperson" not in text and "PID-4711-XYZ" not in text and "knee_ap" not in text
    assert "Film 1: cannot screen [removed] ([removed])" in text


def test_refuses_to_overwrite_without_force(tmp_path, patient_films, config):
    out = tmp_path / "out"
    [path] = write_patient_reports(patient_films, out, bundle=config)
    before = path.read_bytes()
    with pytest.raises(ReportExistsError) as exc:
        write_patient_reports(patient_films, out, bundle=config)
    assert isinstance(exc.value, FileExistsError) and isinstance(exc.value, ReportError)
    assert str(path) in str(exc.value) and "use --force" in str(exc.value)
    assert path.read_bytes() == before
    with pytest.raises(ReportExistsError):
        write_report_for_patient(patient_films, path, bundle=config)
    [again] = write_patient_reports(patient_films, out, bundle=config, force=True, generated_at=WHEN)
    assert again == path and path.read_bytes() != before
    assert sorted(p.name for p in out.iterdir()) == [path.name]  # no temporary files left behind


@pytest.mark.parametrize("size,expected", [("A4", (595.3, 841.9)), ("Letter", (612.0, 792.0)), ("letter", (612.0, 792.0))])
def test_page_sizes(tmp_path, patient_films, config, size, expected):
    data = build_report_pdf(patient_films, bundle=config, page_size=size)
    reader = pypdf.PdfReader(__import__("io").BytesIO(data))
    for page in reader.pages:
        assert (round(float(page.mediabox.width), 1), round(float(page.mediabox.height), 1)) == expected


def test_unknown_page_size_and_mixed_patients_are_errors(tmp_path, patient_films, config):
    with pytest.raises(ReportError, match="A4 or Letter"):
        build_report_pdf(patient_films, bundle=config, page_size="A3")
    other = png_film(tmp_path, "other.png", knee_pixels(100, 80))
    with pytest.raises(ReportError, match="one patient"):
        build_report_pdf([*patient_films, ScreenedFilm(other, None, error="x")], bundle=config)


def test_non_latin_names_and_missing_metrics(tmp_path, config):
    film = dicom_film(tmp_path, "k.dcm", knee_pixels(120, 100), body_part="KNEE", patient_name="Παπαδοπούλου^Ζωή",
                      patient_id="GR-1")
    data = build_report_pdf([ScreenedFilm(film, make_prediction((0.1, 0.6, 0.3), None))],
                            bundle=replace(config, metrics={}))
    text = pdf_text(data)
    assert "Παπαδοπούλου, Ζωή" in text
    assert "records no validation metrics" in text
    assert "No heatmap for this film" in text


def test_metric_rows_show_values_with_confidence_intervals():
    rows = dict(metric_rows({"low_bmd_auc": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9, "n": 120},
                             "knee": {"sensitivity": 0.91}, "thresholds": [0.4, 0.5]}))
    assert rows["Low BMD AUC"] == "0.800 (95% CI 0.700–0.900); n 120"
    assert rows["Knee / Sensitivity"] == "0.910"
    assert rows["Thresholds"] == "0.400, 0.500"
    assert len(metric_rows({f"m{i}": i for i in range(40)}, limit=10)) == 10


def test_non_square_pixels_keep_the_physical_aspect_ratio():
    import numpy as np

    from osteo_desktop.core.film import Film, Spacing, SpacingSource
    from osteo_desktop.core.reports.images import film_pictures

    film = Film(path=__import__("pathlib").Path("x.dcm"), pixels=knee_pixels(200, 100),
                spacing=Spacing(0.2, 0.1, SpacingSource.PIXEL_SPACING))  # rows twice as far apart
    pics = film_pictures(film, make_prediction((0.5, 0.3, 0.2), blob_cam((200, 100))), max_side=None)
    assert pics.display.shape == (400, 100)  # 40 mm x 10 mm
    assert pics.overlay is not None and pics.overlay.shape[0] == 400 and pics.overlay.dtype == np.uint8


def test_training_metrics_become_one_compact_table():
    from osteo_desktop.core.reports.model_metrics import group_metric_table

    metrics = {
        "evaluation": "5-fold CV",
        "overall": {"n_images": 10, "n_patients": 8, "auc_low_bmd": 0.61, "auc_low_bmd_ci95": [0.5, 0.7],
                    "sensitivity": 0.9, "specificity": 0.2, "age_only_auc_low_bmd": 0.94},
        "spine": {"n_images": 4, "n_patients": 2, "auc_low_bmd": 0.55},
    }
    rows = group_metric_table(metrics)
    assert rows[0][2].startswith("Low-BMD AUC")
    assert rows[1] == ["overall", "10 / 8", "0.61 (0.50–0.70)", "0.90", "0.20", "0.94"]
    assert rows[2][0] == "spine" and rows[2][3] == "—"
    assert group_metric_table({"auc": {"value": 0.8}}) is None
