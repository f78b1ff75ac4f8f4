import json

import pytest

from osteo_desktop.core.bundle import BundleConfig, read_bundle, sha256_file
from osteo_desktop.core.errors import BundleError, BundleIntegrityError, NoBundleError
from osteo_desktop.core.model import load_model
from tests.conftest import make_bundle


def test_written_bundle_reads_back_with_its_config(tiny_bundle):
    b = read_bundle(tiny_bundle.path)
    assert b.config.sha256 == sha256_file(b.weights_path)
    assert b.config.class_names == ("normal", "osteopenia", "osteoporosis")
    assert b.config.preprocessing.input_size == (128, 128)
    assert b.card_path.is_file()
    cfg = json.loads((b.path / "config.json").read_text())
    assert cfg["weights_file"] == "model.safetensors"
    assert cfg["threshold"]["goal"] == "test threshold"


def test_tampered_weights_are_refused(tmp_path):
    b = make_bundle(tmp_path / "b")
    data = bytearray(b.weights_path.read_bytes())
    data[-1] ^= 0xFF
    b.weights_path.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError) as e:
        read_bundle(b.path)
    assert "model.safetensors" in str(e.value) and "reinstall" in str(e.value).lower()


def test_missing_sha_is_refused(tmp_path):
    b = make_bundle(tmp_path / "b")
    cfg = json.loads((b.path / "config.json").read_text())
    cfg["sha256"] = ""
    (b.path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleIntegrityError):
        read_bundle(b.path)


def test_folder_without_config_is_no_bundle(tmp_path):
    with pytest.raises(NoBundleError) as e:
        read_bundle(tmp_path)
    assert str(tmp_path) in str(e.value)


def test_no_default_bundle_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setenv("OSTEO_BUNDLE", str(tmp_path / "nowhere"))
    with pytest.raises(NoBundleError) as e:
        read_bundle(None)
    assert "config.json" in str(e.value)


def test_bad_config_values_are_rejected():
    base = {"name": "x", "version": "1", "architecture": "efficientnet_b0"}
    with pytest.raises(BundleError):
        BundleConfig.from_dict({**base, "threshold": {"value": 1.5}})
    with pytest.raises(BundleError):
        BundleConfig.from_dict({**base, "low_bmd_classes": ["osteoporosis", "fracture"]})
    with pytest.raises(BundleError):
        BundleConfig.from_dict({"name": "x"})


def test_weights_of_another_architecture_are_refused(tmp_path):
    b = make_bundle(tmp_path / "b")
    cfg = json.loads((b.path / "config.json").read_text())
    cfg["architecture"] = "resnet18"
    (b.path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError) as e:
        load_model(read_bundle(b.path))
    assert "resnet18" in str(e.value)


def test_loader_never_unpickles():
    import inspect

    import osteo_desktop.core.bundle as bundle_mod
    import osteo_desktop.core.model as model_mod

    for mod in (bundle_mod, model_mod):
        src = inspect.getsource(mod)
        assert "torch." + "load(" not in src and "import pickle" not in src


def test_the_papers_custom_cnn_bundle_loads_in_the_app(tmp_path):
    b = make_bundle(tmp_path / "cnn", architecture="osteo_cnn")
    model = load_model(read_bundle(b.path))
    assert type(model).__name__ == "OsteoCNN"


def test_identical_weights_give_identical_checksums(tmp_path):
    a = make_bundle(tmp_path / "a", seed=5)
    b = make_bundle(tmp_path / "b", seed=5)
    assert a.config.sha256 == b.config.sha256


def _with(b, **changes):
    cfg = json.loads((b.path / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    (b.path / "config.json").write_text(json.dumps(cfg))
    return b.path


def test_format_versions_1_and_2_are_read_others_refused(tmp_path):
    b = make_bundle(tmp_path / "b")
    assert json.loads((b.path / "config.json").read_text())["format_version"] == 1
    assert read_bundle(b.path).config.format_version == 1
    assert read_bundle(_with(b, format_version=2)).config.format_version == 2
    assert read_bundle(_with(b, format_version=None)).config.format_version == 1  # from before the key
    for bad in (3, 0, "2", True, 1.5):
        with pytest.raises(BundleError, match=r"format_version .* is not one this osteo-desktop .* reads \(1, 2\)\. Update"):
            read_bundle(_with(b, format_version=bad))


def test_new_bundles_record_the_torch_and_timm_they_were_trained_with(tmp_path):
    import timm
    import torch

    b = make_bundle(tmp_path / "b")
    cfg = json.loads((b.path / "config.json").read_text())
    assert cfg["trained_with"] == {"torch": torch.__version__, "timm": timm.__version__}
    assert read_bundle(b.path).config.trained_with == cfg["trained_with"]
    assert "trained_with" not in read_bundle(b.path).config.extra


def test_the_shipped_bundle_is_unchanged_and_still_reads():
    """The shipped weights read, verify, and are the format-2 bundle of the model card (2.0.0)."""
    from osteo_desktop.core.bundle import default_bundle_dir

    folder = default_bundle_dir()
    if folder is None:
        pytest.skip("no bundle shipped in this checkout")
    b = read_bundle(folder)  # verifies the sha256 recorded in config.json
    assert b.config.format_version == 2 and b.config.sha256 == sha256_file(b.weights_path)
    assert b.config.version == "2.0.0" and b.config.architecture == "osteo_pooled_linear"
    assert set(b.config.trained_with) == {"torch", "timm"}
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"osteo-effnet {b.config.version}" in card


def test_loading_a_bundle_from_other_versions_says_so(tmp_path, caplog):
    b = make_bundle(tmp_path / "b")
    load_model(read_bundle(b.path))
    assert "was trained with" not in caplog.text
    _with(b, trained_with={"torch": "1.13.1", "timm": "0.9.2"})
    load_model(read_bundle(b.path))
    assert "was trained with timm 0.9.2" in caplog.text and "was trained with torch 1.13.1" in caplog.text
