"""The patient-level (multifocal) screening result: one decision from all of a patient's films.

The rule (`combine_patient`), written out so that a reader of the report can check it by hand:

1. Films that could not be screened are listed but take no part.
2. The screened films are grouped by anatomy ("knee", "spine"; films whose anatomy is not known
   form one more group, "unspecified").
3. Per anatomy, the score is the **mean** of that anatomy's films' low-bone-density scores
   (several views of one site are several looks at the same bone).
4. The patient score is the **maximum** over the anatomies (low density at any one site is
   reason enough to refer: DXA, too, reports the lowest site).
5. The patient result is "low bone density suspected" when the patient score is at or above the
   model's threshold (the same `score >= threshold` rule as for a single film), else "not
   suspected", which never rules low bone density out.

Because of step 3 a single film above the threshold can be outvoted by other films *of the same
anatomy*; the result then carries a warning that says so, and the per-film results stay visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..scoring import Decision, decide, decision_text, is_low_bmd

UNSPECIFIED = "unspecified"
ANATOMY_ORDER = ("knee", "spine")

RULE_TEXT = (
    "Patient result: for each anatomy (knee, spine; films of unknown anatomy form an 'unspecified' "
    "group) the mean of its films' low-BMD scores; the patient score is the highest of these means; "
    "low bone density is suspected when that score is at or above the model's threshold. "
    "Films that could not be screened take no part."
)


@dataclass(frozen=True)
class FilmResult:
    """What `combine_patient` needs of one film."""

    label: str  # how the report names the film ("Film 2", a file name)
    anatomy: str | None  # "knee", "spine", or None (unknown)
    low_bmd_score: float | None  # None: not screened
    threshold: float | None = None  # the model's operating threshold for this film
    error: str = ""  # why it was not screened

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

    @property
    def n_films(self) -> int:
        return len(self.film_labels)


@dataclass(frozen=True)
class PatientResult:
    """The combined result. `decision` is None when no film of the patient could be screened."""

    score: float | None
    threshold: float | None
    decision: Decision | None  # POSITIVE / NEGATIVE, or None when no film could be screened
    deciding_anatomy: str | None  # the anatomy whose mean is the patient score
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

    Pure function. Raises ValueError when the screened films carry different thresholds (they
    were screened by different models or operating points, so their scores cannot be pooled) or a
    score outside [0, 1].
    """
    films = tuple(results)
    screened = [f for f in films if f.screened]
    warnings: list[str] = []
    not_screened = len(films) - len(screened)
    if not_screened:
        warnings.append(
            f"{not_screened} of {len(films)} film(s) could not be screened and take no part in the patient result."
        )
    if not screened:
        return PatientResult(None, None, None, None, (), films, tuple(warnings))

    scored = [(f, f.low_bmd_score) for f in screened if f.low_bmd_score is not None]
    for f, score in scored:
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"{f.label}: low-BMD score {score} is outside [0, 1]")
    thresholds = {f.threshold for f in screened}
    known = {t for t in thresholds if t is not None}
    if len(thresholds) != 1 or not known:
        raise ValueError(
            "the films were screened at different (or unknown) thresholds "
            f"{sorted(str(t) for t in thresholds)}: their scores cannot be combined"
        )
    threshold = float(known.pop())

    groups: dict[str, list[tuple[str, float]]] = {}
    for f, score in scored:
        groups.setdefault(_anatomy_key(f.anatomy), []).append((f.label, float(score)))
    anatomies = tuple(
        AnatomyResult(
            anatomy=name,
            score=sum(score for _, score in members) / len(members),
            film_labels=tuple(label for label, _ in members),
            film_scores=tuple(score for _, score in members),
        )
        for name, members in sorted(groups.items(), key=lambda kv: _order(kv[0]))
    )
    deciding = max(anatomies, key=lambda a: a.score)  # ties: the first in knee, spine, ... order
    decision = decide(deciding.score, threshold)

    if UNSPECIFIED in groups:
        warnings.append(
            f"{len(groups[UNSPECIFIED])} film(s) of unrecognised anatomy were pooled as 'unspecified'; "
            "check that they are knee or spine radiographs."
        )
    if decision == Decision.NEGATIVE:
        above = [f.label for f in screened if f.positive]
        if above:
            warnings.append(
                f"{', '.join(above)} scored at or above the threshold on its own, but the mean for its "
                "anatomy is below it: review the per-film results."
            )
    return PatientResult(
        score=deciding.score,
        threshold=threshold,
        decision=decision,
        deciding_anatomy=deciding.anatomy,
        anatomies=anatomies,
        films=films,
        warnings=tuple(warnings),
    )


def film_results(labels: Sequence[str], anatomies: Sequence[str | None], items: Sequence[object]) -> list[FilmResult]:
    """FilmResults for `ScreenedFilm`s (kept here so the rule's inputs are built in one place)."""
    out = []
    for label, anatomy, item in zip(labels, anatomies, items, strict=False):
        pred = getattr(item, "prediction", None)
        if pred is None:
            out.append(FilmResult(label, anatomy, None, None, getattr(item, "error", "") or "not screened"))
        else:
            out.append(FilmResult(label, anatomy, float(pred.low_bmd_score), float(pred.threshold)))
    return out
