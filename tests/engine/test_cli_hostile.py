"""osteo-screen against hostile and unlucky input: findings 2, 4, 5, 6, 8, 9, 10 and 11 of issue 12.

(Finding 1 lives in tests/robustness/test_bombs.py, 3 in tests/core/test_picture_check.py, 7 in
tests/engine/test_bundle_validation.py; the fuzz test in tests/robustness/test_fuzz.py.)
"""

from __future__ import annotations

import errno
import gc
import json
import os
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest

from osteo_desktop.cli.screen import main

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo" / "knee_demo.dcm"


def write_png(path: Path, shape=(240, 180), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    img = (rng.random(shape) * 60 + 40).astype(np.uint8)
    img[:, shape[1] // 3 : 2 * shape[1] // 3] += 120
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


def write_dicom(path: Path, patient_id: str, name: str = "Smith^John", seed: int = 0) -> Path:
    from tests.robustness.hostile import dicom_film, ramp

    arr = ramp(120, 100)
    arr = (arr + np.random.default_rng(seed).integers(0, 200, arr.shape)).clip(0, 4095).astype(np.uint16)
    dicom_film(path, arr, BitsStored=12, HighBit=11)
    import pydicom

    ds = pydicom.dcmread(path)
    ds.PatientID = patient_id
    ds.PatientName = name
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(path)])
    ds.save_as(path, enforce_file_format=True)
    return path


def run(capsys, *args) -> tuple[int, list[dict], str]:
    rc = main([*map(str, args)])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


# -- finding 2: memory flat over a batch ------------------------------------------------------------
@pytest.mark.parametrize("extra", [[], ["--pdf"]], ids=["out", "out+pdf"])
def test_a_batch_keeps_no_film_once_it_is_reported(tmp_path, tiny_bundle, capsys, monkeypatch, extra):
    """Every film's pixels and heatmap were kept until the run ended; now at most the film being
    written and the one being screened are alive, whatever the batch size."""
    from osteo_desktop.core import inference, loading

    films = [write_png(tmp_path / "in" / f"f{i:02d}.png", seed=i) for i in range(8)]
    live_films: list[weakref.ref] = []
    live_cams: list[weakref.ref] = []
    most = {"films": 0, "cams": 0}
    real_load, real_screen = loading.load_film, inference.Screener.screen

    def counting_load(path, **kw):
        gc.collect()
        most["films"] = max(most["films"], sum(1 for r in live_films if r() is not None))
        most["cams"] = max(most["cams"], sum(1 for r in live_cams if r() is not None))
        film = real_load(path, **kw)
        live_films.append(weakref.ref(film))
        return film

    def recording_screen(self, film, **kw):
        pred = real_screen(self, film, **kw)
        if pred.cam is not None:
            live_cams.append(weakref.ref(pred.cam))
        return pred

    monkeypatch.setattr(loading, "load_film", counting_load)
    monkeypatch.setattr(inference.Screener, "screen", recording_screen)
    rc, rows, err = run(capsys, *films, "--out", tmp_path / "out", "--json", "--bundle", tiny_bundle.path, *extra)
    assert rc == 0, err
    assert len(rows) == len(films)
    assert most["films"] <= 2, most  # the film in the writer thread and the one just screened
    assert most["cams"] <= 2, most
    if extra:
        assert len(list((tmp_path / "out").glob("osteo-report_*.pdf"))) == len(films)  # each PNG is its own patient


# -- finding 4: a symlink loop (and other per-file OS trouble) stays per file -----------------------
def test_symlink_loop_on_the_command_line_is_one_failed_film(tmp_path, tiny_bundle, capsys):
    good = write_png(tmp_path / "good.png")
    loop = tmp_path / "loop.png"
    os.symlink(loop, loop)
    rc, rows, err = run(capsys, loop, good, "--json", "--bundle", tiny_bundle.path)
    assert rc == 1
    by = {Path(r["file"]).name: r for r in rows}
    assert by["good.png"]["status"] == "ok"
    assert by["loop.png"]["status"] == "error" and "link loop" in by["loop.png"]["error"]
    assert "internal error" not in err and "RuntimeError" not in err


def test_an_unreadable_film_is_named_as_such(tmp_path, tiny_bundle, capsys, monkeypatch):
    good = write_png(tmp_path / "good.png")
    locked = write_png(tmp_path / "locked.png", seed=3)
    real_open = open

    def guarded_open(file, *a, **k):  # root ignores chmod: refuse this one file as a locked-down OS would
        if Path(str(file)).name == "locked.png":
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr("builtins.open", guarded_open)
    rc, rows, err = run(capsys, locked, good, "--json", "--bundle", tiny_bundle.path)
    by = {Path(r["file"]).name: r for r in rows}
    assert rc == 1 and by["good.png"]["status"] == "ok"
    assert "permission denied" in by["locked.png"]["error"] and "unexpected" not in by["locked.png"]["error"]


# -- finding 5: identifiers of any length; one patient's failure never stops the others --------------
def test_reports_for_every_patient_whatever_their_identifiers(tmp_path, tiny_bundle, capsys):
    ids = ["X" * 10_000, "P-2\x1b[31m\nERROR: forged", "P-3", "P-4"]
    films = [write_dicom(tmp_path / "in" / f"p{i}.dcm", pid, seed=i) for i, pid in enumerate(ids)]
    out = tmp_path / "out"
    rc, rows, err = run(capsys, *films, "--out", out, "--pdf", "--dicom-sr", "--json", "--bundle", tiny_bundle.path)
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    pdfs = sorted(out.glob("osteo-report_*.pdf"))
    assert len(pdfs) == 4, err  # the 10,000-character ID once stopped the PDF step after 2 of 16
    assert len(list(out.glob("*_SR.dcm"))) == 4
    assert all(len(p.name) < 120 for p in pdfs)
    assert rc == 0, err
    import pypdf

    text = "".join(page.extract_text() for page in pypdf.PdfReader(min(pdfs, key=lambda p: p.stat().st_size)).pages)
    assert "\x1b" not in text


def test_a_failing_patient_report_does_not_stop_the_others(tmp_path, tiny_bundle, capsys, monkeypatch):
    from osteo_desktop.core.reports import pdf

    films = [write_dicom(tmp_path / "in" / f"p{i}.dcm", f"P-{i}", seed=i) for i in range(3)]
    real = pdf.build_report_pdf

    def flaky(items, **kw):
        if items[0].film.ids.patient_id == "P-1":
            raise RuntimeError("layout exploded")
        return real(items, **kw)

    monkeypatch.setattr(pdf, "build_report_pdf", flaky)
    rc, _, err = run(capsys, *films, "--out", tmp_path / "out", "--pdf", "-q", "--bundle", tiny_bundle.path)
    names = sorted(p.name for p in (tmp_path / "out").glob("osteo-report_*.pdf"))
    assert len(names) == 2 and not any("P-1_" in n for n in names)
    assert rc == 1 and "layout exploded" in err and "internal error" not in err


# -- finding 6: never overwrite without --force; never screen our own outputs -----------------------
def test_existing_files_in_out_are_never_replaced_without_force(tmp_path, tiny_bundle, capsys):
    from osteo_desktop.core.provenance import JSON_KEY

    src = write_png(tmp_path / "in" / "knee_demo.png")
    out = tmp_path / "out"
    out.mkdir()
    real_film = write_png(out / "knee_demo_film.png", seed=9)  # a real radiograph that happens to be there
    users_json = out / "knee_demo.json"
    users_json.write_text('{"mine": true}')
    before = real_film.read_bytes()
    rc, rows, err = run(capsys, src, "--out", out, "--json", "--bundle", tiny_bundle.path)
    assert rc == 1 and "already exists; use --force" in rows[0]["error"]
    assert real_film.read_bytes() == before and users_json.read_text() == '{"mine": true}'
    assert not (out / "knee_demo_overlay.png").exists()  # all or nothing: no overlay without its film and JSON
    rc, rows, _ = run(capsys, src, "--out", out, "--json", "--force", "--bundle", tiny_bundle.path)
    assert rc == 0 and json.loads(users_json.read_text())[JSON_KEY]["tool"] == "osteo-screen"


def test_rerun_into_the_source_folder_never_screens_our_outputs(tmp_path, tiny_bundle, capsys):
    from osteo_desktop.core.provenance import own_output_kind

    folder = tmp_path / "films"
    write_png(folder / "a.png", seed=1)
    write_png(folder / "b.png", seed=2)
    rc, rows, err = run(capsys, folder, "--out", folder, "--json", "--bundle", tiny_bundle.path)
    assert rc == 0, err
    assert own_output_kind(folder / "a_overlay.png") == "overlay picture"
    assert own_output_kind(folder / "a_film.png") == "film picture"
    assert own_output_kind(folder / "a.json") == "result JSON" and own_output_kind(folder / "a.png") is None
    rc, rows, err = run(capsys, folder, "--out", folder, "--json", "--force", "--bundle", tiny_bundle.path)
    assert sorted(Path(r["file"]).name for r in rows) == ["a.png", "b.png"]  # not a_film.png, a_overlay.png...
    assert rc == 0, err
    # named explicitly, our own output is refused with a reason, not screened
    rc, rows, _ = run(capsys, folder / "a_overlay.png", "--json", "--bundle", tiny_bundle.path)
    assert rc == 1 and rows[0]["status"] == "error" and "own overlay picture" in rows[0]["error"]


def test_a_renamed_png_output_is_still_recognised_and_a_real_film_with_our_name_is_not(tmp_path, tiny_bundle, capsys):
    out = tmp_path / "out"
    run(capsys, write_png(tmp_path / "k.png"), "--out", out, "-q", "--bundle", tiny_bundle.path)
    renamed = tmp_path / "renamed.png"
    (out / "k_overlay.png").rename(renamed)
    real = write_png(tmp_path / "x_overlay.png", seed=5)  # a user's film named like an output
    rc, rows, _ = run(capsys, renamed, real, "--json", "--bundle", tiny_bundle.path)
    by = {Path(r["file"]).name: r for r in rows}
    assert by["renamed.png"]["status"] == "error" and by["x_overlay.png"]["status"] == "ok"


# -- finding 8: control characters in file names ----------------------------------------------------
def test_control_characters_never_reach_the_terminal_or_output_names(tmp_path, tiny_bundle, capsys):
    evil = write_png(tmp_path / "in" / "knee\nERROR: all films normal\x1b[2J.png")
    broken = tmp_path / "in" / "bad\x1b]0;pwned\x07\n.dcm"
    broken.write_bytes(b"not a dicom")
    out = tmp_path / "out"
    rc, _, err = run(capsys, evil, broken, "--out", out, "--bundle", tiny_bundle.path)
    assert rc == 1
    assert "\x1b" not in err and "\x07" not in err
    assert not any(line.startswith("ERROR: all films normal") for line in err.splitlines())
    assert "\\n" in err and "\\x1b" in err  # shown as visible escapes
    for p in out.iterdir():
        assert not any(ord(c) < 32 or ord(c) == 127 for c in p.name), repr(p.name)


# -- finding 9: OS errors are named; usage errors come before the model loads ----------------------
@pytest.fixture
def no_model(monkeypatch):
    from osteo_desktop.core import inference

    def refuse(*a, **k):
        raise AssertionError("the model must not load for a usage error")

    monkeypatch.setattr(inference, "Screener", refuse)


def test_out_pointing_at_a_file_is_a_usage_error_before_the_model(tmp_path, capsys, no_model):
    src = write_png(tmp_path / "k.png")
    (tmp_path / "afile").write_text("x")
    rc, _, err = run(capsys, src, "--out", tmp_path / "afile")
    assert rc == 2 and "is a file, not a folder" in err and "internal error" not in err


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only file system"), (errno.EACCES, "read-only for you")])
def test_read_only_out_is_a_usage_error_before_the_model(tmp_path, capsys, no_model, monkeypatch, code, words):
    import tempfile

    src = write_png(tmp_path / "k.png")
    real = tempfile.mkstemp

    def refuse(*a, **k):
        if str(k.get("dir", "")).endswith("out"):
            raise OSError(code, os.strerror(code), str(k["dir"]))
        return real(*a, **k)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    rc, _, err = run(capsys, src, "--out", tmp_path / "out")
    assert rc == 2 and words in err and "report it" not in err


def test_a_full_disk_fails_the_film_cleanly_and_leaves_no_partial_outputs(tmp_path, tiny_bundle, capsys, monkeypatch):
    from osteo_desktop.core import atomic

    films = [write_png(tmp_path / "in" / f"f{i}.png", seed=i) for i in range(2)]
    out = tmp_path / "out"
    real_fdopen = os.fdopen
    calls = {"n": 0}

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    def fdopen(fd, *a, **k):
        calls["n"] += 1
        f = real_fdopen(fd, *a, **k)
        return FullDisk(f) if calls["n"] == 2 else f  # the second file of the first film: its overlay

    monkeypatch.setattr(atomic.os, "fdopen", fdopen)
    rc, rows, err = run(capsys, *films, "--out", out, "--json", "--bundle", tiny_bundle.path)
    assert rc == 1
    assert "the disk is full" in rows[0]["error"] and "report it" not in rows[0]["error"]
    assert rows[1]["status"] == "ok"
    assert sorted(p.name for p in out.iterdir()) == ["f1.json", "f1_film.png", "f1_overlay.png"]  # nothing of f0


# -- finding 10: --anonymize covers every output ------------------------------------------------------
def test_anonymize_covers_every_file_of_the_run(tmp_path, tiny_bundle, capsys, monkeypatch):
    monkeypatch.setenv("OSTEO_PSEUDONYM_SALT_FILE", str(tmp_path / "salt"))
    film = write_dicom(tmp_path / "in" / "MRN-55501_smith_knee.dcm", "MRN-55501", name="Smith^Johanna")
    out = tmp_path / "out"
    rc, rows, err = run(capsys, film, "--out", out, "--pdf", "--anonymize", "--json", "--bundle", tiny_bundle.path)
    assert rc == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 4 and all(n.startswith(("ANON-", "osteo-report_ANON-")) for n in names), names
    for p in out.iterdir():
        for secret in ("MRN-55501", "55501", "smith", "Smith", "Johanna"):
            assert secret not in p.name
            if p.suffix == ".json":
                assert secret not in p.read_text(), (p.name, secret)
    record = json.loads(next(out.glob("*.json")).read_text())
    assert record["file"].startswith("ANON-") and record["anonymised"] is True


# -- finding 11: report names unique per patient -----------------------------------------------------
def test_patient_ids_that_clean_to_the_same_name_get_their_own_reports(tmp_path, tiny_bundle, capsys):
    import pypdf

    def patient_of(pdf: Path) -> str:
        text = "".join(page.extract_text() for page in pypdf.PdfReader(pdf).pages)
        return "a/b" if "a/b" in text else "a_b"

    a = write_dicom(tmp_path / "in" / "a.dcm", "a/b", seed=1)
    b = write_dicom(tmp_path / "in" / "b.dcm", "a_b", seed=2)
    out = tmp_path / "out"
    rc, _, err = run(capsys, a, b, "--out", out, "--pdf", "-q", "--bundle", tiny_bundle.path)
    assert rc == 0, err
    reports = {patient_of(p): p for p in out.glob("osteo-report_*.pdf")}
    assert set(reports) == {"a/b", "a_b"}
    before = reports["a/b"].read_bytes()
    # a_b alone again, with --force: it may replace its own report, never a/b's
    rc, _, err = run(capsys, b, "--out", out, "--pdf", "--force", "-q", "--bundle", tiny_bundle.path)
    assert rc == 0, err
    assert reports["a/b"].read_bytes() == before and patient_of(reports["a/b"]) == "a/b"
    assert len(list(out.glob("osteo-report_*.pdf"))) == 2


# -- finding 3: blank, saturated and non-finite pictures are not screened, with the reason ------------
def test_blank_and_saturated_films_are_not_screened(tmp_path, tiny_bundle, capsys):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from tests.robustness.hostile import _base_dataset, dicom_film, ramp, save_dicom

    folder = tmp_path / "in"
    nan = _base_dataset(Rows=64, Columns=64, SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2", BitsAllocated=32)
    nan.FloatPixelData = np.full((64, 64), np.nan, "<f4").tobytes()
    save_dicom(folder / "all_nan.dcm", nan)
    dicom_film(folder / "slope_huge.dcm", ramp(), BitsStored=12, HighBit=11, RescaleSlope="1e300")
    dicom_film(folder / "slope_tiny.dcm", ramp(), BitsStored=12, HighBit=11, RescaleSlope="1e-300")
    dicom_film(folder / "intercept_1e38.dcm", ramp(), BitsStored=12, HighBit=11, RescaleIntercept="1e38")
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 12]
    lut.add_new("LUTData", "OW", np.zeros(4096, "<u2").tobytes())
    dicom_film(folder / "zero_lut.dcm", ramp(), BitsStored=12, HighBit=11, VOILUTSequence=Sequence([lut]))
    out = tmp_path / "out"
    rc, rows, err = run(capsys, folder, "--out", out, "--json", "--bundle", tiny_bundle.path)
    assert len(rows) == 5
    for r in rows:
        assert r["decision"] == "not_screened", (r["file"], r["decision"])
        assert r["probabilities"] is None and r["low_bmd_score"] is None and r["not_screened_reason"]
    reasons = {Path(r["file"]).stem: r["not_screened_reason"] for r in rows}
    assert "NaN or infinite" in reasons["all_nan"] and "NaN or infinite" in reasons["slope_huge"]
    assert "same value" in reasons["slope_tiny"] and "same value" in reasons["intercept_1e38"]
    assert "uniform" in reasons["zero_lut"] and "VOI LUT" in reasons["zero_lut"]
    assert not list(out.glob("*_overlay.png"))  # no heatmap on a black film
