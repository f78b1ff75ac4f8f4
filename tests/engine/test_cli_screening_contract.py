"""The JSON contract of `osteo-screen` for films that are not screened, and the clinical inputs."""

from __future__ import annotations

import json

import pytest

from tests.engine.guarded_bundle import make_guarded_bundle
from tests.engine.test_cli import run_cli, write_png

ROW_KEYS = {"file", "status", "error", "decision", "not_screened_reason", "eligibility", "probabilities",
            "low_bmd_score", "score_basis", "threshold", "model", "device", "warnings", "timings_ms"}


@pytest.fixture(scope="module")
def chest_bundle(tmp_path_factory):
    return make_guarded_bundle(tmp_path_factory.mktemp("chest"), looks_like="other_radiograph")


@pytest.fixture(scope="module")
def knee_bundle(tmp_path_factory):
    return make_guarded_bundle(tmp_path_factory.mktemp("knee"), looks_like="knee", head_bias={"knee": [-4.0, 2.0, 2.0]})


def test_a_film_that_is_not_screened_is_an_ok_row_with_null_scores(tmp_path, chest_bundle, capsys):
    png = write_png(tmp_path / "chest.png")
    rc, (row,), err = run_cli(capsys, png, "--json", "--bundle", chest_bundle.path, "--device", "cpu")
    assert rc == 0 and ROW_KEYS <= set(row)
    assert row["status"] == "ok" and row["decision"] == "not_screened"
    assert row["probabilities"] is None and row["low_bmd_score"] is None and row["score_basis"] is None
    assert "another body part" in row["not_screened_reason"]
    assert row["eligibility"]["by"] == "image" and row["eligibility"]["anatomy"] == "other_radiograph"
    assert 0.9 < row["eligibility"]["confidence"] <= 1.0
    assert row["referral_recommended"] is False


def test_out_writes_the_film_and_json_but_no_overlay_for_a_film_not_screened(tmp_path, chest_bundle, capsys):
    png = write_png(tmp_path / "chest.png")
    out = tmp_path / "out"
    rc, _, _ = run_cli(capsys, png, "--out", out, "--bundle", chest_bundle.path, "-q")
    assert rc == 0
    assert (out / "chest_film.png").is_file() and (out / "chest.json").is_file()
    assert not (out / "chest_overlay.png").exists()
    saved = json.loads((out / "chest.json").read_text())
    assert saved["decision"] == "not_screened" and saved["outputs"] == [str(out / "chest_film.png"), str(out / "chest.json")]


def test_terminal_line_says_not_screened_and_why(tmp_path, chest_bundle, capsys):
    png = write_png(tmp_path / "chest.png")
    rc = __import__("osteo_desktop.cli.screen", fromlist=["main"]).main([str(png), "--bundle", str(chest_bundle.path)])
    out = capsys.readouterr().out
    assert rc == 0 and "chest.png: Not screened: The picture looks like a radiograph of another body part" in out


def test_clinical_csv_feeds_the_combined_score_and_says_where_values_came_from(tmp_path, knee_bundle, capsys):
    a, b = write_png(tmp_path / "a.png", seed=1), write_png(tmp_path / "b.png", seed=2)
    csv = tmp_path / "clin.csv"
    csv.write_text("file,age,sex,weight\na.png,71,F,58\n", encoding="utf-8")
    rc, rows, _ = run_cli(capsys, a, b, "--json", "--bundle", knee_bundle.path, "--clinical", csv)
    assert rc == 0
    by = {r["file"].rsplit("/", 1)[-1]: r for r in rows}
    assert by["a.png"]["score_basis"] == "combined" and by["a.png"]["validated"] is True
    assert by["a.png"]["clinical"]["age"] == {"value": 71.0, "source": "clinical file clin.csv"}
    assert by["a.png"]["clinical"]["ost_index"] == pytest.approx(-2.6)
    assert by["b.png"]["score_basis"] == "image" and by["b.png"]["clinical"]["age"] is None
    assert by["b.png"]["referral_recommended"] is False  # knee image alone is not validated


def test_an_unreadable_clinical_file_is_a_usage_error_before_the_model_loads(tmp_path, capsys):
    png = write_png(tmp_path / "a.png")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,years\nx,1\n")
    rc, rows, err = run_cli(capsys, png, "--json", "--bundle", tmp_path / "no-bundle-here", "--clinical", bad)
    assert rc == 2 and rows == [] and "bad.csv" in err and "header" in err


def test_clinic_lines_split_the_address():
    from osteo_desktop.core.reports import clinic_header_lines

    assert clinic_header_lines("Example Clinic", "1 Bone St; Springfield\nUK") == ["Example Clinic", "1 Bone St", "Springfield", "UK"]
    assert clinic_header_lines("", "") == []
