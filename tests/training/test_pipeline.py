"""The whole pipeline on tiny synthetic data: train -> bundle the core accepts -> same predictions; resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from osteo_desktop.core.bundle import read_bundle
from osteo_desktop.core.model import load_model
from osteo_desktop.core.preprocessing import preprocess_image
from training.config import load_config
from training.data import load_display_image
from training.errors import Interrupted
from training.run import train_run

from .conftest import tiny_overrides


@pytest.fixture(scope="module")
def full_run(synth_data, tmp_path_factory):
    cfg = load_config(None, tiny_overrides(synth_data))
    run_dir = tmp_path_factory.mktemp("run") / "r"
    return train_run(cfg, run_dir, device="cpu"), run_dir, cfg


@pytest.mark.slow
def test_run_folder_has_everything(full_run):
    res, run_dir, _ = full_run
    for name in ("config.yaml", "train.log", "audit.md", "splits.csv", "metrics.csv", "oof_predictions.csv", "results.json",
                 "report.md", "plots/roc.png", "plots/confusion.png", "plots/reliability.png", "plots/curves.png",
                 "bundle/model.safetensors", "bundle/config.json", "bundle/MODEL_CARD.md", "final/model.safetensors"):
        assert (run_dir / name).is_file(), name
    cv = res["cv"]
    # the synthetic signal is learnable: out-of-fold predictions beat chance
    assert cv["metrics"]["overall"]["auc_low_bmd"] > 0.7
    assert set(cv["metrics"]) == {"overall", "knee", "spine"}
    assert cv["metrics"]["knee"]["age_baseline"]["auc_age"] > 0.9 and cv["metrics"]["spine"]["age_baseline"] is None
    assert cv["operating_point"]["sensitivity"] >= 0.9
    rows = open(run_dir / "oof_predictions.csv").read().splitlines()
    assert len(rows) == 1 + res["data"]["images"]
    assert "Age-only baseline" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_bundle_is_accepted_by_the_core_and_predicts_like_training(full_run):
    res, run_dir, _ = full_run
    bundle = read_bundle(run_dir / "bundle")  # verifies the sha256
    cfg = bundle.config
    assert cfg.architecture == "osteo_cnn" and cfg.model_kwargs["widths"] == [6, 12]
    assert cfg.threshold == pytest.approx(res["cv"]["operating_point"]["threshold"])
    assert cfg.temperature == pytest.approx(res["cv"]["temperature"])
    assert "sensitivity >= 0.90" in cfg.threshold_goal
    card = (run_dir / "bundle" / "MODEL_CARD.md").read_text()
    for phrase in ("refer", "cannot rule out", "not a diagnosis", "QUS", "licence", "Age-only baseline", "ablation"):
        assert phrase.lower() in card.lower(), phrase
    assert f"{res['cv']['metrics']['overall']['auc_low_bmd']:.2f}" in card  # numbers come from the run
    model = load_model(bundle)
    # the training-time final model, on films read and preprocessed the application's way
    from osteo_desktop.core.architectures import OsteoCNN
    from training.engine import load_weights

    ref = OsteoCNN(num_classes=3, **cfg.model_kwargs)
    ref.load_state_dict(load_weights(run_dir / "final" / "model.safetensors"))
    ref.eval()
    oof = [ln.split(",") for ln in open(run_dir / "oof_predictions.csv").read().splitlines()[1:4]]
    manifests = {a: p for a, p in zip(("knee", "spine"), json.loads(json.dumps(res["data"]["sources"])), strict=False)}
    from pathlib import Path

    films = [Path(manifests[r[0]]).parent / "images" / f"{r[1]}.png" for r in oof]
    x = torch.from_numpy(np.stack([preprocess_image(load_display_image(f), cfg.preprocessing)[0] for f in films]))
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), ref(x).numpy(), atol=1e-5)
    assert res["bundle"]["max_abs_logit_diff_core_vs_training"] < 1e-4


@pytest.mark.slow
def test_resume_gives_the_same_result(full_run, tmp_path):
    res, _, cfg = full_run
    run_dir = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        train_run(cfg, run_dir, device="cpu", stop_after_epochs=4)  # dies in fold 1, epoch 1
    assert (run_dir / "folds" / "fold0" / "done.json").is_file()
    assert json.loads((run_dir / "folds" / "fold1" / "last.json").read_text())["epoch"] == 1
    with pytest.raises(Exception, match="already holds a run"):
        train_run(cfg, run_dir, device="cpu")
    train_run(None, run_dir, device="cpu", resume=True)
    a = np.loadtxt(tmp_path / "resumed" / "oof_predictions.csv", delimiter=",", skiprows=1, usecols=(7, 8, 9))
    b = np.loadtxt(res["run_dir"] + "/oof_predictions.csv", delimiter=",", skiprows=1, usecols=(7, 8, 9))
    np.testing.assert_allclose(a, b, atol=1e-5)
    # same final weights (the bundle's sha256 can differ: safetensors may order its header's metadata differently)
    from training.engine import load_weights

    wa = load_weights(run_dir / "bundle" / "model.safetensors")
    wb = load_weights(__import__("pathlib").Path(res["run_dir"]) / "bundle" / "model.safetensors")
    assert sorted(wa) == sorted(wb) and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_select_best_with_inner_validation_and_aux_head(synth_data, tmp_path):
    cfg = load_config(None, tiny_overrides(synth_data, "train.inner_val_fraction=0.25", "train.select=best", "train.epochs=3",
                                           "train.early_stopping_patience=2", "train.aux_tscore_weight=0.5", "train.scheduler=cosine",
                                           "train.class_weights=balanced", "train.sampler=balanced", "train.tta_hflip=true",
                                           "augment.crop_scale=[0.8,1.0]", "augment.contrast=0.1"))
    res = train_run(cfg, tmp_path / "r", device="cpu")
    folds = res["cv"]["fold_details"]
    assert all(1 <= f["best_epoch"] <= f["epochs_run"] and f["n_val"] > 0 for f in folds)
    assert res["final"]["epochs"] == max(1, int(round(float(np.median([f["best_epoch"] for f in folds])))))
    b = read_bundle(tmp_path / "r" / "bundle")
    load_model(b)  # no auxiliary-head keys leak into the bundle


@pytest.mark.slow
def test_timm_architecture_end_to_end_without_cv(synth_data, tmp_path):
    """A timm architecture with the Lite0 ImageNet start, final fit only (cv.folds=0), bundle loads in the core."""
    cfg = load_config(None, tiny_overrides(synth_data[:1], "model.architecture=tf_efficientnet_lite0", "model.pretrained=lite0-package",
                                           "model.kwargs={}", "preprocessing.mean=auto", "preprocessing.std=auto",
                                           "cv.folds=0", "train.epochs=1", "train.lr=1e-4", "data.limit_per_class=1"))
    res = train_run(cfg, tmp_path / "r", device="cpu")
    b = read_bundle(tmp_path / "r" / "bundle")
    assert b.config.architecture == "tf_efficientnet_lite0" and b.config.preprocessing.mean == (0.5, 0.5, 0.5)
    assert b.config.threshold == 0.5 and "not tuned" in b.config.threshold_goal
    assert res["cv"] is None
    load_model(b)
