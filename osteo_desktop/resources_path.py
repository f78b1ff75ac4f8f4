"""Locate bundled files (model weights, demo film, icons) in a source tree or a frozen build."""

from __future__ import annotations

import sys
from pathlib import Path


def project_root() -> Path:
    """The folder that holds `model_weights/` and `resources/`.

    In a PyInstaller build that is the bundle's data folder (sys._MEIPASS); from a source checkout it
    is the repository root (one level above the package).
    """
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def project_path(*parts: str) -> Path:
    return project_root().joinpath(*parts)


def demo_film_path() -> Path:
    return project_path("resources", "demo", "knee_demo.dcm")
