"""Which torch device to run on: one rule for the viewer, the CLI and training.

``auto`` takes a CUDA GPU when one is usable, else the CPU. Apple's ``mps`` is used only when asked
for (``--device mps``): screening and the Grad-CAM pass work there, but ``auto`` stays on the CPU
on a Mac so that results do not depend on a backend that has not been validated for this model.
An explicit device that is not usable is a `DeviceError` that says which devices are (torch is
imported only when this is called).
"""

from __future__ import annotations

from .errors import DeviceError

CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def _mps_available(torch: object) -> bool:
    backends = getattr(torch, "backends", None)
    mps = getattr(backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(requested: str | None = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'. Returns a torch device string
    ('cpu', 'cuda', 'cuda:1', 'mps'); an explicit device that is not usable raises DeviceError."""
    import torch

    req = (requested or "auto").strip().lower()
    if req == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if req == "cpu":
        return "cpu"
    if req == "cuda" or req.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"CUDA was requested (--device {req}) but no usable GPU/driver was found; "
                              "use --device cpu or auto.")
        if req != "cuda":
            index = req.split(":", 1)[1]
            if not index.isdigit():
                raise DeviceError(f"unknown device {requested!r}: use {', '.join(CHOICES)}.")
            count = torch.cuda.device_count()
            if int(index) >= count:
                raise DeviceError(f"--device {req}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1}).")
        return req
    if req == "mps":
        if not _mps_available(torch):
            raise DeviceError("Apple MPS was requested (--device mps) but this torch build or machine has no MPS; "
                              "use --device cpu or auto.")
        return "mps"
    raise DeviceError(f"unknown device {requested!r}: use {', '.join(CHOICES)}.")
