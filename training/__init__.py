"""Training package for osteo-desktop: honest (patient-level) evaluation, the paper's ablation and
the shipped model bundle.

Entry point: the ``osteo-train`` console script (:mod:`training.cli`). Everything here runs on the
CPU (tests, smoke runs) or on one CUDA GPU with bf16 autocast. Images go through the core's own
display pipeline and :func:`osteo_desktop.core.preprocessing.preprocess_image`, so what the model
learns from is exactly what the application shows it.
"""

from __future__ import annotations

__all__ = ["__version__"]
from ._version import __version__
