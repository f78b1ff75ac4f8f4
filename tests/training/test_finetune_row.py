"""The GPU fine-tuning row joins the probe's ablation with the probe's own criterion."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from training.finetune_row import read_finetune_runs, write_finetune_row

REPO = Path(__file__).resolve().parents[2]
PROBE_DOCS = REPO / "docs" / "evaluation" / "probe_v2"


def _run(folder: Path, seed: int, knee: float, spine: float) -> None:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"name: finetune_512\nseed: {seed}\n")
    metrics = {a: {"auc_low_bmd": v, "ci95": {"auc_low_bmd": [v - 0.1, v + 0.1]}} for a, v in (("knee", knee), ("spine", spine))}
    (folder / "results.json").write_text(json.dumps({
        "name": "finetune_512", "preprocessing": {"input_size": [512, 512]}, "environment": {"device": "cuda"},
        "seconds_cv": 90.0, "cv": {"metrics": {"overall": {}, **metrics}}}))


def test_rows_per_seed_and_the_criterion(tmp_path):
    _run(tmp_path / "s7", 7, 0.50, 0.70)
    _run(tmp_path / "s42", 42, 0.60, 0.80)
    row = read_finetune_runs(tmp_path)
    assert row is not None and row["seeds"] == [42, 7]  # the primary split first
    assert row["auc_mean_repeats"] == pytest.approx({"knee": 0.55, "spine": 0.75})
    assert row["criterion"] == pytest.approx(0.65)
    assert read_finetune_runs(tmp_path / "nothing") is None


def test_the_row_is_written_into_the_probe_reports(tmp_path):
    if not (PROBE_DOCS / "results.json").is_file():
        pytest.skip("no probe results in this checkout")
    docs = tmp_path / "probe"
    shutil.copytree(PROBE_DOCS, docs)
    res = json.loads((docs / "results.json").read_text())
    res["ablation"].pop("finetuned_512", None)
    (docs / "results.json").write_text(json.dumps(res))
    runs = tmp_path / "runs"
    _run(runs / "s42", 42, 0.61, 0.62)
    write_finetune_row(runs, docs)
    ab = json.loads((docs / "results.json").read_text())["ablation"]
    assert ab["finetuned_512"]["criterion"] == pytest.approx(0.615)
    md = (docs / "ablation.md").read_text()
    assert "Fine-tuning row at 512 px" in md and "split 42: knee 0.61" in md and "criterion 0.615" in md
    assert "No fine-tuning row at 384/512 px was run" not in md
    assert "criterion 0.615" in (runs / "README.md").read_text()


def test_without_runs_it_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="device_v2.sh"):
        write_finetune_row(tmp_path, PROBE_DOCS)
