"""The scores a screened film can get, per anatomy, and whether each was validated.

A bundle can carry three scores per anatomy ("knee", "spine"), each with its own operating
threshold (chosen on out-of-fold predictions for the same screening goal) and its own validation:

* ``image``: P(osteopenia) + P(osteoporosis) from the picture alone;
* ``clinical``: a logistic model of age and sex alone (the baseline the image has to beat);
* ``combined``: late fusion of the image score with age and sex (a logistic model of the image
  score's logit and the clinical inputs).

The product decides on ``combined`` when its clinical inputs are known, else on ``image``
(`choose_basis`). A score is **validated** when the lower end of its out-of-fold ROC-AUC 95%
confidence interval lies above 0.5; a score that is not validated is shown "for information
only": no referral recommendation, and it does not decide a patient result.

Format-1 bundles carry one image score (top-level threshold and temperature) and per-anatomy
metrics; they are read as image scores per anatomy with those metrics. Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .scoring import is_low_bmd

IMAGE, CLINICAL, COMBINED = "image", "clinical", "combined"
#: What each score is, in one line (the panel and the PDF show it beside the score).
EXPLANATIONS = {
    "image": "low-BMD score = P(osteopenia) + P(osteoporosis), from the image",
    "combined": "combined score = P(low bone density) from the image score, age and sex (logistic late fusion)",
}
OVERALL = "overall"  # films of unknown anatomy (format-1 bundles without a picture check)
BASIS_WORDS = {
    IMAGE: "the image alone",
    CLINICAL: "age and sex alone",
    COMBINED: "the image combined with age and sex",
}
FEATURE_WORDS = {"age": "age", "sex_female": "sex", "image_logit": "image score", "weight": "weight"}


def _ci(metrics: Mapping[str, Any], *keys: str) -> tuple[float, float] | None:
    for k in keys:
        v = metrics.get(k)
        if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
            lo, hi = float(v[0]), float(v[1])
            if math.isfinite(lo) and math.isfinite(hi):
                return lo, hi
    return None


def _num(metrics: Mapping[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = metrics.get(k)
        if isinstance(v, (int, float)) and math.isfinite(float(v)):
            return float(v)
    return None


@dataclass(frozen=True)
class ScoreSpec:
    """One score of one anatomy: how to compute it, its threshold, and how it fared in validation."""

    anatomy: str
    basis: str
    threshold: float
    goal: str = ""
    temperature: float = 1.0  # image scores: logits are divided by it before the softmax
    features: tuple[str, ...] = ()  # clinical / combined: inputs of the logistic model, in coef order
    coef: tuple[float, ...] = ()
    intercept: float = 0.0
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def auc(self) -> float | None:
        return _num(self.metrics, "auc", "auc_low_bmd")

    @property
    def auc_ci95(self) -> tuple[float, float] | None:
        return _ci(self.metrics, "auc_ci95", "auc_low_bmd_ci95")

    @property
    def validated(self) -> bool:
        """True when the AUC's 95% CI excludes chance (lower end above 0.5)."""
        ci = self.auc_ci95
        return ci is not None and ci[0] > 0.5

    def needs(self) -> tuple[str, ...]:
        """Clinical inputs this score needs besides the image."""
        return tuple(f for f in self.features if f != "image_logit")

    def probability(self, values: Mapping[str, float | None]) -> float | None:
        """The logistic model's P(low bone density); None when an input is missing."""
        if len(self.coef) != len(self.features):
            return None
        z = self.intercept
        for name, c in zip(self.features, self.coef, strict=True):
            v = values.get(name)
            if v is None or not math.isfinite(v):
                return None
            z += c * v
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def describe_validation(self) -> str:
        auc, ci = self.auc, self.auc_ci95
        if auc is None or ci is None:
            return "no validation metrics"
        return f"ROC-AUC {auc:.2f} (95% CI {ci[0]:.2f}-{ci[1]:.2f})"


def image_logit(score: float) -> float:
    s = min(max(score, 1e-6), 1 - 1e-6)
    return math.log(s / (1 - s))


@dataclass(frozen=True)
class ScoreBook:
    """Every score spec of a bundle, by (anatomy, basis)."""

    specs: Mapping[tuple[str, str], ScoreSpec]

    def get(self, anatomy: str | None, basis: str) -> ScoreSpec | None:
        return self.specs.get((anatomy or OVERALL, basis))

    def image(self, anatomy: str | None) -> ScoreSpec:
        """The image score for an anatomy (falls back to the overall one)."""
        spec = self.get(anatomy, IMAGE) or self.get(OVERALL, IMAGE)
        if spec is None:  # from_config always adds an overall image spec
            raise KeyError(f"no image score for {anatomy}")
        return spec

    @classmethod
    def from_config(cls, *, threshold: float, threshold_goal: str, temperature: float,
                    metrics: Mapping[str, Any], screening: Any = None) -> ScoreBook:
        """Format 2 (`screening` section) and format 1 (top-level threshold/temperature + metrics)."""
        specs: dict[tuple[str, str], ScoreSpec] = {}
        for anatomy, m in (metrics or {}).items():  # format 1: image scores with per-anatomy metrics
            if isinstance(m, Mapping) and anatomy != "evaluation":
                specs[(anatomy, IMAGE)] = ScoreSpec(anatomy, IMAGE, threshold, threshold_goal, temperature, metrics=m)
        specs.setdefault((OVERALL, IMAGE), ScoreSpec(OVERALL, IMAGE, threshold, threshold_goal, temperature))
        if isinstance(screening, Mapping):
            for anatomy, bases in screening.items():
                if not isinstance(bases, Mapping):
                    continue
                for basis, d in bases.items():
                    if basis in (IMAGE, CLINICAL, COMBINED) and isinstance(d, Mapping):
                        specs[(str(anatomy), basis)] = _spec_from_dict(str(anatomy), basis, d, threshold_goal)
        return cls(specs)


def _spec_from_dict(anatomy: str, basis: str, d: Mapping[str, Any], default_goal: str) -> ScoreSpec:
    model = d.get("model") or {}
    features = tuple(str(f) for f in model.get("features", ()))
    coef = tuple(float(c) for c in model.get("coef", ()))
    if basis != IMAGE and (not features or len(features) != len(coef)):
        raise ValueError(f"{anatomy}/{basis}: the logistic model needs as many coefficients as features")
    thr = float(d["threshold"])
    if not 0.0 <= thr <= 1.0:
        raise ValueError(f"{anatomy}/{basis}: threshold {thr} is outside [0, 1]")
    temp = float(d.get("temperature", 1.0))
    if not (math.isfinite(temp) and temp > 0):
        raise ValueError(f"{anatomy}/{basis}: temperature must be a positive number, got {temp}")
    return ScoreSpec(
        anatomy=anatomy,
        basis=basis,
        threshold=thr,
        goal=str(d.get("goal", default_goal)),
        temperature=temp,
        features=features,
        coef=coef,
        intercept=float(model.get("intercept", 0.0)),
        metrics=dict(d.get("metrics") or {}),
    )


@dataclass(frozen=True)
class FilmScores:
    """The scores of one screened film and the one that decides."""

    image: float
    clinical: float | None
    combined: float | None
    basis: str  # IMAGE or COMBINED
    spec: ScoreSpec  # the deciding score's spec
    missing_for_combined: tuple[str, ...] = ()  # clinical inputs that would have allowed COMBINED

    @property
    def score(self) -> float:
        return self.combined if self.basis == COMBINED and self.combined is not None else self.image

    @property
    def positive(self) -> bool:
        return is_low_bmd(self.score, self.spec.threshold)

    @property
    def validated(self) -> bool:
        return self.spec.validated


def choose_basis(book: ScoreBook, anatomy: str | None, image_score: float,
                 clinical_values: Mapping[str, float | None]) -> FilmScores:
    """Combined when the bundle has it for this anatomy and its clinical inputs are known; else image."""
    values = dict(clinical_values)
    values["image_logit"] = image_logit(image_score)
    img = book.image(anatomy)
    clin_spec, comb_spec = book.get(anatomy, CLINICAL), book.get(anatomy, COMBINED)
    clinical = clin_spec.probability(values) if clin_spec else None
    combined = comb_spec.probability(values) if comb_spec else None
    if comb_spec is not None and combined is not None:
        return FilmScores(image_score, clinical, combined, COMBINED, comb_spec)
    missing = tuple(f for f in comb_spec.needs() if values.get(f) is None) if comb_spec else ()
    return FilmScores(image_score, clinical, combined, IMAGE, img, missing)


def reliability_text(scores: FilmScores, book: ScoreBook) -> str:
    """One or two sentences a reader needs to weigh the result (validated or for information only)."""
    spec = scores.spec
    where = f"{spec.anatomy} films" if spec.anatomy != OVERALL else "films of unknown anatomy"
    how = BASIS_WORDS[spec.basis]
    if spec.validated:
        text = f"Validated on {where} using {how}: {spec.describe_validation()} in patient-level cross-validation."
        clin = book.get(spec.anatomy, CLINICAL)
        if spec.basis == COMBINED and clin is not None and clin.auc is not None:
            text += f" Age and sex alone reach {clin.auc:.2f}"
            gain = spec.metrics.get("minus_clinical_auc")
            value = gain.get("value") if isinstance(gain, Mapping) else gain
            gci = _ci(gain, "ci95") if isinstance(gain, Mapping) else None
            if isinstance(value, (int, float)) and gci is not None:
                text += f"; the image adds {value:+.3f} (95% CI {gci[0]:+.3f} to {gci[1]:+.3f})"
                if gci[0] <= 0.0:
                    text += ", no more than chance would"
            text += "."
        return text
    if spec.auc_ci95 is None:
        text = f"This model carries no validation for {where} using {how}: the score is for information only."
    else:
        text = (f"On {where} this model, using {how}, did no better than chance in validation "
                f"({spec.describe_validation()}): the score is for information only.")
    clin = book.get(spec.anatomy, CLINICAL)
    if clin is not None and clin.auc is not None and (spec.auc is None or clin.auc > spec.auc):
        text += f" Age and sex alone did better ({clin.describe_validation()})."
    elif spec.anatomy != OVERALL and spec.auc is not None:
        age_auc = _num(spec.metrics, "age_only_auc_low_bmd")
        if age_auc is not None and age_auc > spec.auc:
            text += f" Age alone did better (ROC-AUC {age_auc:.2f})."
    comb = book.get(spec.anatomy, COMBINED)
    if scores.basis == IMAGE and comb is not None and comb.validated and scores.missing_for_combined:
        need = " and ".join(FEATURE_WORDS.get(f, f) for f in scores.missing_for_combined)
        text += f" Enter the patient's {need} to use the validated combined score."
    return text
