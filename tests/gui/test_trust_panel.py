"""Issue 9 in the viewer: "Not screened" is a result with its reason (no score, no heatmap, no
referral words); a score that was not validated is shown for information only, in a neutral colour."""

from __future__ import annotations

from PySide6.QtGui import QColor

from osteo_desktop.core.scoring import TONE_COLOURS, Tone

from .conftest import FakeScreener, write_png


def _screen(qtbot, w, path):
    with qtbot.waitSignal(w.screening_done, timeout=15000):
        w.open_paths([path])


def test_not_screened_shows_the_reason_and_nothing_else(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener(result="not_screened"))
    _screen(qtbot, w, write_png(tmp_path / "chest.png"))
    r = w.results
    assert r.decision.text() == "Not screened"
    assert r.reason.isVisibleTo(r) and "another body part" in r.reason.text()
    assert not r.result_box.isVisibleTo(r)  # no score bar, no probabilities, no heatmap controls
    assert "Appears to be: other radiograph (97% sure), from the picture." == r.eligibility.text()
    assert not w.view.cam_drawn()
    shown = " ".join(lab.text() for lab in (r.decision, r.reason, r.status)).lower()
    assert "referral" not in shown and "suspected" not in shown
    assert not r.clinical_form.isVisibleTo(r)  # age and sex cannot make a chest film screenable


def test_a_knee_film_not_screened_keeps_the_age_form(qtbot, make_window, tmp_path):
    """Not screened for the patient's age: correcting the age is what the reader may need to do."""
    from dataclasses import replace

    fake = FakeScreener(result="not_screened")
    screen = fake.screen

    def too_young(film, *a, **k):
        p = screen(film, *a, **k)
        reason = "The patient is 12 years old, younger than the validated age range (18-76 years)."
        return replace(p, eligibility=replace(p.eligibility, anatomy="knee", reason=reason), not_screened_reason=reason)

    fake.screen = too_young
    w = make_window(fake)
    _screen(qtbot, w, write_png(tmp_path / "knee.png"))
    r = w.results
    assert r.decision.text() == "Not screened" and "younger" in r.reason.text()
    assert r.clinical_form.isVisibleTo(r)


def test_a_score_not_validated_is_for_information_only_in_a_neutral_colour(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener(result="info_only"))
    _screen(qtbot, w, write_png(tmp_path / "knee.png"))
    r = w.results
    assert "for information only" in r.decision.text() and "referral for DXA" not in r.decision.text()
    assert "did no better than chance" in r.reason.text() and r.reason.isVisibleTo(r)
    neutral = TONE_COLOURS[Tone.NEUTRAL].screen
    assert QColor(neutral).name() in r.decision.styleSheet().lower()
    assert r.score_bar.colour.name() == QColor(TONE_COLOURS[Tone.NEUTRAL].bar_screen).name()


def test_the_panel_explains_the_score(qtbot, make_window, tmp_path):
    w = make_window(FakeScreener())
    _screen(qtbot, w, write_png(tmp_path / "knee.png"))
    r = w.results
    assert "low-BMD score = P(osteopenia) + P(osteoporosis)" in r.score_text.text()
    assert "Screened as: knee (99% sure), from the picture." == r.eligibility.text()
    assert "consider referral for DXA" in r.decision.text()  # a validated positive keeps its words
    assert QColor(TONE_COLOURS[Tone.ALERT].screen).name() in r.decision.styleSheet().lower()
