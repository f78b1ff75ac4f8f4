"""Finding 5 of issue 12 at the report layer: identifiers of any length and content give a report,
cut with an ellipsis and without control characters; one patient's failure never stops the others."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pypdf
import pytest

from osteo_desktop.core.errors import ReportError
from osteo_desktop.core.reports import ScreenedFilm, build_report_pdf, write_patient_reports
from osteo_desktop.core.reports.thumbnails import compact

from .report_fixtures import PATIENT, blob_cam, dicom_film, knee_pixels, make_prediction

WHEN = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)


def _item(tmp_path, name: str, **ids) -> ScreenedFilm:
    film = dicom_film(tmp_path, name, knee_pixels(), body_part="KNEE", **PATIENT)
    film = dataclasses.replace(film, ids=dataclasses.replace(film.ids, **ids))
    return ScreenedFilm(film, make_prediction((0.2, 0.5, 0.3), blob_cam(film.shape)))


def _text(data: bytes) -> str:
    import io

    return "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


@pytest.mark.parametrize("anonymize", [False, True])
@pytest.mark.parametrize("field, value", [
    ("patient_id", "X" * 10_000),
    ("patient_name", "Y" * 10_000),
    ("study_description", "Z" * 10_000),
    ("accession_number", "A" * 10_000),
    ("patient_id", "P-1\x1b[31m\nERROR: forged\x07"),
])
def test_any_identifier_gives_a_report(tmp_path, field, value, anonymize):
    data = build_report_pdf([_item(tmp_path, "k.dcm", **{field: value})], bundle=None, anonymize=anonymize,
                            salt="s", generated_at=WHEN)
    text = _text(data)
    assert "\x1b" not in text and "\x07" not in text
    if not anonymize and len(value) > 1000 and field in ("patient_id", "patient_name"):
        assert value[0] * 100 in text.replace("\n", "") and value not in text  # shown, and cut short
        assert "…" in text


def test_compact_stand_ins_give_the_same_report(tmp_path):
    item = _item(tmp_path, "k.dcm")
    light = compact(item, spill_dir=tmp_path)
    assert light.film.pixels.size == 0 and light.prediction.cam is None  # no full-resolution arrays kept
    full, small = (_text(build_report_pdf([i], bundle=None, generated_at=WHEN)) for i in (item, light))
    assert small == full


def test_one_patients_failure_never_stops_the_others(tmp_path, monkeypatch):
    from osteo_desktop.core.reports import pdf

    items = [_item(tmp_path, f"p{i}.dcm", patient_id=f"P-{i}") for i in range(3)]
    real = pdf.build_report_pdf

    def flaky(group, **kw):
        if group[0].film.ids.patient_id == "P-1":
            raise RuntimeError("layout exploded")
        return real(group, **kw)

    monkeypatch.setattr(pdf, "build_report_pdf", flaky)
    errors: list[ReportError] = []
    written = write_patient_reports(items, tmp_path / "out", bundle=None, generated_at=WHEN, errors=errors)
    assert len(written) == 2 and len(errors) == 1 and "layout exploded" in str(errors[0])
    with pytest.raises(ReportError):  # without an errors list: the others are written, then it raises
        write_patient_reports(items, tmp_path / "out2", bundle=None, generated_at=WHEN)
    assert len(list((tmp_path / "out2").glob("*.pdf"))) == 2
