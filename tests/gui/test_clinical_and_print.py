"""Issue 9/10 in the viewer: age/sex/weight entered per patient feed screening and are marked
"entered by user"; the patient report prints (the same pages as the PDF) with the clinic's header."""

from __future__ import annotations

import pytest
from PySide6.QtPrintSupport import QPrinter

from osteo_desktop.core.clinical import SRC_USER
from osteo_desktop.gui.clinic_dialog import ClinicDialog
from osteo_desktop.gui.export_controller import CLINIC_ADDRESS_KEY, CLINIC_NAME_KEY

from .conftest import FakeScreener, write_dicom
from .test_report_export import NAME, PID, _patient_window, _pdf_text

pypdf = pytest.importorskip("pypdf")
pytest.importorskip("pypdfium2")


@pytest.fixture(autouse=True)
def _salt(tmp_path, monkeypatch):
    monkeypatch.setenv("OSTEO_PSEUDONYM_SALT_FILE", str(tmp_path / "salt"))


def test_entered_age_and_sex_screen_again_for_the_patient_and_say_so(qtbot, make_window, tmp_path):
    fake = FakeScreener()
    w, _, a, b = _patient_window(qtbot, make_window, tmp_path, fake)
    form = w.results.clinical_form
    # the film says: born 1960-01-01, studied later, female (tests/gui/conftest.write_dicom)
    assert form.age.text() != "" and form.sex.currentText() == "female" and "DICOM" in form.source.text()
    assert not form.reset_button.isEnabled()
    form.age.setText("71")
    form.weight.setText("58")
    with qtbot.waitSignal(w.screening_done, timeout=20000):
        form.apply_button.click()
    used = fake.clinical_seen[-1]
    assert used.age.value == 71 and used.age.source == SRC_USER and used.weight.value == 58
    assert used.sex is None  # unchanged: still the file's value, not "entered by user"
    assert w.session.clinical(PID).age.value == 71
    assert "entered by user" in form.source.text() and form.reset_button.isEnabled()
    assert "age 71 (entered by user)" in w.results.inputs.text()
    assert not w.session.has_result(str(b))  # the patient's other film will be screened again with them
    with qtbot.waitSignal(w.screening_done, timeout=20000):
        form.reset_button.click()
    assert w.session.clinical(PID) is None and fake.clinical_seen[-1] is None


def test_an_unusable_entry_is_shown_and_nothing_is_screened(qtbot, make_window, tmp_path):
    fake = FakeScreener()
    w, *_ = _patient_window(qtbot, make_window, tmp_path, fake)
    calls = len(fake.calls)
    form = w.results.clinical_form
    form.age.setText("sixty")
    form.apply_button.click()
    assert form.error.isVisibleTo(form) and "not a number of years" in form.error.text()
    assert len(fake.calls) == calls and w.session.clinical(PID) is None


def test_values_from_the_file_are_shown_and_unchanged_fields_keep_their_source(qtbot, make_window, tmp_path):
    from osteo_desktop.core.clinical import ClinicalInputs, ClinicalValue
    from osteo_desktop.gui.clinical_presenter import changed_values

    tags = ClinicalInputs(age=ClinicalValue(64.0, "DICOM PatientAge"), sex=ClinicalValue("male", "DICOM PatientSex"))
    typed = ClinicalInputs(age=ClinicalValue(64.0, SRC_USER), sex=ClinicalValue("female", SRC_USER))
    kept = changed_values(typed, tags)
    assert kept.age is None and kept.sex.value == "female"  # only the corrected field counts as entered
    d = tmp_path / "f"
    d.mkdir()
    path = write_dicom(d / "x.dcm", patient_id="P9", patient_name=NAME)
    w = make_window(FakeScreener())
    assert not w.results.clinical_form.isVisibleTo(w.results)  # no film open: nothing to enter values for
    with qtbot.waitSignal(w.film_shown, timeout=15000):
        w.open_paths([path])
    assert w.results.clinical_form.isVisibleTo(w.results)
    assert w.results.clinical_form.reset_button.isEnabled() is False


def test_print_sends_the_reports_pages_and_the_clinic_header(qtbot, make_window, tmp_path):
    w, fake, a, b = _patient_window(qtbot, make_window, tmp_path)
    w.settings.setValue(CLINIC_NAME_KEY, "Example Radiology Clinic")
    w.settings.setValue(CLINIC_ADDRESS_KEY, "1 Bone Street\nSpringfield")
    printed = []

    def hook(pdf_path):
        from osteo_desktop.gui.printing import print_pdf_to

        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(tmp_path / "printed.pdf"))
        printed.append((pdf_path, _pdf_text(pdf_path), print_pdf_to(pdf_path, printer), len(pypdf.PdfReader(str(pdf_path)).pages)))

    w.exports.print_hook = hook
    with qtbot.waitSignal(w.export_finished, timeout=60000):
        w.print_action.trigger()
    (src, text, pages_printed, pages) = printed[0]
    assert pages_printed == pages >= 1
    assert len(pypdf.PdfReader(str(tmp_path / "printed.pdf")).pages) == pages
    assert "Example Radiology Clinic" in text and "Springfield" in text and PID in text
    assert not src.exists() and not src.parent.exists()  # the temporary PDF is gone


def test_clinic_dialog_saves_the_header(qtbot, settings):
    d = ClinicDialog(settings)
    qtbot.addWidget(d)
    d.name.setText("  Example Clinic ")
    d.address.setPlainText("1 Bone St\nSpringfield")
    d.accept()
    assert settings.value(CLINIC_NAME_KEY) == "Example Clinic"
    assert settings.value(CLINIC_ADDRESS_KEY) == "1 Bone St\nSpringfield"
