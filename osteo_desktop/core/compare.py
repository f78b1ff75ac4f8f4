"""Which films to show beside the current one: the same patient's other films of the same anatomy,
the most recent prior first (by study date), then later films.

"Same anatomy" means the same body part, and the same laterality and view position where both films
say one. A PNG/JPEG has no patient: it is only ever compared with films the reader picks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .film import Film, FilmIdentifiers
from .loading.header import FilmHeader


@dataclass(frozen=True)
class FilmInfo:
    """What the comparison needs to know about a film (kept for every film seen, loaded or not)."""

    key: str
    patient_key: str
    ids: FilmIdentifiers
    is_dicom: bool

    @classmethod
    def of(cls, key: str, film: Film | FilmHeader) -> FilmInfo:
        """From a loaded film or from its header alone (a listed film that is not loaded yet)."""
        return cls(key, film.patient_key, film.ids, film.is_dicom)

    @property
    def date(self) -> str:
        """YYYYMMDD of the study (else the acquisition), "" when unknown."""
        d = self.ids.study_date or self.ids.acquisition_date
        return d if len(d) == 8 and d.isdigit() else ""


def _norm(s: str) -> str:
    return s.strip().upper()


def same_anatomy(a: FilmIdentifiers, b: FilmIdentifiers) -> bool:
    if not a.body_part or _norm(a.body_part) != _norm(b.body_part):
        return False
    for field in ("laterality", "view_position"):
        va, vb = _norm(getattr(a, field)), _norm(getattr(b, field))
        if va and vb and va != vb:
            return False
    return True


def comparison_films(current: str, catalog: Mapping[str, FilmInfo], limit: int = 3) -> list[str]:
    """Keys of up to `limit` films to compare with `current`: priors (newest first), then later films,
    then films of unknown date; same patient and anatomy only."""
    me = catalog.get(current)
    if me is None or not me.is_dicom:
        return []
    same = [f for k, f in catalog.items() if k != current and f.is_dicom and f.patient_key == me.patient_key
            and f.ids.sop_instance_uid != me.ids.sop_instance_uid and same_anatomy(me.ids, f.ids)]
    prior = sorted((f for f in same if f.date and me.date and f.date < me.date), key=lambda f: (f.date, f.ids.study_time), reverse=True)
    later = sorted((f for f in same if f.date and me.date and f.date > me.date), key=lambda f: (f.date, f.ids.study_time))
    rest = [f for f in same if f not in prior and f not in later]
    return [f.key for f in (prior + later + rest)[:limit]]
