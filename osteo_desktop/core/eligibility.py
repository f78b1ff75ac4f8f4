"""May this film be screened at all? Tags, the picture and the patient's age decide, before any score.

The model is validated for adults' knee radiographs and masked spine crops, nothing else. A film is
screened only when every check below lets it through; otherwise its result is "not screened" with
a reason a clinician understands (`Eligibility.reason`).

The rule, in order:

1. **Tags** (DICOM only, `check_tags`): a modality other than plain radiography (CR, DX, DR, RG,
   OT) makes the film ineligible; so does a Body Part Examined that is neither knee nor spine,
   unless a series/study description names a knee or the spine. Vague parts (EXTREMITY, LEG...)
   and files without tags (PNG/JPEG) leave the decision to the picture. The model is not run for a
   film the tags rule out.
2. **Picture** (`decide`, with the bundle's guard head): the guard says what the film looks like
   (knee / spine crop / whole-spine film / another radiograph / not a radiograph). It can veto
   whatever the tags say: only "knee" and "spine" are screened, and only when the guard is at least
   `min_probability` sure. When tags name an anatomy and the picture shows the other one, the film is
   not screened either (one of them is wrong). The screened anatomy is the picture's; `by` says
   whether tags and picture agreed ("both") or the picture decided alone ("image").
3. **Age**: a patient younger than the bundle's validated age range is not screened (children);
   older than the range, a warning.
4. **Distance from the training films** (Mahalanobis distance of the pooled features): beyond the
   bundle's threshold, a warning in words. It does not veto on its own.

A bundle without a guard (format 1) can only use the tags: films whose tags name a knee or the
spine are screened "by tags"; any other film is screened with a warning that nothing checked it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .anatomy import ACCEPTED_MODALITIES, MODALITY_NAMES, anatomy_of, other_body_part
from .film import Film

KNEE, SPINE = "knee", "spine"
BY_TAGS, BY_IMAGE, BY_BOTH = "tags", "image", "both"

DEFAULT_GUARD_DESCRIPTIONS = {
    "knee": "a knee radiograph",
    "spine": "a spine radiograph",
    "spine_film": "a whole-spine film (not a masked crop of the spine)",
    "other_radiograph": "a radiograph of another body part",
    "not_radiograph": "not a plain radiograph (CT, MR, ultrasound, a photograph or a document)",
}
_GUARD_EXPLANATIONS = {
    "spine_film": "The model learned from masked crops of the spine and was not validated on whole "
                  "spine films, which look different.",
}


@dataclass(frozen=True)
class AgeRange:
    """Ages (years) the model was validated for. Younger: not screened; older: a warning."""

    min_years: float = 18.0
    max_years: float | None = None
    source: str = "adults only (intended use)"

    @classmethod
    def from_config(cls, d: Any) -> AgeRange:
        if not isinstance(d, dict):
            return cls()
        hi = d.get("max")
        return cls(float(d.get("min", 18.0)), None if hi is None else float(hi), str(d.get("source", "")))


@dataclass(frozen=True)
class GuardSpec:
    """The bundle's picture check: class names in model output order and which may be screened."""

    classes: tuple[str, ...]
    screenable: tuple[str, ...] = (KNEE, SPINE)
    min_probability: float = 0.5
    descriptions: dict[str, str] = field(default_factory=dict)
    ood_threshold_d2: float | None = None  # squared Mahalanobis distance; None: no check
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, guard: Any, ood: Any) -> GuardSpec | None:
        if not isinstance(guard, dict) or not guard.get("classes"):
            return None
        thr = ood.get("threshold_d2") if isinstance(ood, dict) else None
        return cls(
            classes=tuple(str(c) for c in guard["classes"]),
            screenable=tuple(str(c) for c in guard.get("screenable", (KNEE, SPINE))),
            min_probability=float(guard.get("min_probability", 0.5)),
            descriptions={str(k): str(v) for k, v in (guard.get("descriptions") or {}).items()},
            ood_threshold_d2=None if thr is None else float(thr),
            metrics=dict(guard.get("metrics") or {}),
        )

    def describe(self, cls_name: str) -> str:
        return self.descriptions.get(cls_name) or DEFAULT_GUARD_DESCRIPTIONS.get(cls_name) or cls_name.replace("_", " ")


@dataclass(frozen=True)
class GuardOutput:
    """What the guard head said about one film."""

    classes: tuple[str, ...]
    probabilities: tuple[float, ...]
    ood_d2: float | None = None

    @property
    def top(self) -> tuple[str, float]:
        i = max(range(len(self.probabilities)), key=self.probabilities.__getitem__)
        return self.classes[i], float(self.probabilities[i])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {c: round(float(p), 4) for c, p in zip(self.classes, self.probabilities, strict=True)}
        return d


@dataclass(frozen=True)
class TagVerdict:
    """What the DICOM tags say: an anatomy ("knee"/"spine"/None) or why the film is ruled out."""

    anatomy: str | None = None
    reject_reason: str = ""
    what: str = ""  # for a rejection: what the tags say the film is ("chest", "MR")

    @property
    def rejected(self) -> bool:
        return bool(self.reject_reason)


@dataclass(frozen=True)
class Eligibility:
    screenable: bool
    anatomy: str | None  # the anatomy screened; for a film not screened, what it appears to be
    by: str  # "tags" | "image" | "both"
    confidence: float | None = None  # the guard's probability for `anatomy` (None: tags only)
    reason: str = ""  # why the film is not screened (empty when screenable)
    warnings: tuple[str, ...] = ()
    guard: GuardOutput | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "anatomy": self.anatomy,
            "by": self.by,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
        }
        if self.guard is not None:
            d["image_classes"] = self.guard.to_dict()
            if self.guard.ood_d2 is not None:
                d["distance_d2"] = round(self.guard.ood_d2, 2)
        return d


def sure(p: float) -> str:
    """A probability in words that never claims certainty: '97%', 'over 99%'."""
    return "over 99%" if p >= 0.995 else f"{p:.0%}"


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip())


def check_tags(film: Film) -> TagVerdict:
    """Rule 1: the DICOM tags (PNG/JPEG have none: anatomy None, not rejected)."""
    ids = film.ids
    modality = ids.modality.strip().upper()
    if modality and modality not in ACCEPTED_MODALITIES:
        what = MODALITY_NAMES.get(modality, "not a plain radiograph")
        return TagVerdict(
            reject_reason=f"The DICOM modality is {modality} ({what}). This model screens plain radiographs "
                          "(CR/DX) of the knee or spine only.",
            what=modality,
        )
    part = other_body_part(film)
    if part:
        return TagVerdict(
            reject_reason=f"The body part examined is {_words(part).upper()}. This model is validated for knee "
                          "and spine films only.",
            what=_words(part).lower(),
        )
    return TagVerdict(anatomy=anatomy_of(film))


def check_age(age_years: float | None, age_range: AgeRange) -> tuple[str, str]:
    """Rule 3: (reason not to screen, warning); both empty when the age is fine or unknown."""
    if age_years is None:
        return "", ""
    shown = f"{age_years:.0f}" if age_years >= 2 else f"{age_years:.1f}"
    if age_years < age_range.min_years:
        return (
            f"The patient is {shown} years old. This model is validated only for patients aged "
            f"{age_range.min_years:.0f} and over: children's bones are not assessed.",
            "",
        )
    if age_range.max_years is not None and age_years > age_range.max_years:
        return "", (
            f"The patient is {shown} years old, older than the patients the model was validated on "
            f"({age_range.min_years:.0f}-{age_range.max_years:.0f} years). Interpret with caution."
        )
    return "", ""


def decide(tags: TagVerdict, guard_out: GuardOutput | None, spec: GuardSpec | None, *,
           age_years: float | None = None, age_range: AgeRange | None = None) -> Eligibility:
    """Rules 1-4 together (for a film the tags did not rule out, after the one model pass)."""
    if tags.rejected:
        return Eligibility(False, tags.what or None, BY_TAGS, None, tags.reject_reason)
    warnings: list[str] = []
    if guard_out is None or spec is None:  # a bundle without a picture check
        anatomy, by, confidence = tags.anatomy, BY_TAGS, None
        if anatomy is None:
            warnings.append(
                "This model bundle has no picture check and the file names no body part: make sure this is a "
                "knee or spine radiograph before reading the result."
            )
    else:
        look, p = guard_out.top
        by = BY_BOTH if tags.anatomy else BY_IMAGE
        if look not in spec.screenable:
            reason = f"The picture looks like {spec.describe(look)} (the picture check is {sure(p)} sure), not a " \
                     "knee or spine film like those the model was validated on."
            if look in _GUARD_EXPLANATIONS:
                reason += " " + _GUARD_EXPLANATIONS[look]
            if tags.anatomy:
                reason += f" The DICOM tags say {tags.anatomy}; the picture decides."
            return Eligibility(False, look, by, p, reason, guard=guard_out)
        if p < spec.min_probability:
            return Eligibility(
                False, look, by, p,
                f"The picture check cannot tell confidently what this film shows (at most {p:.0%} for "
                f"{spec.describe(look)}), so it is not screened.",
                guard=guard_out,
            )
        if tags.anatomy and tags.anatomy != look:
            return Eligibility(
                False, look, BY_BOTH, p,
                f"The DICOM tags say {tags.anatomy}, but the picture looks like {spec.describe(look)} ({sure(p)} sure). "
                "One of them is wrong; check the film and its tags.",
                guard=guard_out,
            )
        anatomy, confidence = look, p
        if spec.ood_threshold_d2 is not None and guard_out.ood_d2 is not None and guard_out.ood_d2 > spec.ood_threshold_d2:
            warnings.append(
                f"This film looks unlike the {look} films the model was trained on (its features lie "
                f"{(guard_out.ood_d2 / spec.ood_threshold_d2) ** 0.5:.1f} times as far from them as the usual limit). "
                "Treat the result with extra caution."
            )
    reason, age_warning = check_age(age_years, age_range or AgeRange())
    if age_warning:
        warnings.append(age_warning)
    if reason:
        return Eligibility(False, anatomy, by, confidence, reason, tuple(warnings), guard_out)
    return Eligibility(True, anatomy, by, confidence, "", tuple(warnings), guard_out)

