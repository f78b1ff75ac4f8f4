"""Screening one film: class probabilities, low-bone-density score and Grad-CAM from one pass.

`Screener` loads a bundle once (weights verified by sha256) and screens films on CUDA when
available, else on the CPU. `Screener.screen` is a pure `run(data, progress, should_cancel)` style
function: no Qt, safe to call from a worker thread (calls are serialised by a lock).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .. import INTENDED_USE
from .anatomy import anatomy_warnings
from .bundle import Bundle, read_bundle
from .device import resolve_device as resolve_device  # re-exported (tests, GUI)
from .errors import InferenceError, OsteoError
from .film import Film
from .preprocessing import map_to_source, preprocess_film, preprocess_image
from .scoring import DECISION_NEGATIVE as DECISION_NEGATIVE  # re-exported: callers import them from here
from .scoring import DECISION_POSITIVE as DECISION_POSITIVE
from .scoring import DECISION_TEXT as DECISION_TEXT
from .scoring import Decision, decide, decision_text, score_logits

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

CAM_OK, CAM_EMPTY, CAM_OFF = "ok", "empty", "off"
_CAM_EPS = 1e-7


class Cancelled(OsteoError):
    """The caller asked to stop (a newer request superseded this one, or the user cancelled)."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    sha256: str
    architecture: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "architecture": self.architecture}


@dataclass
class Prediction:
    class_names: tuple[str, ...]
    probabilities: dict[str, float]
    predicted_class: str
    low_bmd_score: float
    threshold: float
    threshold_goal: str
    decision: Decision
    model: ModelInfo
    device: str
    cam: np.ndarray | None = None  # float32 [0, 1] on the film's own pixel grid; None when off/empty
    cam_status: str = CAM_OFF
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    out_of_scope: bool = False  # the film's tags say it is not a knee/spine radiograph

    @property
    def decision_text(self) -> str:
        return decision_text(self.decision, out_of_scope=self.out_of_scope)

    @property
    def positive(self) -> bool:
        return self.decision == Decision.POSITIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
            "predicted_class": self.predicted_class,
            "low_bmd_score": round(self.low_bmd_score, 6),
            "decision": str(self.decision),
            "decision_text": self.decision_text,
            "threshold": self.threshold,
            "threshold_goal": self.threshold_goal,
            "model": self.model.to_dict(),
            "device": self.device,
            "gradcam": self.cam_status,
            "out_of_scope": self.out_of_scope,
            "warnings": list(self.warnings),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "intended_use": INTENDED_USE,
        }


class ScreenerLike(Protocol):
    """What the viewer's worker and the report export need of a screener (`Screener`, or a test's
    stand-in): its model's identity and `screen`. `warm_up` and `bundle` are used where present."""

    @property
    def model_info(self) -> ModelInfo: ...

    def screen(
        self,
        film: Film,
        *,
        gradcam: bool = True,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> Prediction: ...


def _find_cam_layer(model: torch.nn.Module, configured: str) -> torch.nn.Module:
    import torch

    if configured:
        try:
            return model.get_submodule(configured)
        except AttributeError as e:
            raise InferenceError(f"bundle names Grad-CAM layer {configured!r}, which the model does not have") from e
    for name in ("bn2", "conv_head", "final_conv", "features"):
        m = getattr(model, name, None)
        if isinstance(m, torch.nn.Module) and not isinstance(m, torch.nn.Identity):
            return m
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise InferenceError("the model has no convolution layer for Grad-CAM")
    return convs[-1]


@functools.lru_cache(maxsize=1)
def _recording_gradcam_class():
    """pytorch-grad-cam's GradCAM that also keeps the largest raw (pre-normalisation) map value,
    so an all-zero map can be told apart from a real one (imported lazily: it pulls in torch)."""
    from pytorch_grad_cam import GradCAM

    class RecordingGradCAM(GradCAM):
        raw_max = 0.0

        def get_cam_image(self, *a, **k):  # weights x activations, before ReLU/normalisation
            img = super().get_cam_image(*a, **k)
            self.raw_max = max(self.raw_max, float(np.maximum(img, 0).max()))
            return img

    return RecordingGradCAM


class Screener:
    """A loaded bundle on a device. Create once; `screen` many films."""

    def __init__(self, bundle: Bundle | str | None = None, device: str = "auto"):
        t0 = time.perf_counter()
        self.bundle = bundle if isinstance(bundle, Bundle) else read_bundle(bundle)
        from .model import load_model

        self._model = load_model(self.bundle)
        self.device = "cpu"
        self._lock = threading.Lock()
        self._move_to(resolve_device(device))
        cfg = self.bundle.config
        self.model_info = ModelInfo(cfg.name, cfg.version, cfg.sha256, cfg.architecture)
        self._cam_layer = _find_cam_layer(self._model, cfg.gradcam_layer)
        self.load_ms = (time.perf_counter() - t0) * 1000
        log.info("model %s %s loaded on %s in %.0f ms", cfg.name, cfg.version, self.device, self.load_ms)

    def warm_up(self) -> None:
        """Import Grad-CAM and run one pass on a blank input, so the first real film is not slower.

        Call it from a worker thread right after construction (the viewer does).
        """
        import torch

        H, W = self.bundle.config.preprocessing.input_size
        x = torch.zeros((1, self.bundle.config.preprocessing.in_chans, H, W), device=self.device)
        with self._lock:
            self._forward(x, gradcam=True)

    def _move_to(self, device: str) -> None:
        self._model.to(device)
        self.device = device

    # -- the one pass ------------------------------------------------------------------------
    def _forward(self, x: torch.Tensor, gradcam: bool) -> tuple[np.ndarray, np.ndarray | None, float]:
        """Logits (1, C) and, when asked, the Grad-CAM map on the input grid from the SAME forward."""
        import torch

        if not gradcam:
            with torch.inference_mode():
                return self._model(x).float().cpu().numpy(), None, 0.0
        cam = _recording_gradcam_class()(model=self._model, target_layers=[self._cam_layer])
        try:
            maps = cam(input_tensor=x, targets=None)  # targets=None: the predicted (top) class
            logits = cam.outputs.detach().float().cpu().numpy()
        finally:
            cam.activations_and_grads.release()
        return logits, maps[0].astype(np.float32), cam.raw_max

    def screen(
        self,
        film: Film,
        *,
        gradcam: bool = True,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
        display: np.ndarray | None = None,
    ) -> Prediction:
        """Screen one film. `display` may pass `render(film)` when the caller has it already (the
        default display, not a reader's own window), so it is not computed twice."""
        import torch

        def step(frac: float, what: str) -> None:
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"{film.display_name}: screening cancelled")
            if progress is not None:
                progress(frac, what)

        cfg = self.bundle.config
        timings: dict[str, float] = {}
        scope_warnings = list(anatomy_warnings(film))
        warnings = list(scope_warnings)
        step(0.0, "preprocessing")
        t = time.perf_counter()
        if display is None:
            arr, geom = preprocess_film(film, cfg.preprocessing)
        else:
            arr, geom = preprocess_image(display, cfg.preprocessing)
        timings["preprocess"] = (time.perf_counter() - t) * 1000
        step(0.2, "running the model")
        with self._lock:
            t = time.perf_counter()
            try:
                x = torch.from_numpy(arr[None]).to(self.device)
                logits, cam_in, raw_max = self._forward(x, gradcam)
            except RuntimeError as e:
                if self.device == "cpu":
                    raise InferenceError(f"{film.display_name}: the model failed on the CPU ({e})") from e
                backend = "CUDA" if self.device.startswith("cuda") else self.device.upper()
                log.warning("%s inference failed (%s); falling back to CPU", backend, e)
                warnings.append(f"{backend} failed ({str(e).splitlines()[0][:120]}); screened on the CPU instead.")
                self._move_to("cpu")
                x = torch.from_numpy(arr[None])
                logits, cam_in, raw_max = self._forward(x, gradcam)
            if self.device.startswith("cuda"):
                torch.cuda.synchronize()
            timings["model"] = (time.perf_counter() - t) * 1000
        step(0.8, "mapping the heatmap")
        t = time.perf_counter()
        try:
            scores = score_logits(logits[0], cfg.class_names, cfg.low_bmd_classes, cfg.temperature)
        except ValueError as e:
            raise InferenceError(f"{film.display_name}: the model's output does not fit its bundle ({e})") from e
        cam_status, cam = CAM_OFF, None
        if cam_in is not None:
            if raw_max <= _CAM_EPS or not np.isfinite(cam_in).all() or float(cam_in.max()) <= _CAM_EPS:
                cam_status = CAM_EMPTY
                warnings.append("Grad-CAM map is all zero for this film: no attention map is shown.")
            else:
                cam = np.clip(map_to_source(cam_in, geom), 0.0, 1.0)
                cam_status = CAM_OK
        timings["postprocess"] = (time.perf_counter() - t) * 1000
        timings["total"] = sum(timings.values())
        step(1.0, "done")
        return Prediction(
            class_names=tuple(cfg.class_names),
            probabilities=scores.probabilities,
            predicted_class=scores.predicted_class,
            low_bmd_score=scores.low_bmd_score,
            threshold=cfg.threshold,
            threshold_goal=cfg.threshold_goal,
            decision=decide(scores.low_bmd_score, cfg.threshold),
            model=self.model_info,
            device=self.device,
            cam=cam,
            cam_status=cam_status,
            warnings=warnings,
            timings_ms=timings,
            out_of_scope=bool(scope_warnings),
        )
