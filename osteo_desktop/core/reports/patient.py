"""The patient-level (multifocal) screening result: one decision from all of a patient's films.

The rule (`combine_patient`), written out so that a reader of the report can check it by hand:

1. Films that were not screened (unreadable, or ruled out by the eligibility checks) are listed
   but take no part.
2. The screened films are grouped by anatomy ("knee", "spine"; films whose anatomy is not known
   form one more group, "unspecified").
3. Per anatomy, the score is the **mean** of that anatomy's films' low-bone-density scores
   (several views of one site are several looks at the same bone), each film on the same score
   basis (the combined image + age/sex score when the films have it, else the image score) and so
   compared with that score's threshold.
4. Only anatomies whose score was **validated** (its cross-validated ROC-AUC confidence interval
   excludes chance) decide; the others are shown for information only.
5. The patient result is "low bone density suspected" when any deciding anatomy's mean is at or
   above its threshold (low density at any one site is reason enough to refer: DXA, too, reports
   the lowest site), else "not suspected", which never rules low bone density out. When no
   anatomy may decide, there is no patient result.

Because of step 3 a single film above the threshold can be outvoted by other films *of the same
anatomy*; the result then carries a warning that says so, and the per-film results stay visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..scoring import Decision, decide, decision_text, is_low_bmd

UNSPECIFIED = "unspecified"
ANATOMY_ORDER = ("knee", "spine")
IMAGE, COMBINED = "image", "combined"

RULE_TEXT = (
    "Patient result: for each anatomy (knee, spine; films of unknown anatomy form an 'unspecified' "
    "group) the mean of its films' low-BMD scores, compared with that score's threshold; only anatomies "
    "whose score was validated decide; low bone density is suspected when any deciding anatomy is at or "
    "above its threshold. Films that were not screened take no part."
)
NO_VALIDATED_RESULT = ("No patient result: the scores of this patient's films were not validated for their "
                       "anatomy and are shown for information only")


@dataclass(frozen=True)
class FilmResult:
    """What `combine_patient` needs of one film."""

    label: str  # how the report names the film ("Film 2", a file name)
    anatomy: str | None  # "knee", "spine", or None (unknown)
    low_bmd_score: float | None  # None: not screened
    threshold: float | None = None  # the operating threshold of the film's deciding score
    error: str = ""  # why it was not screened
    validated: bool = True  # the film's deciding score was validated for its anatomy
    basis: str = IMAGE  # "image" or "combined"

    @property
    def screened(self) -> bool:
        return self.low_bmd_score is not None

    @property
    def positive(self) -> bool | None:
        if self.low_bmd_score is None or self.threshold is None:
            return None
        return is_low_bmd(self.low_bmd_score, self.threshold)


@dataclass(frozen=True)
class AnatomyResult:
    anatomy: str  # "knee", "spine" or "unspecified"
    score: float  # mean of the films' low-BMD scores
    film_labels: tuple[str, ...]
    film_scores: tuple[float, ...]
    threshold: float = 0.5
    validated: bool = True  # may decide the patient result
    basis: str = IMAGE

    @property
    def n_films(self) -> int:
        return len(self.film_labels)

    @property
    def positive(self) -> bool:
        return is_low_bmd(self.score, self.threshold)

    @property
    def margin(self) -> float:
        return self.score - self.threshold


@dataclass(frozen=True)
class PatientResult:
    """The combined result. `decision` is None when no film of the patient may decide it."""

    score: float | None
    threshold: float | None
    decision: Decision | None  # POSITIVE / NEGATIVE, or None when no validated film was screened
    deciding_anatomy: str | None  # the anatomy whose mean decides (see the rule)
    anatomies: tuple[AnatomyResult, ...]
    films: tuple[FilmResult, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    rule: str = RULE_TEXT

    @property
    def positive(self) -> bool:
        return self.decision == Decision.POSITIVE

    @property
    def decision_text(self) -> str:
        if self.decision is None:
            if self.anatomies:
                return NO_VALIDATED_RESULT
            return "No result: none of this patient's films could be screened"
        return decision_text(self.decision)

    @property
    def n_screened(self) -> int:
        return sum(1 for f in self.films if f.screened)

    @property
    def not_screened(self) -> tuple[FilmResult, ...]:
        return tuple(f for f in self.films if not f.screened)


def _anatomy_key(anatomy: str | None) -> str:
    a = (anatomy or "").strip().lower()
    return a or UNSPECIFIED


def _order(name: str) -> tuple[int, str]:
    return (ANATOMY_ORDER.index(name) if name in ANATOMY_ORDER else len(ANATOMY_ORDER), name)


def combine_patient(results: Iterable[FilmResult]) -> PatientResult:
    """Combine one patient's film results into the patient result (rule in the module docstring).

    Pure function. Raises ValueError when films pooled for one anatomy carry different thresholds
    (different models or operating points: their scores cannot be pooled) or a score outside [0, 1].
    """
    films = tuple(results)
    screened = [f for f in films if f.screened]
    warnings: list[str] = []
    not_screened = len(films) - len(screened)
    if not_screened:
        warnings.append(f"{not_screened} of {len(films)} film(s) were not screened and take no part in the patient result.")
    if not screened:
        return PatientResult(None, None, None, None, (), films, tuple(warnings))
    for f in screened:
        if not 0.0 <= float(f.low_bmd_score or 0.0) <= 1.0:
            raise ValueError(f"{f.label}: low-BMD score {f.low_bmd_score} is outside [0, 1]")

    groups: dict[str, list[FilmResult]] = {}
    for f in screened:
        groups.setdefault(_anatomy_key(f.anatomy), []).append(f)
    anatomies = []
    for name, members in sorted(groups.items(), key=lambda kv: _order(kv[0])):
        basis = COMBINED if any(f.basis == COMBINED for f in members) else IMAGE
        pooled = [f for f in members if f.basis == basis]
        left_out = [f.label for f in members if f.basis != basis]
        if left_out:
            warnings.append(f"{', '.join(left_out)} ({name}) had no age/sex and is shown on its own; the {name} result "
                            "uses the films with the combined score.")
        thresholds = {f.threshold for f in pooled}
        if len(thresholds) != 1 or None in thresholds:
            raise ValueError(
                f"the {name} films were screened at different (or unknown) thresholds "
                f"{sorted(str(t) for t in thresholds)}: their scores cannot be combined"
            )
        anatomies.append(AnatomyResult(
            anatomy=name,
            score=sum(float(f.low_bmd_score or 0.0) for f in pooled) / len(pooled),
            film_labels=tuple(f.label for f in pooled),
            film_scores=tuple(float(f.low_bmd_score or 0.0) for f in pooled),
            threshold=float(thresholds.pop() or 0.0),
            validated=all(f.validated for f in pooled),
            basis=basis,
        ))

    if UNSPECIFIED in groups:
        warnings.append(
            f"{len(groups[UNSPECIFIED])} film(s) of unrecognised anatomy were pooled as 'unspecified'; "
            "check that they are knee or spine radiographs."
        )
    info_only = [a.anatomy for a in anatomies if not a.validated]
    if info_only:
        warnings.append(f"Scores of {', '.join(info_only)} films were not validated: shown for information only, "
                        "they do not decide the patient result.")
    deciding_set = [a for a in anatomies if a.validated]
    if not deciding_set:
        return PatientResult(None, None, None, None, tuple(anatomies), films, tuple(warnings))
    positives = [a for a in deciding_set if a.positive]
    deciding = max(positives or deciding_set, key=lambda a: a.margin)  # ties: the first in knee, spine order
    decision = decide(deciding.score, deciding.threshold)
    if decision == Decision.NEGATIVE:
        above = [f.label for f in screened if f.positive and f.validated]
        if above:
            warnings.append(
                f"{', '.join(above)} scored at or above the threshold on its own, but the mean for its "
                "anatomy is below it: review the per-film results."
            )
    return PatientResult(
        score=deciding.score,
        threshold=deciding.threshold,
        decision=decision,
        deciding_anatomy=deciding.anatomy,
        anatomies=tuple(anatomies),
        films=films,
        warnings=tuple(warnings),
    )


def film_results(labels: Sequence[str], anatomies: Sequence[str | None], items: Sequence[object]) -> list[FilmResult]:
    """FilmResults for `ScreenedFilm`s (kept here so the rule's inputs are built in one place)."""
    out = []
    for label, anatomy, item in zip(labels, anatomies, items, strict=False):
        pred = getattr(item, "prediction", None)
        if pred is None or not pred.screened:
            reason = getattr(item, "error", "") or (pred.not_screened_reason if pred is not None else "") or "not screened"
            out.append(FilmResult(label, anatomy, None, None, reason))
        else:
            out.append(FilmResult(label, pred.anatomy or anatomy, float(pred.low_bmd_score), float(pred.threshold),
                                  validated=pred.validated, basis=pred.score_basis or IMAGE))
    return out
