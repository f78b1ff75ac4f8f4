"""The report's content (what it says) is plain data, built without reportlab; the anonymisation
rules live in their own module."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from osteo_desktop.core.reports import ScreenedFilm, build_content
from osteo_desktop.core.reports.anonymise import Scrubber, report_filename
from osteo_desktop.core.scoring import Decision

from .report_fixtures import PATIENT, knee_pixels, make_prediction, png_film

WHEN = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)


def test_content_modules_do_not_import_reportlab():
    code = ("import sys; import osteo_desktop.core.reports.report_content, osteo_desktop.core.reports.anonymise; "
            "print(sorted(m for m in sys.modules if m.startswith('reportlab')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_content_states_results_in_words(patient_films, config):
    c = build_content(patient_films, bundle=config, generated_at=WHEN)
    assert c.result.decision is Decision.POSITIVE and "consider referral for DXA" in c.result.decision_text
    assert c.result.summary.startswith("Patient result from the spine films: mean low-BMD score 0.800 is at or above the threshold 0.500.")
    assert [a.anatomy for a in c.result.anatomies] == ["knee", "spine (decides)"]
    assert [s.decision for s in c.summary] == [Decision.NEGATIVE, Decision.POSITIVE]
    knee, spine = c.films
    assert knee.result is not None and knee.result.comparison.startswith("Score 0.450 is below the threshold 0.500")
    assert spine.warnings == ["Test warning: film is slightly rotated."]
    assert ("Patient ID", PATIENT["patient_id"]) in c.patient.pairs
    assert c.header_left == "Patient: ID PID-4711-XYZ · Testperson, Hildegard Maria"
    assert "0.842 (95% CI 0.801–0.879)" in dict(c.model.metric_rows).values()


def test_anonymised_content_holds_no_identifier(patient_films, config):
    c = build_content(patient_films, bundle=config, anonymize=True, salt=b"s", generated_at=WHEN)
    text = repr(c.patient) + repr(c.result) + repr(c.summary) + c.header_left + c.footer_left + c.metadata_title
    text += "".join(f.heading + repr(f.pairs) + repr(f.warnings) for f in c.films)
    for identifier in (PATIENT["patient_id"], "Testperson", "Hildegard", "19480317", PATIENT["accession_number"], "knee_ap"):
        assert identifier not in text, identifier
    assert c.patient_label.startswith("ANON-") and c.patient.note.startswith("Anonymised")


def test_not_screened_film_is_neutral_and_says_why(tmp_path, config):
    film = png_film(tmp_path, "a.png", knee_pixels())
    c = build_content([ScreenedFilm(film, None, "could not screen a.png")], bundle=config, anonymize=True, salt=b"s",
                      generated_at=WHEN)
    assert c.result.decision is None and c.summary[0].decision is Decision.NOT_SCREENED
    assert c.films[0].result is None and c.films[0].not_screened == "could not screen Film 1"
    assert c.films[0].overlay_caption == "Not screened: no heatmap."


def test_scrubber_and_file_name(patient_films):
    class E:
        label = "Film 1"
        film = patient_films[0].film

    scrub = Scrubber([E()], enabled=True)
    assert scrub(f"{PATIENT['patient_id']} in knee_ap.dcm") == "[removed] in Film 1"
    assert Scrubber([E()], enabled=False)("PID-4711-XYZ") == "PID-4711-XYZ"
    import hashlib

    assert report_filename(patient_films) == f"osteo-report_PID-4711-XYZ_{hashlib.sha256(b'PID-4711-XYZ').hexdigest()[:8]}.pdf"
    assert report_filename(patient_films, anonymize=True, salt=b"s").startswith("osteo-report_ANON-")


def test_prediction_changes_follow_the_content(patient_films, config):
    knee = patient_films[0]
    items = [ScreenedFilm(knee.film, make_prediction((0.1, 0.5, 0.4)))]
    c = build_content(items, bundle=config, generated_at=WHEN)
    assert c.result.decision is Decision.POSITIVE and c.films[0].result.decision is Decision.POSITIVE
