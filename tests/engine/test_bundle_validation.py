"""Finding 7 of issue 12: tampered configs must be refused ("bundle invalid", exit status 3) by
osteo-screen and by --self-test, instead of running with exit 0 and wrong results."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from osteo_desktop.core.bundle import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, BundleConfig, read_bundle
from osteo_desktop.core.errors import BundleError

TAMPERS = {
    "temperature_nan": lambda c: c.update(temperature=float("nan")),
    "temperature_inf": lambda c: c.update(temperature=float("inf")),
    "std_zero": lambda c: c["preprocessing"].update(std=[0.229, 0.0, 0.225]),
    "low_bmd_empty": lambda c: c.update(low_bmd_classes=[]),
    "duplicate_classes": lambda c: c.update(class_names=["normal", "osteoporosis", "osteoporosis"],
                                            low_bmd_classes=["osteoporosis"]),
    "huge_input": lambda c: c["preprocessing"].update(input_size=[20000, 20000]),
    "junk_kwargs_pool": lambda c: c.update(model_kwargs={"global_pool": "nope"}),
    "junk_kwargs_type": lambda c: c.update(model_kwargs={"drop_rate": "x"}),
    "unknown_kwarg": lambda c: c.update(model_kwargs={"block_args": [[1, 2]]}),
    "all_classes_low": lambda c: c.update(low_bmd_classes=["normal", "osteopenia", "osteoporosis"]),
}


def tampered_bundle(src: Path, dst: Path, tamper) -> Path:
    dst.mkdir(parents=True)
    os.symlink(src / WEIGHTS_FILE, dst / WEIGHTS_FILE)  # the weights (and their sha256) stay valid
    shutil.copy(src / CARD_FILE, dst / CARD_FILE)
    cfg = json.loads((src / CONFIG_FILE).read_text())
    tamper(cfg)
    (dst / CONFIG_FILE).write_text(json.dumps(cfg))  # NaN/Infinity as Python's json writes them
    return dst


@pytest.fixture
def film(tmp_path) -> Path:
    img = (np.random.default_rng(0).random((200, 160)) * 200).astype(np.uint8)
    path = tmp_path / "knee.png"
    cv2.imwrite(str(path), img)
    return path


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_config_is_refused_by_osteo_screen(name, tiny_bundle, tmp_path, film, capsys):
    from osteo_desktop.cli.screen import main

    bundle = tampered_bundle(tiny_bundle.path, tmp_path / "bundle", TAMPERS[name])
    rc = main([str(film), "--json", "--bundle", str(bundle), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 3, (out, err)
    assert out.strip() == ""  # no film was screened with it
    assert "bundle invalid" in err and "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize("name", ["low_bmd_empty", "temperature_nan", "junk_kwargs_pool"])
def test_tampered_config_fails_the_self_test(name, tiny_bundle, tmp_path, capsys):
    from osteo_desktop.selftest import main

    bundle = tampered_bundle(tiny_bundle.path, tmp_path / "bundle", TAMPERS[name])
    rc = main(["--bundle", str(bundle), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 3 and "bundle invalid" in (out + err)


def test_valid_bundles_still_load(tiny_bundle):
    assert read_bundle(tiny_bundle.path).config.temperature == 1.0


@pytest.mark.parametrize("raw", [
    {"class_names": "abc"},
    {"preprocessing": {"input_size": "512"}},
    {"threshold": {"value": "0.5"}},
    {"name": ""},
])
def test_malformed_values_are_bundle_errors(raw):
    base = {"name": "x", "version": "1", "architecture": "efficientnet_b0"}
    with pytest.raises(BundleError, match="bundle invalid"):
        BundleConfig.from_dict({**base, **raw})


def test_training_never_writes_a_bundle_the_app_refuses(tmp_path):
    from osteo_desktop.core.bundle import write_bundle

    cfg = BundleConfig(name="x", version="1", architecture="efficientnet_b0", temperature=float("inf"))
    with pytest.raises(BundleError, match="temperature"):
        write_bundle(tmp_path / "b", {}, cfg, "# card\n")
    assert not (tmp_path / "b" / WEIGHTS_FILE).exists()
