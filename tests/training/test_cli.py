from __future__ import annotations

import shutil

import pytest

from training.cli import main

from .conftest import tiny_overrides


def test_audit_command_exit_codes(synth_data, tmp_path, capsys):
    assert main(["audit", *map(str, synth_data), "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "audit.md").is_file()
    root = tmp_path / "d"
    shutil.copytree(synth_data[0].parent.parent, root)
    shutil.copy(root / "knee" / "images" / "K001.png", root / "knee" / "images" / "K999.png")
    with open(root / "knee" / "manifest.csv", "a") as f:
        f.write("images/K999.png,K999,K999,osteoporosis,,,,\n")
    assert main(["audit", str(root / "knee" / "manifest.csv")]) == 1
    assert "label_conflict" in capsys.readouterr().out


def test_train_command_errors_are_clean(synth_data, tmp_path):
    sets = [a for s in tiny_overrides(synth_data) for a in ("--set", s)]
    assert main(["train", "paper_cnn", "--device", "cpu", *sets, "--set", "train.epoks=2", "--out", str(tmp_path / "x")]) == 2
    bad = tmp_path / "knee" / "manifest.csv"
    bad.parent.mkdir()
    bad.write_text("file,patient_id,label\nnope.png,P1,normal\n")
    assert main(["train", "paper_cnn", "--device", "cpu", *sets, "--manifest", str(bad), "--out", str(tmp_path / "y")]) == 1
    assert main(["configs"]) == 0


@pytest.mark.slow
def test_train_and_export_commands(synth_data, tmp_path, capsys):
    overrides = tiny_overrides(synth_data, "final.fit=false", "train.num_workers=2", "train.epochs=1", "augment.enabled=true")
    sets = [a for s in overrides for a in ("--set", s)]
    out = tmp_path / "run"
    assert main(["train", "paper_cnn", "--device", "cpu", *sets, "--out", str(out)]) == 0
    assert not (out / "bundle").exists()
    assert main(["export", str(out), "--device", "cpu", "--name", "osteo-test", "--version", "9.9.9", "--out", str(tmp_path / "b")]) == 0
    from osteo_desktop.core.bundle import read_bundle

    b = read_bundle(tmp_path / "b")
    assert (b.config.name, b.config.version) == ("osteo-test", "9.9.9")
    assert "low-BMD AUC" in capsys.readouterr().out


def test_ablation_command_writes_the_table(synth_data, tmp_path, capsys):
    sets = [a for s in tiny_overrides(synth_data, "train.epochs=1") for a in ("--set", s)]
    out = tmp_path / "abl"
    assert main(["ablation", "--configs", "paper_cnn", "paper_cnn_aug", "--device", "cpu", *sets, "--out", str(out)]) == 0
    md = (out / "ablation.md").read_text()
    assert "| paper_cnn |" in md and "| paper_cnn_aug |" in md and "Majority-class accuracy" in md
    assert (out / "ablation.csv").is_file() and not (out / "paper_cnn" / "bundle").exists()
