"""Shared fixtures: small model bundles built on the fly (tests never download weights)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DICOM_SAMPLES = SHARED / "dicom-samples"
DATA = SHARED / "data"


@pytest.fixture(autouse=True)
def _restore_logging_and_warnings():
    """Entry points called in-process (`main([...])`) configure the process: handlers on the stderr
    pytest captured (closed after the test: "I/O operation on closed file" on the next record),
    levels of the root and library loggers, warning filters. Put all of it back after each test."""
    def ours() -> list[logging.Handler]:  # pytest's own capturing handlers come and go per test phase
        return [h for h in root.handlers if not type(h).__module__.startswith("_pytest")]

    root = logging.getLogger()
    handlers, level = ours(), root.level
    levels = {name: lg.level for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    with warnings.catch_warnings():  # saves and restores the filters
        yield
    for h in ours():
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)
    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            lg.setLevel(levels.get(name, logging.NOTSET))


def make_bundle(folder: Path, *, architecture: str = "efficientnet_b0", input_size=(128, 128), seed: int = 0,
                threshold: float = 0.5, zero_head: bool = False, version: str = "0.0.1-test"):
    """Write a bundle with random (seeded) weights. `zero_head` zeroes the classifier (uniform output)."""
    import torch

    from osteo_desktop.core.bundle import BundleConfig, write_bundle
    from osteo_desktop.core.model import create_model
    from osteo_desktop.core.preprocessing import PreprocessConfig

    torch.manual_seed(seed)
    model = create_model(architecture, 3)
    if zero_head:
        with torch.no_grad():
            for p in model.get_classifier().parameters():
                p.zero_()
    cfg = BundleConfig(
        name="test-bundle",
        version=version,
        architecture=architecture,
        preprocessing=PreprocessConfig(input_size=tuple(input_size), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
        threshold=threshold,
        threshold_goal="test threshold",
        training_data={"note": "random weights for tests"},
        metrics={},
    )
    return write_bundle(folder, model.state_dict(), cfg, "# Test bundle\nRandom weights, for tests only.\n")


@pytest.fixture(autouse=True)
def _no_user_store_or_settings(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real local study store or network settings."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("OSTEO_STORE", str(base / "store"))
    monkeypatch.setenv("OSTEO_CONFIG_DIR", str(base / "config"))


@pytest.fixture(autouse=True)
def restore_logging():
    """The commands' main() configure the root logger for their process (a handler on the stderr of
    the moment, which a test captures and then closes): put the test process's logging back afterwards,
    so that later log records never go to a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    net_level = logging.getLogger("pynetdicom").level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)
    logging.getLogger("pynetdicom").setLevel(net_level)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="session")
def dicom_samples() -> Path:
    if not DICOM_SAMPLES.is_dir():
        pytest.skip(f"shared DICOM samples not found at {DICOM_SAMPLES}")
    return DICOM_SAMPLES
