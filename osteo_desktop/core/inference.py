"""Screening one film: class probabilities, low-bone-density score and Grad-CAM from one pass.

`Screener` loads a bundle once (weights verified by sha256) and screens films on CUDA when
available, else on the CPU. `Screener.screen` is a pure `run(data, progress, should_cancel)` style
function: no Qt, safe to call from a worker thread (calls are serialised by a lock).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .. import INTENDED_USE
from .bundle import Bundle, read_bundle
from .clinical import ClinicalInputs, clinical_from_film
from .device import resolve_device as resolve_device  # re-exported (tests, GUI)
from .display import render
from .eligibility import BY_IMAGE, AgeRange, Eligibility, GuardOutput, GuardSpec, TagVerdict, check_tags, decide
from .errors import BundleError, InferenceError, OsteoError
from .film import Film
from .gradcam import DeferredTarget, cam_view_call, find_cam_layer, freeze, recording_gradcam_class
from .picture_check import picture_problem
from .preprocessing import map_to_source, preprocess_image
from .score_bases import FilmScores, ScoreBook, choose_basis, reliability_text
from .scoring import DECISION_NEGATIVE as DECISION_NEGATIVE  # re-exported: callers import them from here
from .scoring import DECISION_NOT_SCREENED as DECISION_NOT_SCREENED
from .scoring import DECISION_POSITIVE as DECISION_POSITIVE
from .scoring import DECISION_TEXT as DECISION_TEXT
from .scoring import Decision, decision_text, score_logits, softmax

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
    """What screening one film gave. A film that was not screened has `decision` "not_screened",
    a `not_screened_reason`, and no probabilities, score or heatmap."""

    class_names: tuple[str, ...]
    probabilities: dict[str, float] | None
    predicted_class: str | None
    low_bmd_score: float | None  # the deciding score (image or combined), None when not screened
    threshold: float | None  # the deciding score's operating threshold
    threshold_goal: str
    decision: Decision
    model: ModelInfo
    device: str
    eligibility: Eligibility
    clinical: ClinicalInputs = field(default_factory=ClinicalInputs)
    scores: FilmScores | None = None
    reliability: str = ""  # validated, or for information only, in words
    not_screened_reason: str = ""
    cam: np.ndarray | None = None  # float32 [0, 1] on the film's own pixel grid; None when off/empty
    cam_status: str = CAM_OFF
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def screened(self) -> bool:
        return self.decision != Decision.NOT_SCREENED

    @property
    def anatomy(self) -> str | None:
        return self.eligibility.anatomy if self.screened else None

    @property
    def score_basis(self) -> str | None:
        return self.scores.basis if self.scores is not None else None

    @property
    def validated(self) -> bool:
        """The deciding score was validated for this film's anatomy (its AUC CI excludes chance)."""
        return self.scores is not None and self.scores.validated

    @property
    def positive(self) -> bool:
        return self.decision == Decision.POSITIVE

    @property
    def referral_recommended(self) -> bool:
        return self.screened and self.validated and self.positive

    @property
    def decision_text(self) -> str:
        return decision_text(self.decision, validated=self.validated, reason=self.not_screened_reason)

    def to_dict(self) -> dict[str, Any]:
        s = self.scores
        return {
            "decision": str(self.decision),
            "decision_text": self.decision_text,
            "not_screened_reason": self.not_screened_reason or None,
            "eligibility": self.eligibility.to_dict(),
            "probabilities": None if self.probabilities is None else {k: round(v, 6) for k, v in self.probabilities.items()},
            "predicted_class": self.predicted_class,
            "low_bmd_score": None if self.low_bmd_score is None else round(self.low_bmd_score, 6),
            "score_basis": self.score_basis,
            "scores": None if s is None else {
                "image": round(s.image, 6),
                "clinical": None if s.clinical is None else round(s.clinical, 6),
                "combined": None if s.combined is None else round(s.combined, 6),
            },
            "threshold": self.threshold,
            "threshold_goal": self.threshold_goal,
            "validated": self.validated if self.screened else None,
            "reliability": self.reliability or None,
            "referral_recommended": self.referral_recommended,
            "clinical": self.clinical.to_dict(),
            "model": self.model.to_dict(),
            "device": self.device,
            "gradcam": self.cam_status,
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
        clinical: ClinicalInputs | None = None,
    ) -> Prediction: ...


@dataclass(frozen=True)
class OutputLayout:
    """Where each part of the model's output row lies.

    Format 1: the row is the class logits. Format 2 (`osteo_pooled_linear`): guard logits, then one
    block of class logits per anatomy (in `anatomies` order), then the squared distance from the
    training films.
    """

    n_classes: int
    heads: dict[str | None, slice]  # anatomy -> its class logits (None: the only head of format 1)
    guard: slice | None = None
    ood_index: int | None = None
    width: int = 0

    @classmethod
    def for_bundle(cls, bundle: Bundle) -> OutputLayout:
        cfg = bundle.config
        c = len(cfg.class_names)
        kw = cfg.model_kwargs
        if "guard_classes" not in kw:
            return cls(c, {None: slice(0, c)}, width=c)
        g = len(kw["guard_classes"])
        anatomies = list(kw.get("anatomies", ("knee", "spine")))
        heads: dict[str | None, slice] = {a: slice(g + i * c, g + (i + 1) * c) for i, a in enumerate(anatomies)}
        width = g + len(anatomies) * c + 1
        return cls(c, heads, slice(0, g), width - 1, width)

    def head(self, anatomy: str | None) -> slice:
        if anatomy in self.heads:
            return self.heads[anatomy]
        if None in self.heads:
            return self.heads[None]
        raise InferenceError(f"the model has no head for {anatomy!r} films")


class Screener:
    """A loaded bundle on a device. Create once; `screen` many films."""

    def __init__(self, bundle: Bundle | str | None = None, device: str = "auto"):
        t0 = time.perf_counter()
        self.bundle = bundle if isinstance(bundle, Bundle) else read_bundle(bundle)
        cfg = self.bundle.config
        try:
            self.layout = OutputLayout.for_bundle(self.bundle)
            self.guard_spec = GuardSpec.from_config(cfg.extra.get("guard"), cfg.extra.get("ood"))
            self.age_range = AgeRange.from_config(cfg.extra.get("age_range"))
            self.score_book = ScoreBook.from_config(
                threshold=cfg.threshold, threshold_goal=cfg.threshold_goal, temperature=cfg.temperature,
                metrics=cfg.metrics, screening=cfg.extra.get("screening"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"{self.bundle.path / 'config.json'}: the screening rules cannot be read ({e}). "
                              "Re-export the bundle with osteo-train.") from e
        if self.layout.guard is not None and (self.guard_spec is None or
                                              len(self.guard_spec.classes) != self.layout.guard.stop):
            raise BundleError(f"{self.bundle.path / 'config.json'}: the guard classes do not match the model's "
                              "guard head. Re-export the bundle with osteo-train.")
        from .model import load_model

        self._model = freeze(load_model(self.bundle))
        self.device = "cpu"
        self._lock = threading.Lock()
        self._move_to(resolve_device(device))
        self.model_info = ModelInfo(cfg.name, cfg.version, cfg.sha256, cfg.architecture)
        self._cam_layer = find_cam_layer(self._model, cfg.gradcam_layer)
        self._cam_call = cam_view_call(cfg.model_kwargs)
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
            self._forward(x, DeferredTarget(lambda out: int(np.argmax(out))))

    def _move_to(self, device: str) -> None:
        self._model.to(device)
        self.device = device

    # -- the one pass ------------------------------------------------------------------------
    def _forward(self, x: torch.Tensor, target: DeferredTarget | None) -> tuple[np.ndarray, np.ndarray | None, float]:
        """The output row and, with a target, the Grad-CAM map on the input grid from the SAME forward."""
        import torch

        if target is None:
            with torch.inference_mode():
                return self._model(x)[0].float().cpu().numpy(), None, 0.0
        cam = recording_gradcam_class()(model=self._model, target_layers=[self._cam_layer], call=self._cam_call or 0)
        try:
            maps = cam(input_tensor=x, targets=[target])
            out = cam.outputs[0].detach().float().cpu().numpy()
        finally:
            cam.activations_and_grads.release()
        if target.index is None or self._cam_call is None:
            return out, None, 0.0
        return out, maps[0].astype(np.float32), cam.raw_max

    def _guard_output(self, out: np.ndarray) -> GuardOutput | None:
        if self.layout.guard is None or self.guard_spec is None:
            return None
        probs = softmax(out[self.layout.guard])
        d2 = float(out[self.layout.ood_index]) if self.layout.ood_index is not None else None
        return GuardOutput(self.guard_spec.classes, tuple(float(p) for p in probs), d2)

    def _not_screened(self, eligibility: Eligibility, clinical: ClinicalInputs, warnings: list[str],
                      timings: dict[str, float]) -> Prediction:
        cfg = self.bundle.config
        timings["total"] = sum(timings.values())
        return Prediction(
            class_names=tuple(cfg.class_names), probabilities=None, predicted_class=None, low_bmd_score=None,
            threshold=None, threshold_goal="", decision=Decision.NOT_SCREENED, model=self.model_info,
            device=self.device, eligibility=eligibility, clinical=clinical,
            not_screened_reason=eligibility.reason, cam_status=CAM_OFF,
            warnings=warnings + [w for w in eligibility.warnings if w not in warnings], timings_ms=timings,
        )

    def screen(
        self,
        film: Film,
        *,
        gradcam: bool = True,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
        display: np.ndarray | None = None,
        clinical: ClinicalInputs | None = None,
    ) -> Prediction:
        """Screen one film: eligibility first, then the scores, from one model pass.

        `display` may pass `render(film)` when the caller has it already (the default display, not a
        reader's own window), so it is not computed twice. `clinical` holds values entered by a user
        or read from a clinical file; they override the film's own tags.
        """
        import torch

        def step(frac: float, what: str) -> None:
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"{film.display_name}: screening cancelled")
            if progress is not None:
                progress(frac, what)

        cfg = self.bundle.config
        timings: dict[str, float] = {}
        warnings: list[str] = []
        inputs = clinical_from_film(film).override(clinical)
        warnings += [f"{film.display_name}: {n}" for n in inputs.notes]
        step(0.0, "checking the film")
        tags: TagVerdict = check_tags(film)
        if tags.rejected:
            return self._not_screened(decide(tags, None, None), inputs, warnings, timings)
        t = time.perf_counter()
        if display is None:
            display = render(film)  # the default display: what the reader sees is what the model sees
        blank = picture_problem(film, display)  # blank, saturated or non-finite: nothing for the model to see
        timings["picture_check"] = (time.perf_counter() - t) * 1000
        if blank is not None:
            return self._not_screened(Eligibility(False, tags.anatomy, BY_IMAGE, None, blank), inputs, warnings, timings)
        t = time.perf_counter()
        arr, geom = preprocess_image(display, cfg.preprocessing)
        timings["preprocess"] = (time.perf_counter() - t) * 1000
        step(0.2, "running the model")

        decided: list[Eligibility] = []

        def choose(out: np.ndarray) -> int | None:
            """From the outputs: may the film be screened, and which class of which head to explain."""
            decided.clear()
            e = decide(tags, self._guard_output(out), self.guard_spec, age_years=inputs.age_years,
                       age_range=self.age_range)
            decided.append(e)
            if not e.screenable:
                return None
            head = self.layout.head(e.anatomy)
            return head.start + int(np.argmax(out[head]))

        target = DeferredTarget(choose) if gradcam else None
        with self._lock:
            t = time.perf_counter()
            try:
                x = torch.from_numpy(arr[None]).to(self.device)
                out, cam_in, raw_max = self._forward(x, target)
            except RuntimeError as e:
                if self.device == "cpu":
                    raise InferenceError(f"{film.display_name}: the model failed on the CPU ({e})") from e
                backend = "CUDA" if self.device.startswith("cuda") else self.device.upper()
                log.warning("%s inference failed (%s); falling back to CPU", backend, e)
                warnings.append(f"{backend} failed ({str(e).splitlines()[0][:120]}); screened on the CPU instead.")
                self._move_to("cpu")
                x = torch.from_numpy(arr[None])
                out, cam_in, raw_max = self._forward(x, target)
            if self.device.startswith("cuda"):
                torch.cuda.synchronize()
            timings["model"] = (time.perf_counter() - t) * 1000
        if out.shape[0] != self.layout.width or not np.isfinite(out).all():
            what = "non-finite" if out.shape[0] == self.layout.width else "mis-shaped"
            raise InferenceError(f"{film.display_name}: the model gave {what} outputs; the bundle does not fit "
                                 "this application. Reinstall the bundle.")
        if not gradcam:
            choose(out)
        eligibility = decided[-1]
        if not eligibility.screenable:
            return self._not_screened(eligibility, inputs, warnings, timings)
        step(0.8, "mapping the heatmap")
        t = time.perf_counter()
        anatomy = eligibility.anatomy
        image_spec = self.score_book.image(anatomy)
        try:
            image = score_logits(out[self.layout.head(anatomy)], cfg.class_names, cfg.low_bmd_classes, image_spec.temperature)
        except ValueError as e:
            raise InferenceError(f"{film.display_name}: the model's output does not fit its bundle ({e})") from e
        scores = choose_basis(self.score_book, anatomy, image.low_bmd_score,
                              {"age": inputs.age_years, "sex_female": inputs.sex_female, "weight": inputs.weight_kg})
        warnings += [w for w in eligibility.warnings if w not in warnings]
        cam_status, cam = CAM_OFF, None
        if cam_in is not None:
            if raw_max <= _CAM_EPS or not np.isfinite(cam_in).all() or float(cam_in.max()) <= _CAM_EPS:
                cam_status = CAM_EMPTY
                warnings.append("Grad-CAM map is all zero for this film: no attention map is shown.")
            else:
                cam = map_to_source(cam_in, geom)
                np.clip(cam, 0.0, 1.0, out=cam)  # in place: the map is as big as the film
                cam_status = CAM_OK
        timings["postprocess"] = (time.perf_counter() - t) * 1000
        timings["total"] = sum(timings.values())
        step(1.0, "done")
        return Prediction(
            class_names=tuple(cfg.class_names),
            probabilities=image.probabilities,
            predicted_class=image.predicted_class,
            low_bmd_score=scores.score,
            threshold=scores.spec.threshold,
            threshold_goal=scores.spec.goal,
            decision=Decision.POSITIVE if scores.positive else Decision.NEGATIVE,
            model=self.model_info,
            device=self.device,
            eligibility=eligibility,
            clinical=inputs,
            scores=scores,
            reliability=reliability_text(scores, self.score_book),
            cam=cam,
            cam_status=cam_status,
            warnings=warnings,
            timings_ms=timings,
        )
