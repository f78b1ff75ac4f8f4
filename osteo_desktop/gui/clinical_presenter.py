"""Connects the clinical form to the session and to screening: values a user enters for a patient
replace the films' tags for every film of that patient; their cached results are dropped and the
film on display is screened again."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..core.clinical import ClinicalInputError, ClinicalInputs, ClinicalValue, clinical_from_film, user_inputs
from ..core.film import Film

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


def _same(a: ClinicalValue | None, b: ClinicalValue | None) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a.value, float) and isinstance(b.value, float):
        return abs(a.value - b.value) < 0.5
    return bool(a.value == b.value)


def changed_values(typed: ClinicalInputs, from_file: ClinicalInputs) -> ClinicalInputs:
    """Only the values a user actually changed count as "entered by user" (a field left as the file
    says keeps the file as its source)."""
    return ClinicalInputs(
        age=None if _same(typed.age, from_file.age) else typed.age,
        sex=None if _same(typed.sex, from_file.sex) else typed.sex,
        weight=None if _same(typed.weight, from_file.weight) else typed.weight,
    )


class ClinicalPresenter:
    def __init__(self, window: MainWindow):
        self.w = window
        form = window.results.clinical_form
        form.applied.connect(self.on_applied)
        form.reset_requested.connect(self.on_reset)

    def show_film(self, film: Film) -> None:
        entered = self.w.session.clinical(film.patient_key)
        form = self.w.results.clinical_form
        form.show_values(clinical_from_film(film).override(entered), entered=entered is not None)
        form.setVisible(True)  # a result for a film not screened for what it shows hides it again

    def on_applied(self, age: str, sex: str, weight: str) -> None:
        lf = self.w.current
        if lf is None:
            return
        try:
            typed = user_inputs(age or None, sex or None, weight or None)
        except ClinicalInputError as e:
            self.w.results.clinical_form.show_error(str(e).removeprefix("entered values: "))
            return
        entered = changed_values(typed, clinical_from_film(lf.film))
        self._set(lf.film, entered)

    def on_reset(self) -> None:
        lf = self.w.current
        if lf is not None:
            self._set(lf.film, None)

    def _set(self, film: Film, entered: ClinicalInputs | None) -> None:
        key = film.patient_key
        self.w.session.set_clinical(key, entered)
        current = self.w.session.current_key
        films = self.w.browser.patient_paths(current) if current else []
        self.w.session.forget_results([*films, *([current] if current else [])])
        self.show_film(film)
        log.info("clinical inputs %s for a patient; screening again", "entered" if entered else "reset")
        if self.w.controller.model_available:
            self.w.screen_current()
