"""Issue 9 in the reports: films not screened and scores not validated never recommend a referral,
are listed with their reasons, and do not decide the patient result; the clinic's name heads the PDF."""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest

from osteo_desktop.core.bundle import BundleConfig
from osteo_desktop.core.reports import ScreenedFilm, build_content, build_report_pdf, write_dicom_outputs, write_dicom_sr
from osteo_desktop.core.scoring import Decision

from .report_fixtures import MODEL, blob_cam, dicom_film, knee_pixels, make_prediction, not_screened_prediction, spine_pixels
from .test_dicom_outputs import sr_items
from .test_pdf import pdf_text

WHEN = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)


@pytest.fixture
def mixed(tmp_path):
    """One patient: a knee film whose score is not validated (high), a validated spine film (low), a chest film."""
    from pydicom.uid import generate_uid

    study = generate_uid()
    knee = dicom_film(tmp_path, "knee.dcm", knee_pixels(), body_part="KNEE", study_uid=study)
    spine = dicom_film(tmp_path, "spine.dcm", spine_pixels(), body_part="LSPINE", study_uid=study)
    chest = dicom_film(tmp_path, "chest.dcm", knee_pixels(seed=5), body_part="", study_uid=study)
    return [
        ScreenedFilm(knee, make_prediction((0.05, 0.55, 0.40), blob_cam(knee.shape), anatomy="knee", validated=False)),
        ScreenedFilm(spine, make_prediction((0.70, 0.20, 0.10), blob_cam(spine.shape), anatomy="spine")),
        ScreenedFilm(chest, not_screened_prediction("The picture looks like a radiograph of another body part (98% sure).")),
    ]


def test_only_validated_anatomies_decide_and_films_not_screened_are_listed(mixed, config):
    c = build_content(mixed, bundle=config, generated_at=WHEN)
    assert c.result.decision is Decision.NEGATIVE  # the knee's high score is for information only
    assert [a.anatomy for a in c.result.anatomies] == ["knee (for information only)", "spine (decides)"]
    assert c.result.not_screened == [("Film 3", "The picture looks like a radiograph of another body part (98% sure).")]
    knee, spine, chest = c.films
    assert "for information only" in knee.result.decision_text and not knee.result.validated
    assert knee.result.reliability.startswith("Not validated")
    assert chest.result is None and "another body part" in chest.not_screened and chest.pictures.overlay is None
    assert c.summary[2].decision is Decision.NOT_SCREENED and c.summary[2].result.startswith("Not screened: The picture")
    assert knee.result.explanation == "low-BMD score = P(osteopenia) + P(osteoporosis), from the image"


def test_no_referral_words_for_films_that_may_not_decide(tmp_path, config):
    knee = dicom_film(tmp_path, "k.dcm", knee_pixels(), body_part="KNEE")
    chest = dicom_film(tmp_path, "c.dcm", knee_pixels(seed=2), body_part="")
    items = [ScreenedFilm(knee, make_prediction((0.05, 0.55, 0.40), blob_cam(knee.shape), anatomy="knee", validated=False)),
             ScreenedFilm(chest, not_screened_prediction())]
    text = pdf_text(build_report_pdf(items, bundle=config, generated_at=WHEN))
    assert "consider referral" not in text.lower()
    assert "No patient result" in text and "for information only" in text
    assert "Not screened" in text


def test_clinic_name_and_address_head_the_report(mixed, config):
    pdf = build_report_pdf(mixed, bundle=config, generated_at=WHEN, clinic=["Example Radiology Clinic", "1 Bone Street, Springfield"])
    text = pdf_text(pdf)
    assert text.index("Example Radiology Clinic") < text.index("Low bone density screening report")
    assert "1 Bone Street, Springfield" in text


def test_format2_bundles_get_a_per_anatomy_table_of_the_three_scores(mixed):
    from tests.engine.guarded_bundle import default_screening

    cfg = BundleConfig(name=MODEL.name, version=MODEL.version, architecture="x", sha256=MODEL.sha256,
                       extra={"screening": default_screening(),
                              "guard": {"classes": ["knee", "spine"], "metrics": {"per_class_recall": {"knee": {"value": 0.97}}}}})
    m = build_content(mixed, bundle=cfg, generated_at=WHEN).model
    assert m.score_table[0][:2] == ["Anatomy", "Score"]
    rows = {(r[0], r[1]): r for r in m.score_table[1:]}
    assert rows[("knee", "image only")][-1].startswith("no") and rows[("knee", "image + age + sex")][-1] == "yes"
    assert rows[("knee", "age + sex only")][2].startswith("0.94")
    assert ("spine", "image only") in rows and "knee 97%" in m.guard_text
    text = pdf_text(build_report_pdf(mixed, bundle=cfg, generated_at=WHEN))
    assert "image + age + sex" in text and "no: information only" in text


def test_sr_of_a_film_not_screened_says_not_evaluated_and_why_without_measurements(tmp_path, config):
    chest = dicom_film(tmp_path, "c.dcm", knee_pixels(), body_part="")
    pred = not_screened_prediction("The DICOM modality is MR (magnetic resonance).")
    items = sr_items(pydicom.dcmread(write_dicom_sr(chest, pred, config, tmp_path / "c_SR.dcm")))
    values = [v for _, v in items]
    assert any(isinstance(v, str) and v.startswith("Not evaluated") for v in values)
    assert "Not screened: The DICOM modality is MR (magnetic resonance)." in values
    assert not any(name.startswith("Probability of") or name == "Low bone mineral density score" for name, _ in items)
    assert not any(v in ("Low bone density suspected", "Low bone density not suspected") for v in values)


def test_sr_of_a_score_not_validated_is_for_information_only(tmp_path, config):
    knee = dicom_film(tmp_path, "k.dcm", knee_pixels(), body_part="KNEE")
    pred = make_prediction((0.05, 0.55, 0.40), blob_cam(knee.shape), anatomy="knee", validated=False)
    items = dict(sr_items(pydicom.dcmread(write_dicom_sr(knee, pred, config, tmp_path / "k_SR.dcm"))))
    assert items["Low bone mineral density screening result"].startswith("Score for information only")
    assert items["Score basis"] == "Image alone"
    assert items["Low bone mineral density score"] == pytest.approx(0.95)


def test_dicom_outputs_write_an_sr_but_no_heatmap_capture_for_a_film_not_screened(tmp_path, config):
    chest = dicom_film(tmp_path, "c.dcm", knee_pixels(), body_part="")
    paths = write_dicom_outputs([ScreenedFilm(chest, not_screened_prediction())], tmp_path / "out", bundle=config, sr=True, sc=True)
    assert [p.name for p in paths] == ["c_SR.dcm"]
