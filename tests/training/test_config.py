from __future__ import annotations

import pytest

from training.config import DEFAULTS, apply_overrides, list_configs, load_config
from training.errors import ConfigError

PAPER = ("paper_cnn", "paper_cnn_aug", "paper_effnet", "paper_effnet_aug")


def test_dotted_overrides_are_parsed_as_yaml():
    cfg = apply_overrides(DEFAULTS, ["train.epochs=10", "preprocessing.input_size=[384, 256]", "train.lr=3e-4",
                                     "data.limit_per_class=null", "model.kwargs.widths=[4, 8]"])
    assert cfg["train"]["epochs"] == 10
    assert cfg["preprocessing"]["input_size"] == [384, 256]
    assert cfg["train"]["lr"] == pytest.approx(3e-4)
    assert cfg["data"]["limit_per_class"] is None
    assert cfg["model"]["kwargs"] == {"widths": [4, 8]}
    assert DEFAULTS["train"]["epochs"] == 5  # defaults untouched


@pytest.mark.parametrize("bad", ["train.epoks=3", "nosuch.key=1", "train.epochs", "train..epochs=1"])
def test_bad_overrides_are_errors(bad):
    with pytest.raises(ConfigError):
        load_config(None, [bad])


def test_invalid_values_are_errors():
    with pytest.raises(ConfigError, match="inner validation"):
        load_config(None, ["train.select=best"])
    with pytest.raises(ConfigError):
        load_config(None, ["train.scheduler=linear"])
    with pytest.raises(ConfigError):
        load_config(None, ["cv.folds=1"])


def test_paper_configs_are_the_paper_recipe():
    assert set(PAPER) <= set(list_configs())
    for name in PAPER:
        cfg = load_config(name)
        t = cfg["train"]
        assert (t["epochs"], t["batch_size"], t["optimizer"], t["lr"], t["weight_decay"]) == (5, 32, "adam", 1e-4, 1e-5)
        assert cfg["preprocessing"]["input_size"] == [512, 512]
        assert cfg["cv"]["folds"] == 5
        assert t["select"] == "last" and t["inner_val_fraction"] == 0  # no selection on the reported fold
        aug = cfg["augment"]
        assert aug["enabled"] == name.endswith("_aug")
        if aug["enabled"]:
            assert (aug["rotation_deg"], aug["hflip"], aug["brightness"]) == (15, True, 0.2)
        if "cnn" in name:
            assert cfg["model"]["architecture"] == "osteo_cnn"
            assert cfg["preprocessing"]["mean"] == [0.0, 0.0, 0.0] and cfg["preprocessing"]["std"] == [1.0, 1.0, 1.0]
        else:
            assert cfg["model"]["architecture"] == "efficientnet_b0"
            assert cfg["model"]["pretrained_fallback"] == "lite0-package"
        assert all(m.endswith("manifest.csv") for m in cfg["data"]["manifests"])


def test_all_bundled_configs_load():
    for name in list_configs():
        load_config(name)
