"""A screener stand-in for the screening *process* (`EngineSettings.factory` =
"tests.gui.engine_fakes:make_screener"). Imported in the spawned child: no Qt, no torch, no pytest.

The film's file name steers it: "sleep" in the name makes it report progress ("sleeping") and then
sleep until the process is killed (or the request cancelled); "crash" makes the process die of a segmentation fault, like a
decoder's C code on a hostile file; anything else gets a positive, validated result with a
hot spot in the top-left corner of the attention map.
"""

from __future__ import annotations

import ctypes
import time

import numpy as np

from osteo_desktop.core.clinical import ClinicalInputs
from osteo_desktop.core.eligibility import Eligibility
from osteo_desktop.core.inference import DECISION_POSITIVE, ModelInfo, Prediction
from osteo_desktop.core.score_bases import FilmScores, ScoreSpec


class ChildScreener:
    def __init__(self, bundle=None, device="cpu"):
        self.model_info = ModelInfo("child-fake", "1.0", "cd" * 32, "fake_arch")

    def screen(self, film, *, gradcam=True, progress=None, should_cancel=None, display=None, clinical=None):
        name = film.path.name
        if progress:
            progress(0.1, "sleeping" if "sleep" in name else "screening")
        if "sleep" in name:
            while True:  # until the test kills the process, or the request is cancelled
                if should_cancel is not None and should_cancel():
                    from osteo_desktop.core.inference import Cancelled

                    raise Cancelled("cancelled")
                time.sleep(0.02)
        if "crash" in name:
            ctypes.string_at(0)  # a segmentation fault, as a decoder's C code might have
        rows, cols = film.shape
        cam = np.zeros((rows, cols), np.float32)
        cam[: rows // 4, : cols // 4] = 1.0
        spec = ScoreSpec("knee", "image", 0.5, "test", metrics={"auc": 0.7, "auc_ci95": [0.6, 0.85]})
        return Prediction(
            class_names=("normal", "osteopenia", "osteoporosis"),
            probabilities={"normal": 0.2, "osteopenia": 0.5, "osteoporosis": 0.3},
            predicted_class="osteopenia", low_bmd_score=0.8, threshold=0.5, threshold_goal="test",
            decision=DECISION_POSITIVE, model=self.model_info, device="cpu",
            eligibility=Eligibility(True, "knee", "image", 0.99), clinical=clinical or ClinicalInputs(),
            scores=FilmScores(0.8, None, None, "image", spec),
            reliability="Validated on knee films using the image alone: ROC-AUC 0.70.",
            cam=cam, cam_status="ok", timings_ms={"model": 1.0, "total": 1.0},
        )


def make_screener(bundle, device):
    return ChildScreener(bundle, device)


def crashing_reader(kind, args):
    """A film reader (`core.reader_process` handler) whose decoder dies of a segmentation fault on files
    named "crash*" and takes its time on "sleep*"; anything else is read as usual."""
    from pathlib import Path

    from osteo_desktop.core.reader_process import serve

    name = Path(args[0]).name
    if name.startswith("crash"):
        ctypes.string_at(0)
    if name.startswith("sleep"):
        time.sleep(60)
    return serve(kind, args)
