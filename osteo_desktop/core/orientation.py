"""Orientation letters for the edges of a displayed film, following the reader's rotations and flips.

PatientOrientation (0020,0020) gives two directions: where the patient lies along a row (towards
increasing column numbers, i.e. the picture's right) and along a column (towards increasing row
numbers, the picture's bottom), as letters L/R, A/P, H/F (combinations such as "LP" for oblique).
The opposite edges get the opposite letters.

Without PatientOrientation, a frontal film (ViewPosition AP or PA) is assumed to be stored the way
it is read, facing the patient: the patient's left on the picture's right, the feet at the bottom
("L", "F"). That is a convention, not a fact of the file: the result says `assumed`, and the viewer
shows it differently so that the reader checks the side marker on the film. Lateral and other views
get no letters without PatientOrientation.

The display transform is the film view's: rotate by quarter turns clockwise, then flip horizontally
and/or vertically on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from .film import Film

_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"}
FRONTAL_VIEWS = ("AP", "PA")


def opposite(direction: str) -> str:
    return "".join(_OPPOSITE.get(ch, ch) for ch in direction)


def _valid(direction: str) -> bool:
    return 0 < len(direction) <= 3 and all(ch in _OPPOSITE for ch in direction)


@dataclass(frozen=True)
class Orientation:
    row_dir: str  # towards increasing column (the stored picture's right)
    col_dir: str  # towards increasing row (the stored picture's bottom)
    assumed: bool = False  # from the view position's convention, not from PatientOrientation
    source: str = "PatientOrientation"


def film_orientation(film: Film) -> Orientation | None:
    """The film's orientation, or None when it cannot be told."""
    header = film.header
    value = None
    if header is not None:
        try:
            value = header.get("PatientOrientation")
        except Exception:  # a damaged element: no letters rather than wrong ones
            value = None
    if value not in (None, ""):
        parts = [str(v).strip().upper() for v in (value.split("\\") if isinstance(value, str) else list(value))]
        if len(parts) == 2 and all(_valid(p) for p in parts):
            return Orientation(parts[0], parts[1])
    view = film.ids.view_position.strip().upper()
    if view in FRONTAL_VIEWS:
        return Orientation("L", "F", assumed=True, source=f"ViewPosition {view}")
    return None


def _screen(vec: tuple[int, int], quarter_turns: int, flip_h: bool, flip_v: bool) -> tuple[int, int]:
    x, y = vec
    for _ in range(quarter_turns % 4):
        x, y = -y, x  # 90 degrees clockwise with y pointing down
    return (-x if flip_h else x), (-y if flip_v else y)


def edge_labels(o: Orientation, quarter_turns: int = 0, flip_h: bool = False, flip_v: bool = False) -> dict[str, str]:
    """Letters for the screen's "left", "right", "top" and "bottom" edges."""
    directions = {(1, 0): o.row_dir, (-1, 0): opposite(o.row_dir), (0, 1): o.col_dir, (0, -1): opposite(o.col_dir)}
    edges = {(1, 0): "right", (-1, 0): "left", (0, 1): "bottom", (0, -1): "top"}
    return {edges[_screen(v, quarter_turns, flip_h, flip_v)]: letter for v, letter in directions.items()}
