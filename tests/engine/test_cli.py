import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from osteo_desktop.cli.screen import main

REPO = Path(__file__).resolve().parents[2]


def write_png(path: Path, shape=(240, 180), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    img = (rng.random(shape) * 60 + 40).astype(np.uint8)
    img[:, shape[1] // 3 : 2 * shape[1] // 3] += 120
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def run_cli(capsys, *args) -> tuple[int, list[dict], str]:
    rc = main([*map(str, args)])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return rc, lines, err


def test_json_one_object_per_film_and_failure_exit_code(tmp_path, tiny_bundle, capsys):
    write_png(tmp_path / "in" / "good.png")
    bad = tmp_path / "in" / "bad.dcm"
    bad.write_bytes(b"DICM not really" * 10)
    rc, objs, err = run_cli(capsys, tmp_path / "in", "--json", "--bundle", tiny_bundle.path, "--device", "cpu")
    assert rc == 1
    by_name = {Path(o["file"]).name: o for o in objs}
    assert set(by_name) == {"good.png", "bad.dcm"}
    g, b = by_name["good.png"], by_name["bad.dcm"]
    for key in ("file", "status", "error", "probabilities", "low_bmd_score", "decision", "threshold", "model",
                "device", "warnings", "timings_ms"):
        assert key in g and key in b
    assert g["status"] == "ok" and g["error"] == ""
    assert set(g["probabilities"]) == {"normal", "osteopenia", "osteoporosis"}
    assert g["model"]["sha256"] == tiny_bundle.config.sha256 and g["device"] == "cpu"
    assert g["timings_ms"]["total"] > 0
    assert b["status"] == "error" and "bad.dcm" in b["error"] and b["probabilities"] is None
    assert "Traceback" not in err


def test_out_writes_film_overlay_json_without_touching_sources(tmp_path, tiny_bundle, capsys):
    src = write_png(tmp_path / "knee.png", (200, 160))
    before = src.read_bytes()
    out = tmp_path / "out"
    rc, _, _ = run_cli(capsys, src, "--out", out, "--bundle", tiny_bundle.path, "-q")
    assert rc == 0
    film = cv2.imread(str(out / "knee_film.png"), cv2.IMREAD_UNCHANGED)
    overlay = cv2.imread(str(out / "knee_overlay.png"), cv2.IMREAD_UNCHANGED)
    assert film.shape == (200, 160)
    assert overlay.shape[0] == 200 and overlay.shape[1] > 160 and overlay.shape[2] == 3  # colour bar panel
    # the displayed film of an 8-bit PNG is the PNG itself (no contrast stretch)
    assert np.array_equal(film, cv2.imread(str(src), cv2.IMREAD_GRAYSCALE))
    rec = json.loads((out / "knee.json").read_text())
    assert rec["status"] == "ok" and rec["gradcam"] in ("ok", "empty")
    assert src.read_bytes() == before
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))


def test_same_stem_in_two_folders_gets_two_outputs(tmp_path, tiny_bundle, capsys):
    a = write_png(tmp_path / "a" / "film.png", seed=1)
    b = write_png(tmp_path / "b" / "film.png", seed=2)
    rc, _, _ = run_cli(capsys, a, b, "--out", tmp_path / "out", "--bundle", tiny_bundle.path, "-q")
    assert rc == 0
    assert (tmp_path / "out" / "film.json").exists() and (tmp_path / "out" / "film_2.json").exists()


def test_output_never_overwrites_a_source_film(tmp_path, tiny_bundle, capsys):
    folder = tmp_path / "films"
    write_png(folder / "x.png", seed=1)
    victim = write_png(folder / "x_film.png", seed=2)
    before = victim.read_bytes()
    rc, objs, _ = run_cli(capsys, folder / "x.png", victim, "--out", folder, "--json", "--bundle", tiny_bundle.path)
    assert victim.read_bytes() == before
    assert rc == 1
    failed = [o for o in objs if o["status"] == "error"]
    assert failed and "source film" in failed[0]["error"]


def test_no_bundle_is_said_clearly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OSTEO_BUNDLE", str(tmp_path / "none"))
    src = write_png(tmp_path / "k.png")
    rc, objs, err = run_cli(capsys, src, "--json")
    assert rc == 3 and objs == []
    assert "bundle" in err.lower() and "Traceback" not in err


def test_nothing_to_screen_is_a_usage_error(tmp_path, tiny_bundle, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    rc, objs, err = run_cli(capsys, tmp_path, "--bundle", tiny_bundle.path)
    assert rc == 2 and "no films" in err


@pytest.mark.slow
def test_installed_console_script_runs(tmp_path, tiny_bundle):
    src = write_png(tmp_path / "k.png")
    exe = Path(sys.executable).with_name("osteo-screen")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    r = subprocess.run([str(exe), str(src), "--json", "--bundle", str(tiny_bundle.path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["status"] == "ok"


@pytest.mark.slow
def test_pdf_and_dicom_outputs_from_the_cli(tmp_path, tiny_bundle, capsys):
    import pydicom

    demo = REPO / "resources" / "demo" / "knee_demo.dcm"
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, demo, "--out", out, "--pdf", "--dicom-sr", "--dicom-sc", "--bundle", tiny_bundle.path, "-q")
    assert rc == 0, err
    pdfs = list(out.glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF")
    srs, scs = list(out.glob("*_SR.dcm")), list(out.glob("*_SC.dcm"))
    assert len(srs) == 1 and len(scs) == 1
    src = pydicom.dcmread(demo, stop_before_pixels=True)
    assert pydicom.dcmread(srs[0]).StudyInstanceUID == src.StudyInstanceUID
    # a second run must not overwrite the report without --force
    rc2, _, err2 = run_cli(capsys, demo, "--out", out, "--pdf", "--bundle", tiny_bundle.path, "-q")
    assert rc2 == 1 and "--force" in err2


def test_anonymize_is_for_pdf_only(tmp_path, tiny_bundle, capsys):
    demo = REPO / "resources" / "demo" / "knee_demo.dcm"
    rc, _, err = run_cli(capsys, demo, "--out", tmp_path, "--pdf", "--anonymize", "--dicom-sr", "--bundle", tiny_bundle.path)
    assert rc == 2 and "anonymize" in err


def test_decoder_tracebacks_do_not_reach_the_user(tmp_path, tiny_bundle, capsys, dicom_samples):
    broken = dicom_samples / "pylibjpeg-data" / "JPEG2000Lossless" / "966.dcm"
    rc, objs, err = run_cli(capsys, broken, "--json", "--bundle", tiny_bundle.path)
    assert rc == 1 and objs[0]["status"] == "error" and "966.dcm" in objs[0]["error"]
    assert "Traceback" not in err and "RuntimeError" not in err


def test_threads_option_and_default_budget(tmp_path, tiny_bundle, capsys, monkeypatch):
    """`--threads N` sets the model's threads; without it, the viewer's rule (cores - 1, at least 1)."""
    import torch

    from osteo_desktop.core import threads

    before = torch.get_num_threads()
    src = write_png(tmp_path / "knee.png", (200, 160))
    try:
        rc, _, _ = run_cli(capsys, src, "--json", "--bundle", tiny_bundle.path, "--threads", "1")
        assert rc == 0 and torch.get_num_threads() == 1
        monkeypatch.setattr(threads, "available_cores", lambda: 3)
        rc, _, _ = run_cli(capsys, src, "--json", "--bundle", tiny_bundle.path)
        assert rc == 0 and torch.get_num_threads() == 2
        with pytest.raises(SystemExit):
            main([str(src), "--threads", "-1"])
        assert "--threads" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)
