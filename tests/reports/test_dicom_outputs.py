"""DICOM outputs: TID 1500 Comprehensive SR and Secondary Capture, read back with highdicom/pydicom."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from osteo_desktop.core.reports import (
    ReportExistsError,
    ScreenedFilm,
    write_dicom_outputs,
    write_dicom_sc,
    write_dicom_sr,
    write_patient_reports,
)

from .report_fixtures import MODEL, blob_cam, dicom_film, knee_pixels, make_prediction, png_film


def sr_items(ds) -> list[tuple[str, object]]:
    """(concept name meaning, value) of every content item, depth first."""
    out = []

    def walk(seq):
        for it in seq:
            name = it.ConceptNameCodeSequence[0].CodeMeaning
            if it.ValueType == "NUM":
                value = float(it.MeasuredValueSequence[0].NumericValue)
            elif it.ValueType == "CODE":
                value = it.ConceptCodeSequence[0].CodeMeaning
            elif it.ValueType == "TEXT":
                value = it.TextValue
            elif it.ValueType == "IMAGE":
                value = it.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
            else:
                value = None
            out.append((name, value))
            if "ContentSequence" in it:
                walk(it.ContentSequence)

    walk(ds.ContentSequence)
    return out


@pytest.fixture
def knee(tmp_path):
    film = dicom_film(tmp_path, "knee.dcm", knee_pixels(), body_part="KNEE", laterality="L")
    return film, make_prediction((0.2, 0.5, 0.3), blob_cam(film.shape, 0.4, 0.5))


def test_sr_is_a_tid1500_report_in_the_source_study(tmp_path, knee, config):
    import highdicom as hd

    film, pred = knee
    path = write_dicom_sr(film, pred, config, tmp_path / "out" / "knee_SR.dcm")
    sr = hd.sr.srread(path)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert sr.StudyInstanceUID == film.ids.study_instance_uid
    assert sr.SeriesInstanceUID != film.ids.series_instance_uid
    assert (sr.PatientID, str(sr.PatientName), sr.PatientBirthDate, sr.AccessionNumber) == (
        "PID-4711-XYZ", "Testperson^Hildegard^Maria", "19480317", "ACC-99887766")
    assert (sr.CompletionFlag, sr.VerificationFlag, sr.PreliminaryFlag) == ("COMPLETE", "UNVERIFIED", "PRELIMINARY")
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == film.ids.study_instance_uid
    assert evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == film.ids.sop_instance_uid

    [group] = sr.content.get_image_measurement_groups()
    values = {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()}
    assert values["Probability of normal"] == (pytest.approx(0.2), "1")
    assert values["Probability of osteopenia"] == (pytest.approx(0.5), "1")
    assert values["Probability of osteoporosis"] == (pytest.approx(0.3), "1")
    assert values["Low bone mineral density score"] == (pytest.approx(0.8), "1")
    evaluations = {q.name.meaning: q.value.meaning for q in group.get_qualitative_evaluations()}
    assert evaluations["Low bone mineral density screening result"] == "Low bone density suspected"
    assert evaluations["Most probable class"] == "osteopenia"
    assert group.source_images[0].referenced_sop_instance_uid == film.ids.sop_instance_uid
    assert group.source_images[0].referenced_sop_class_uid == film.ids.sop_class_uid

    items = sr_items(sr)
    assert ("Algorithm Name", MODEL.name) in items and ("Algorithm Version", MODEL.version) in items
    assert ("Algorithm Parameters", "threshold=0.5") in items
    assert ("Finding Site", "Knee region structure (body structure)") in items and ("Laterality", "Left") in items
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99OSTEO"
    assert film.header.SOPInstanceUID == film.ids.sop_instance_uid  # the film's own header is untouched
    assert "PixelData" not in film.header


def test_sr_negative_decision(tmp_path, knee, config):
    import highdicom as hd

    film, _ = knee
    path = write_dicom_sr(film, make_prediction((0.8, 0.15, 0.05), None), config, tmp_path / "n.dcm")
    [group] = hd.sr.srread(path).content.get_image_measurement_groups()
    evaluations = {q.name.meaning: q.value.meaning for q in group.get_qualitative_evaluations()}
    assert evaluations["Low bone mineral density screening result"] == "Low bone density not suspected"


def test_secondary_capture_has_heatmap_and_banner_burned_in(tmp_path, knee):
    film, pred = knee
    path = write_dicom_sc(film, pred, tmp_path / "knee_SC.dcm")
    sc = pydicom.dcmread(path)
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert sc.StudyInstanceUID == film.ids.study_instance_uid
    assert sc.SeriesInstanceUID != film.ids.series_instance_uid
    assert sc.PatientID == "PID-4711-XYZ" and sc.AccessionNumber == "ACC-99887766"
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == film.ids.sop_instance_uid
    assert sc.SourceImageSequence[0].ReferencedSOPClassUID == film.ids.sop_class_uid
    assert "heatmap" in sc.DerivationDescription
    assert sc.BurnedInAnnotation == "YES" and "NOT FOR DIAGNOSTIC USE" in sc.ImageComments
    assert sc.PhotometricInterpretation == "RGB" and sc.SamplesPerPixel == 3 and sc.Laterality == "L"
    px = sc.pixel_array
    rows, cols = film.shape
    assert px.shape[0] == rows and px.shape[1] > cols  # the film plus its colour bar, not stretched
    colourful = np.abs(px[..., 0].astype(int) - px[..., 2].astype(int)) > 40
    assert colourful[:, :cols].mean() > 0.02  # the heatmap is burned in
    yellow = (px[..., 0] > 200) & (px[..., 1] > 150) & (px[..., 2] < 80)
    w = px.shape[1]
    corners = [yellow[r, c].sum() for r in (slice(rows - 30, rows), slice(0, 30)) for c in (slice(0, w // 2), slice(w // 2, w))]
    assert max(corners) > 20  # yellow text in one corner (the one that hides the least of the picture)


def test_png_film_gets_a_new_study_without_references(tmp_path, config):
    import highdicom as hd

    film = png_film(tmp_path, "scan.png", knee_pixels(160, 120))
    pred = make_prediction((0.6, 0.3, 0.1), blob_cam(film.shape))
    sr = hd.sr.srread(write_dicom_sr(film, pred, config, tmp_path / "sr.dcm"))
    sc = pydicom.dcmread(write_dicom_sc(film, pred, tmp_path / "sc.dcm"))
    assert sr.StudyInstanceUID == sc.StudyInstanceUID  # both outputs of one file in one study
    assert sr.PatientID == "" and sc.PatientID == ""
    assert "CurrentRequestedProcedureEvidenceSequence" not in sr and "SourceImageSequence" not in sc
    assert not [v for n, v in sr_items(sr) if n == "Source of Measurement"]
    assert "non-DICOM" in sc.DerivationDescription
    [group] = sr.content.get_image_measurement_groups()
    assert {m.name.meaning for m in group.get_measurements()} >= {"Probability of normal", "Low bone mineral density score"}


def test_dicom_outputs_refuse_to_overwrite(tmp_path, knee, config):
    film, pred = knee
    items = [ScreenedFilm(film, pred), ScreenedFilm(film, None, error="x")]
    paths = write_dicom_outputs(items, tmp_path / "out", bundle=config, sr=True, sc=True)
    assert [p.name for p in paths] == ["knee_SR.dcm", "knee_SC.dcm"]
    with pytest.raises(ReportExistsError, match="use --force"):
        write_dicom_outputs(items, tmp_path / "out", bundle=config, sr=True, sc=True)
    with pytest.raises(FileExistsError):
        write_dicom_sr(film, pred, config, paths[0])
    assert write_dicom_sc(film, pred, paths[1], force=True) == paths[1]


def test_real_model_run_feeds_pdf_and_sr(tmp_path, tiny_bundle):
    """One end-to-end pass with the tiny random bundle: a real Prediction (with its Grad-CAM)."""
    import highdicom as hd
    import pypdf

    from osteo_desktop.core.inference import Screener

    film = dicom_film(tmp_path, "knee.dcm", knee_pixels(256, 200), body_part="KNEE", laterality="R")
    pred = Screener(tiny_bundle, device="cpu").screen(film)
    [pdf] = write_patient_reports([ScreenedFilm(film, pred)], tmp_path / "out", bundle=tiny_bundle)
    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(pdf).pages)
    assert "test-bundle 0.0.1-test" in text and f"{100 * pred.probabilities['normal']:.1f} %" in text
    assert pred.decision_text in text
    sr = hd.sr.srread(write_dicom_sr(film, pred, tiny_bundle, tmp_path / "out" / "sr.dcm"))
    [group] = sr.content.get_image_measurement_groups()
    score = {m.name.meaning: m.value for m in group.get_measurements()}["Low bone mineral density score"]
    assert float(score) == pytest.approx(pred.low_bmd_score, abs=1e-6)
