"""The screening rule, written once: training, the CLI, the viewer and the reports all call it.

1. Probabilities: softmax of the logits divided by the bundle's temperature (fitted on
   out-of-fold logits in training).
2. The low-bone-density score: the sum of the probabilities of the low-BMD classes
   (osteopenia + osteoporosis).
3. The decision: "low bone density suspected" when ``score >= threshold``, else "not suspected"
   (which never rules low bone density out). A film with no result is "not screened".
4. One colour rule for the decision, on paper (the PDF) and on screen (the viewer): suspected is
   the alert colour, not suspected a calm blue, deliberately never green (it is not an all-clear),
   not screened a neutral grey.

Pure numpy, no torch and no Qt, so it is cheap to import everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import overload

import numpy as np


class Decision(StrEnum):
    """The result of screening one film (or one patient). Values are what JSON and logs carry."""

    POSITIVE = "low_bmd_suspected"
    NEGATIVE = "low_bmd_not_suspected"
    NOT_SCREENED = "not_screened"


DECISION_POSITIVE = Decision.POSITIVE
DECISION_NEGATIVE = Decision.NEGATIVE
DECISION_NOT_SCREENED = Decision.NOT_SCREENED

DECISION_TEXT: dict[Decision, str] = {
    Decision.POSITIVE: "Low bone density suspected: consider referral for DXA",
    Decision.NEGATIVE: "Low bone density not suspected at the operating point (this does not rule it out)",
    Decision.NOT_SCREENED: "Not screened: no result for this film",
}
#: A score that was not validated for the film's anatomy and score basis: shown for information only,
#: never with referral words.
INFO_ONLY_TEXT: dict[Decision, str] = {
    Decision.POSITIVE: "Score at or above the threshold, for information only (not validated here): no referral recommendation",
    Decision.NEGATIVE: "Score below the threshold, for information only (not validated here)",
}
SCORE_EXPLANATION = "low-BMD score = P(osteopenia) + P(osteoporosis)"


# -- probabilities and score ----------------------------------------------------------------------
def softmax(logits: np.ndarray | Sequence[float], temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / temperature`` over the last axis, in float64 (numerically stable).

    One film: a 1-D array of C logits gives C probabilities; a batch: (N, C) gives (N, C).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def low_bmd_score(probs: np.ndarray, low_idx: Sequence[int]) -> np.ndarray:
    """Sum of the low-BMD classes' probabilities over the last axis: (N, C) -> (N,), (C,) -> ()."""
    return np.asarray(probs)[..., list(low_idx)].sum(axis=-1)


@overload
def is_low_bmd(score: float, threshold: float) -> bool: ...
@overload
def is_low_bmd(score: np.ndarray, threshold: float) -> np.ndarray: ...
def is_low_bmd(score: float | np.ndarray, threshold: float) -> bool | np.ndarray:
    """THE rule: flagged when the score is at or above the threshold (elementwise for arrays)."""
    if isinstance(score, np.ndarray):
        return score >= threshold
    return bool(score >= threshold)


def decide(score: float | None, threshold: float | None) -> Decision:
    """The decision for one score (NOT_SCREENED when there is no score or no threshold)."""
    if score is None or threshold is None:
        return Decision.NOT_SCREENED
    return Decision.POSITIVE if is_low_bmd(float(score), float(threshold)) else Decision.NEGATIVE


def relation_text(score: float, threshold: float) -> str:
    """How a score stands to the threshold, in the words the viewer and the reports use."""
    return "at or above" if is_low_bmd(score, threshold) else "below"


def decision_text(decision: Decision | str, *, validated: bool = True, reason: str = "") -> str:
    """The decision in words. Not validated: for information only. Not screened: with the reason."""
    d = Decision(decision)
    if d is Decision.NOT_SCREENED:
        return f"Not screened: {reason}" if reason else DECISION_TEXT[d]
    return DECISION_TEXT[d] if validated else INFO_ONLY_TEXT[d]


@dataclass(frozen=True)
class Scores:
    """What one film's logits give: probabilities per class, the most probable class, the score."""

    probabilities: dict[str, float]
    predicted_class: str
    low_bmd_score: float


def score_logits(logits: np.ndarray | Sequence[float], class_names: Sequence[str], low_bmd_classes: Sequence[str],
                 temperature: float) -> Scores:
    """One film's logits (C values) -> its probabilities, most probable class and low-BMD score."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if z.size != len(class_names):
        raise ValueError(f"{z.size} logits for {len(class_names)} classes {list(class_names)}")
    p = softmax(z, temperature)
    names = list(class_names)
    missing = [c for c in low_bmd_classes if c not in names]
    if missing:
        raise ValueError(f"low-BMD classes {missing} are not among the classes {names}")
    score = float(low_bmd_score(p, [names.index(c) for c in low_bmd_classes]))
    return Scores(
        probabilities={name: float(v) for name, v in zip(names, p, strict=True)},
        predicted_class=names[int(np.argmax(p))],
        low_bmd_score=score,
    )


# -- one colour rule ------------------------------------------------------------------------------
class Tone(StrEnum):
    ALERT = "alert"  # low bone density suspected
    CALM = "calm"  # not suspected: blue, never green (it does not rule low BMD out)
    NEUTRAL = "neutral"  # not screened / no result


@dataclass(frozen=True)
class ToneColours:
    """'#RRGGBB' colours of one tone: text on paper (white), text on the dark viewer, and bars."""

    paper: str
    screen: str
    bar_paper: str
    bar_screen: str


TONE_COLOURS: dict[Tone, ToneColours] = {
    Tone.ALERT: ToneColours(paper="#A01818", screen="#FFB84D", bar_paper="#A01818", bar_screen="#FFB84D"),
    Tone.CALM: ToneColours(paper="#1F3A5F", screen="#C8DCEB", bar_paper="#5B7DB1", bar_screen="#5B7DB1"),
    Tone.NEUTRAL: ToneColours(paper="#555555", screen="#A0A0A5", bar_paper="#9A9A9A", bar_screen="#7A7A80"),
}
NEUTRAL_BAR_PAPER = TONE_COLOURS[Tone.CALM].bar_paper  # bars that carry no decision (class probabilities)


def decision_tone(decision: Decision | str | None, *, validated: bool = True) -> Tone:
    """A score that was not validated carries no decision colour: neutral, like "not screened"."""
    if decision is None or not validated:
        return Tone.NEUTRAL
    d = Decision(decision)
    return {Decision.POSITIVE: Tone.ALERT, Decision.NEGATIVE: Tone.CALM}.get(d, Tone.NEUTRAL)


def decision_colour(decision: Decision | str | None, *, surface: str = "paper", validated: bool = True) -> str:
    """The text colour of a decision on 'paper' (PDF) or 'screen' (the dark viewer)."""
    c = TONE_COLOURS[decision_tone(decision, validated=validated)]
    return _pick(c.paper, c.screen, surface)


def score_bar_colour(score: float, threshold: float, *, surface: str = "paper", validated: bool = True) -> str:
    """The fill colour of a low-BMD score bar: the colour of the decision that score gives."""
    c = TONE_COLOURS[decision_tone(decide(score, threshold), validated=validated)]
    return _pick(c.bar_paper, c.bar_screen, surface)


def _pick(paper: str, screen: str, surface: str) -> str:
    if surface == "paper":
        return paper
    if surface == "screen":
        return screen
    raise ValueError(f"surface must be 'paper' or 'screen', got {surface!r}")
