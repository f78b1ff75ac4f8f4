"""`osteo-train probe` end to end on synthetic films with a tiny random backbone: ablation, three scores,
guard, bundle format 2 read back by the core. Plus the pieces: guard groups, Mahalanobis, age range."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from osteo_desktop.core.bundle import read_bundle
from osteo_desktop.core.model import load_model
from osteo_desktop.core.preprocessing import preprocess_image
from osteo_desktop.core.probe import GUARD_CLASSES, split_output
from training.embeddings import display_image
from training.guard import fit_ood, screened
from training.probe_ablation import FeatureSet, select
from training.probe_data import group_other, read_other
from training.probe_run import ProbeOptions, run_probe, validated_age_range

from .conftest import make_synthetic

ARCH = "test_efficientnet"


def _other(root: Path, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    d = root / "other" / "images"
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    kinds = [("spine_full", 6), ("nonradiograph", 6), ("chest", 6), ("hand", 5)]
    for anat, n in kinds:
        for i in range(n):
            if anat == "hand" and i == 4:  # a mirrored copy of hand 0: must share its group
                img = cv2.imread(str(d / "hand_0.png"), cv2.IMREAD_GRAYSCALE)[:, ::-1]
            else:
                base = cv2.resize(rng.random((4, 4)).astype(np.float32), (56, 72), interpolation=cv2.INTER_CUBIC)
                stripes = (np.indices((72, 56))[0] // (3 + kinds.index((anat, n))) % 2) * 0.3
                img = np.clip((base * 0.6 + stripes) * 255, 0, 255).astype(np.uint8)
            cv2.imwrite(str(d / f"{anat}_{i}.png"), img)
            notes = f"patient_id=c{i // 2}; test" if anat == "chest" else ""
            rows.append({"file": f"images/{anat}_{i}.png", "anatomy": anat, "view": "", "modality": "", "source_repo": "synthetic",
                         "source_path": "", "licence": "CC0", "notes": notes})
    m = root / "other" / "manifest.csv"
    with open(m, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return m


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    make_synthetic(root / "data", per_class=5, size=64)
    _other(root / "data")
    grid = [FeatureSet("T-64", "random:0", 64, architecture=ARCH),
            FeatureSet("T-64-half+band-tta", "random:0", 64, ("half", "band"), tta=True, architecture=ARCH)]
    opt = ProbeOptions(data_root=root / "data", cache_dir=root / "cache", out_dir=root / "run", bundle_out=root / "bundle",
                       docs_out=root / "docs", grid=grid, seeds=(42, 7), Cs=(1e-3, 1e-1), inner_folds=3, n_boot=40, threads=1,
                       version="2.0.0-test", verify_films=3, command="test")
    return opt, run_probe(opt)


@pytest.mark.slow
def test_ablation_rows_winner_and_optimism(probe_run):
    opt, res = probe_run
    ab = res["ablation"]
    assert {r["row"] for r in ab["rows"]} == {f"{g} / {m}" for g in ("T-64", "T-64-half+band-tta") for m in ("per_anatomy", "joint")}
    assert ab["winner"] in {r["row"] for r in ab["rows"]}
    assert len(ab["optimism"]["picks_per_outer_fold"]) == 5
    assert all(set(r["auc_mean_repeats"]) == {"knee", "spine"} for r in ab["rows"])
    assert (opt.out_dir / "ablation.md").read_text().count("|") > 20


@pytest.mark.slow
def test_three_scores_for_knee_image_only_for_spine(probe_run):
    _, res = probe_run
    knee, spine = res["scores"]["knee"], res["scores"]["spine"]
    assert {"clinical", "image", "combined", "age_only"} <= set(knee)
    for k in ("clinical", "image", "combined"):
        m = knee[k]
        assert 0 <= m["auc"] <= 1 and 0 <= m["threshold"] <= 1 and m["sensitivity"] >= 0.9
    assert "value" in knee["combined"]["minus_clinical_auc"]
    assert "clinical" not in spine and "no age or sex" in spine["clinical_inputs"]
    assert set(knee["image"]["age_band_auc"]) == {"<40", "40-49", "<50", ">=50"}


@pytest.mark.slow
def test_guard_and_ood_numbers(probe_run):
    _, res = probe_run
    g = res["guard"]
    assert set(g["per_class_recall"]) == set(GUARD_CLASSES)
    assert np.array(g["confusion"]).sum() == g["n_films"] == 15 + 30 + 23
    assert 0 <= g["acceptance"]["other_not_screened"]["value"] <= 1
    o = res["ood"]
    assert o["threshold_d2"] > 0 and 0 <= o["screenable_flagged"] <= 0.1


@pytest.mark.slow
def test_bundle_format_2_reads_back_and_matches(probe_run):
    opt, res = probe_run
    b = read_bundle(opt.bundle_out)
    cfg = json.loads((opt.bundle_out / "config.json").read_text())
    assert cfg["format_version"] == 2 and cfg["architecture"] == "osteo_pooled_linear" and cfg["version"] == "2.0.0-test"
    assert cfg["guard"]["classes"] == list(GUARD_CLASSES) and cfg["model_kwargs"]["guard_classes"] == list(GUARD_CLASSES)
    assert cfg["gradcam_layer"] == "backbone.bn2" and cfg["ood"]["dims"] == 32
    assert set(cfg["screening"]) == {"knee", "spine"} and set(cfg["screening"]["knee"]) == {"image", "clinical", "combined"}
    assert cfg["screening"]["knee"]["combined"]["model"]["features"] == ["image_logit", "age", "sex_female"]
    assert cfg["age_range"]["min"] >= 18
    assert res["bundle"]["sha256"] == b.config.sha256 and res["bundle"]["max_abs_output_diff"] < 1e-2
    card = (opt.bundle_out / "MODEL_CARD.md").read_text()
    assert "clinical-only" in card and "image-only" in card and "combined" in card and "osteo-train probe" in card
    m = load_model(b)
    x = preprocess_image(display_image(opt.data_root / "knee" / "images" / "K001.png"), b.config.preprocessing)[0]
    out = m(torch.from_numpy(x[None]))
    parts = split_output(out, cfg["guard"]["classes"], cfg["model_kwargs"]["anatomies"])
    assert parts["heads"]["knee"].shape == (1, 3) and float(parts["ood_d2"][0].detach()) >= 0
    for f in ("results.json", "ablation.md", "ablation.csv", "report.md", "MODEL_CARD.md"):
        assert (opt.docs_out / f).is_file()


def test_other_groups_keep_patients_and_mirrored_copies_together(tmp_path):
    m = _other(tmp_path)
    rows = read_other(m)
    from training.data import phash

    hashes = []
    for p, _, _ in rows:
        img = display_image(p)
        hashes.append((phash(img), phash(img[:, ::-1])))
    groups = dict(zip([p.name for p, _, _ in rows], group_other(rows, hashes), strict=True))
    assert groups["hand_0.png"] == groups["hand_4.png"]
    assert groups["chest_0.png"] == groups["chest_1.png"] != groups["chest_2.png"]
    assert {g for p, g, _ in rows} == {"spine_film", "not_radiograph", "other_radiograph"}


def test_mahalanobis_equals_the_explicit_formula():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(80, 20)) @ rng.normal(size=(20, 20))
    m = fit_ood(Z, dims=5)
    mu = Z.mean(0)
    _, _, Vt = np.linalg.svd(Z - mu, full_matrices=False)
    s = (Z - mu) @ Vt[:5].T
    from sklearn.covariance import LedoitWolf

    cov = LedoitWolf().fit(s).covariance_
    explicit = np.einsum("ij,jk,ik->i", s, np.linalg.inv(cov), s)
    assert np.allclose(m.d2(Z), explicit, rtol=1e-6)
    assert m.whiten.shape == (20, 5)


def test_screened_rule():
    p = np.array([[0.9, 0.05, 0.02, 0.02, 0.01], [0.4, 0.3, 0.1, 0.1, 0.1], [0.1, 0.1, 0.6, 0.1, 0.1], [0.05, 0.55, 0.2, 0.1, 0.1]])
    assert screened(p).tolist() == [True, False, False, True]


def test_age_range_drops_children_and_isolated_oldest():
    r = validated_age_range(np.array([17, 23, 30, 45, 60, 76, 107.0]))
    assert r["min"] == 18 and r["max"] == 76 and r["isolated_oldest"] == [107.0] and r["younger_than_adult"] == [17.0]


def test_selection_rule_prefers_cheap_within_tolerance():
    assert select([("big", 0.80, 4.0), ("small", 0.795, 1.0), ("bad", 0.70, 0.5)], tolerance=0.01) == "small"
    assert select([("big", 0.80, 4.0), ("small", 0.78, 1.0)], tolerance=0.01) == "big"


def test_cli_rejects_an_unknown_feature_set(tmp_path, caplog):
    from training.cli import main

    rc = main(["probe", "--data-root", str(tmp_path), "--cache", str(tmp_path / "c"), "--only", "L9-999", "--no-bundle"])
    assert rc == 2
    assert "L9-999" in caplog.text
