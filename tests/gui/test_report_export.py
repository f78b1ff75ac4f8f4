"""Report export from the viewer: PDF of the current patient (core.reports), DICOM SR, "Replace?".

The dialogs are replaced by functions (monkeypatched `report_export.ask_*` / `confirm_replace`): no
modal dialog is ever shown. A fake screener keeps these fast; the PDF is the core's real one.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from osteo_desktop.core import session
from osteo_desktop.gui import report_export as rx

from .conftest import FakeScreener, write_dicom, write_png

pypdf = pytest.importorskip("pypdf")
pytest.importorskip("reportlab")

NAME = "Quigley^Hermione"
PID = "PID-4711"


@pytest.fixture(autouse=True)
def _salt(tmp_path, monkeypatch):
    """Pseudonyms use a per-test salt file, never the user's."""
    monkeypatch.setenv("OSTEO_PSEUDONYM_SALT_FILE", str(tmp_path / "salt"))


@pytest.fixture
def asked(monkeypatch):
    """Replace the dialogs: `asked.answer` is what the PDF dialog returns, `asked.replace` the answer to
    "Replace?"; the calls are recorded."""

    class Asked:
        answer: rx.PdfOptions | None = None
        replace = False
        pdf_kwargs: list[dict] = []
        replace_calls: list[list[Path]] = []

    a = Asked()
    a.pdf_kwargs, a.replace_calls = [], []

    def ask_pdf(parent, **kw):
        a.pdf_kwargs.append(kw)
        return a.answer

    def confirm(parent, paths):
        a.replace_calls.append(list(paths))
        return a.replace

    monkeypatch.setattr(rx, "ask_pdf_options", ask_pdf)
    monkeypatch.setattr(rx, "confirm_replace", confirm)
    monkeypatch.setattr(rx, "ask_dicom_options", lambda parent, **kw: pytest.fail("unexpected DICOM dialog"))
    return a


def _patient_window(qtbot, make_window, tmp_path, fake=None):
    """Two films of one patient and one of another; the first is on display and screened."""
    d = tmp_path / "films"
    d.mkdir()
    a = write_dicom(d / "p_a.dcm", patient_id=PID, patient_name=NAME, seed=1)
    b = write_dicom(d / "p_b.dcm", patient_id=PID, patient_name=NAME, seed=2)
    write_dicom(d / "other.dcm", patient_id="PID-OTHER", patient_name="Other^Person", seed=3)
    fake = fake or FakeScreener()
    w = make_window(fake)
    with qtbot.waitSignal(w.screening_done, timeout=20000):
        w.open_paths([a])
    with qtbot.waitSignal(w.load_finished, timeout=20000):
        w.loader.load([b, d / "other.dcm"])  # into the browser, not on display (as from a folder)
    assert w.session.current_key == str(a)
    assert w.browser.patient_paths(str(a)) == [str(a), str(b)]
    return w, fake, a, b


def _pdf_text(path: Path) -> str:
    reader = pypdf.PdfReader(str(path))
    return "\n".join(page.extract_text() or "" for page in reader.pages) + str(reader.metadata or "")


def _export(qtbot, w, timeout=60000):
    with qtbot.waitSignal(w.export_finished, timeout=timeout) as sig:
        w.export_pdf_dialog()
    return sig.args[1]


def test_pdf_export_screens_the_rest_of_the_patient_and_writes(qtbot, make_window, tmp_path, asked, monkeypatch):
    monkeypatch.setattr(session, "FILM_CACHE", 1)  # film b leaves the memory cache: the worker reads it again
    w, fake, a, b = _patient_window(qtbot, make_window, tmp_path)
    assert str(b) not in w.session
    out = tmp_path / "out" / "report.pdf"
    asked.answer = rx.PdfOptions(out, "Letter", False)
    paths = _export(qtbot, w)
    assert paths == [out] and out.read_bytes().startswith(b"%PDF")
    kw = asked.pdf_kwargs[0]
    assert kw["name"].startswith(f"osteo-report_{PID}_") and kw["name"].endswith(".pdf")  # the core's report_filename
    assert PID not in kw["anon_name"] and kw["anon_name"].startswith("osteo-report_ANON-")
    assert "all 2 films" in kw["summary"] and "1 will be screened first" in kw["summary"]
    assert asked.replace_calls == []  # a new file: no question
    # the unscreened film of the patient was screened in the worker (not the other patient's film)
    assert fake.calls.count(str(b)) == 1 and not any("other" in c for c in fake.calls)
    assert fake.threads and threading.get_ident() not in fake.threads
    assert w.session.result(str(b)) is not None  # and its result is cached for the viewer
    text = _pdf_text(out)
    assert PID in text and "Low bone density suspected" in text
    assert "p_a.dcm" in text and "p_b.dcm" in text and "PID-OTHER" not in text
    assert round(float(pypdf.PdfReader(str(out)).pages[0].mediabox.width)) == 612  # Letter
    assert w.settings.value(rx.PAGE_SIZE_KEY) == "Letter"  # remembered for next time
    msg = w.messages.messages()[0]
    assert msg.level == "info" and str(out) in msg.text
    assert [b.text() for b in w.messages.rows()[0].action_buttons] == ["Open folder"]


def test_existing_file_kept_when_user_declines(qtbot, make_window, tmp_path, asked):
    w, fake, a, b = _patient_window(qtbot, make_window, tmp_path)
    out = tmp_path / "report.pdf"
    out.write_bytes(b"old report")
    asked.answer = rx.PdfOptions(out, "A4", False)
    asked.replace = False
    n_calls = len(fake.calls)
    w.export_pdf_dialog()
    qtbot.wait(200)
    assert asked.replace_calls == [[out]]
    assert out.read_bytes() == b"old report"
    assert not w.controller.exporting and len(fake.calls) == n_calls  # nothing started


def test_existing_file_replaced_when_user_accepts(qtbot, make_window, tmp_path, asked):
    w, fake, a, b = _patient_window(qtbot, make_window, tmp_path)
    out = tmp_path / "report.pdf"
    out.write_bytes(b"old report")
    asked.answer = rx.PdfOptions(out, "A4", False)
    asked.replace = True
    assert _export(qtbot, w) == [out]
    assert asked.replace_calls == [[out]]
    assert out.read_bytes().startswith(b"%PDF") and PID in _pdf_text(out)


def test_anonymised_report_has_no_name_or_id(qtbot, make_window, tmp_path, asked):
    w, fake, a, b = _patient_window(qtbot, make_window, tmp_path)
    asked.answer = None  # first: only look at what the dialog is offered, and cancel
    w.export_pdf_dialog()
    anon_name = asked.pdf_kwargs[0]["anon_name"]
    out = tmp_path / anon_name
    asked.answer = rx.PdfOptions(out, "A4", True)
    assert _export(qtbot, w) == [out]
    text = _pdf_text(out)
    assert "ANON-" in text and "Low bone density suspected" in text
    for secret in (PID, "4711", "Quigley", "Hermione", "p_a", "p_b", "19600101", "1960-01-01"):
        assert secret.lower() not in text.lower(), secret
        assert secret.lower() not in out.name.lower()


def test_failure_is_a_message_not_a_dialog(qtbot, make_window, tmp_path, asked):
    w, fake, a, b = _patient_window(qtbot, make_window, tmp_path)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    asked.answer = rx.PdfOptions(blocker / "report.pdf", "A4", False)  # its parent is a file
    with qtbot.waitSignal(w.export_failed, timeout=60000) as sig:
        w.export_pdf_dialog()
    assert "export failed" in sig.args[1]
    assert w.messages.messages()[0].level == "error"
    assert w.pdf_action.isEnabled() and not w.controller.exporting


def test_dicom_sr_of_the_current_film(qtbot, make_window, tmp_path, asked):
    import pydicom

    w, fake, a, b = _patient_window(qtbot, make_window, tmp_path)
    folder = tmp_path / "pacs"
    with qtbot.waitSignal(w.export_finished, timeout=60000) as sig:
        w.export_dicom(folder, sr=True, sc=False)
    assert sig.args[1] == [folder / "p_a_SR.dcm"]
    ds = pydicom.dcmread(str(folder / "p_a_SR.dcm"))
    assert ds.Modality == "SR" and ds.PatientID == PID
    w.export_dicom(folder, sr=True)  # exists: asked, declined, kept
    assert asked.replace_calls == [[folder / "p_a_SR.dcm"]] and not w.controller.exporting


def test_pdf_dialog_swaps_the_suggested_name_when_anonymised(qtbot, tmp_path):
    d = rx.PdfReportDialog(None, folder=str(tmp_path), name=f"osteo-report_{PID}.pdf", anon_name="osteo-report_ANON-1.pdf",
                           page_size="Letter", anonymize=False, summary="s", identifiers=[PID, "Quigley"])
    qtbot.addWidget(d)
    assert d.options() == rx.PdfOptions(tmp_path / f"osteo-report_{PID}.pdf", "Letter", False)
    d.anon_check.setChecked(True)
    assert d.options().path.name == "osteo-report_ANON-1.pdf" and d.options().anonymize
    d.path_edit.setText(str(tmp_path / "quigley knee"))  # no suffix; a name in it
    assert d.options().path == tmp_path / "quigley knee.pdf"
    assert "name or ID" in d.warning.text()
    d.path_edit.setText("")
    assert not d.export_button.isEnabled()


def test_export_actions_offered(make_window):
    w = make_window(FakeScreener())
    assert w.pdf_action.isEnabled() and "PDF" in w.pdf_action.toolTip()
    assert w.dicom_action.isEnabled()
    w.export_pdf_dialog()  # no film: a status message, no dialog
    assert "open a film first" in w.statusBar().currentMessage()


def test_png_is_its_own_patient(qtbot, make_window, tmp_path, asked):
    w = make_window(FakeScreener())
    with qtbot.waitSignal(w.screening_done, timeout=20000):
        w.open_paths([write_png(tmp_path / "knee.png")])
    films = w.patient_films()
    assert [Path(f.path).name for f in films] == ["knee.png"] and films[0].prediction is not None


def test_worker_warms_the_model_up_in_the_worker_thread(qtbot, make_window):
    class Warm(FakeScreener):
        def warm_up(self):
            self.warm_thread = threading.get_ident()

    fake = Warm()
    w = make_window(fake)
    with qtbot.waitSignal(w.controller.model_state_changed, timeout=10000, check_params_cb=lambda s, m: s == "ready"):
        w.start_background()
    assert fake.warm_thread != threading.get_ident()  # warmed up in the worker, before "ready"


def test_failed_warm_up_is_not_fatal(qtbot, make_window):
    class Cold(FakeScreener):
        def warm_up(self):
            raise RuntimeError("no grad-cam here")

    w = make_window(Cold())
    with qtbot.waitSignal(w.screening_done, timeout=10000):
        w.start_background()
        w.open_paths([write_png(Path(w.settings.fileName()).parent / "k.png")])


def test_typing_an_absolute_path_keystroke_by_keystroke_never_raises(qtbot, tmp_path):
    """Typing "/" first (then the rest) used to raise ValueError in the "Save as" field on every keystroke."""
    d = rx.PdfReportDialog(None, folder=str(tmp_path), name="r.pdf", anon_name="a.pdf", page_size="A4",
                           anonymize=False, summary="s")
    qtbot.addWidget(d)
    d.path_edit.clear()
    target = f"{tmp_path}/sub/report"
    for i in range(1, len(target) + 1):
        d.path_edit.setText(target[:i])  # every prefix: "/", "/t", ..., ".../sub/", ...
        d.options()
    assert d.options().path == tmp_path / "sub" / "report.pdf" and d.export_button.isEnabled()
    for folder_like in ("/", f"{tmp_path}/", f"{tmp_path}/sub/", "~/"):
        d.path_edit.setText(folder_like)
        assert d.options() is None, folder_like  # a folder, not a file name yet
        assert not d.export_button.isEnabled()
        assert "file name" in d.warning.text()
    d.path_edit.setText(str(tmp_path))  # an existing folder typed without the final "/"
    assert not d.export_button.isEnabled() and "folder" in d.warning.text()
