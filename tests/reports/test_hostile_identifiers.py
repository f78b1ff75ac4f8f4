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


def test_a_report_reads_its_spilled_pictures_one_film_at_a_time(tmp_path):
    """A patient with many films: each film's pictures are read back when laid out, and gone before
    the next film's are read (the content does not hold every film's pictures at once)."""
    import weakref

    items = [compact(_item(tmp_path, f"k{i}.dcm"), spill_dir=tmp_path) for i in range(4)]
    alive: list[weakref.ref] = []
    most = 0

    def watched(load):
        def read():
            nonlocal most
            pics = load()
            alive.append(weakref.ref(pics.display))
            most = max(most, sum(r() is not None for r in alive))
            return pics
        return read

    items = [dataclasses.replace(i, pictures=watched(i.pictures)) for i in items]
    build_report_pdf(items, bundle=None, generated_at=WHEN)
    assert len(alive) == 4 and most == 1


def test_drawn_pictures_leave_no_decoded_pixels_for_the_garbage_collector():
    """reportlab keeps a JPEG's decoded pixels in a reference cycle; the report's pictures empty it when drawn."""
    import gc
    import io

    import numpy as np
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import SimpleDocTemplate, Table

    from osteo_desktop.core.reports.pdf_style import image_flowable

    rng = np.random.default_rng(0)
    gc.collect()
    gc.disable()
    try:
        story = [Table([[image_flowable(rng.integers(0, 255, (600, 500, 3), dtype=np.uint8), 100, 120)]]) for _ in range(3)]
        SimpleDocTemplate(io.BytesIO()).build(story)
        del story
        holding = [o for o in gc.get_objects() if isinstance(o, ImageReader) and getattr(o, "_data", None) is not None]
    finally:
        gc.enable()
    assert holding == []
