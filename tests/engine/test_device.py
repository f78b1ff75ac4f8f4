"""One device rule (core.device.resolve_device) for the viewer, the CLI and training."""

from __future__ import annotations

import pytest
import torch

from osteo_desktop.core.device import resolve_device
from osteo_desktop.core.errors import DeviceError, InferenceError


def test_cpu_and_auto():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device(None) == resolve_device("") == resolve_device("AUTO")
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_auto_never_picks_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("mps") == "mps"  # only when asked for


def test_mps_without_mps_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="--device mps.*use --device cpu or auto"):
        resolve_device("mps")


def test_cuda_requests(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no usable GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda") == "cuda"
    assert resolve_device("CUDA:1") == "cuda:1"
    with pytest.raises(DeviceError, match="2 CUDA device"):
        resolve_device("cuda:2")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("cuda:x")


def test_unknown_device_names_the_choices():
    with pytest.raises(DeviceError, match="use auto, cpu, cuda, cuda:N, mps"):
        resolve_device("tpu")


def test_device_error_is_an_inference_error():
    """The viewer's worker falls back to the CPU on an InferenceError for an explicit GPU."""
    assert issubclass(DeviceError, InferenceError)


def test_training_uses_the_core_rule():
    import training.run

    assert training.run.resolve_device is resolve_device
    assert not hasattr(__import__("training.engine").engine, "resolve_device")
