"""The screening worklist: the store's studies with their screening state, searchable.

A film's badge comes from its latest screening result:

* "suspected": low bone density suspected;
* "screened": screened, low bone density not suspected;
* "not screened": the screener declined the film (not eligible; the row says why);
* "failed": screening failed (unreadable film, model error);
* "" (none): no result yet.

A study's badge is the most important of its films' badges, in that order (a suspected film makes
the study "suspected" whatever the others say); the per-badge counts stay available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..scoring import Decision

if TYPE_CHECKING:
    from .store import LocalStore

SUSPECTED, SCREENED, NOT_SCREENED, FAILED, UNSCREENED = "suspected", "screened", "not screened", "failed", ""
BADGES = (SUSPECTED, SCREENED, NOT_SCREENED, FAILED)
_PRIORITY = (SUSPECTED, FAILED, SCREENED, NOT_SCREENED)


def film_badge(status: str | None, decision: str | None) -> str:
    """The badge of one result row (status/decision as in `osteo-screen --json`)."""
    if status != "ok":
        return FAILED
    if decision == Decision.POSITIVE:
        return SUSPECTED
    if decision == Decision.NEGATIVE:
        return SCREENED
    if decision == Decision.NOT_SCREENED:
        return NOT_SCREENED
    return FAILED if decision is None else NOT_SCREENED


def study_badge(counts: dict[str, int]) -> str:
    for b in _PRIORITY:
        if counts.get(b):
            return b
    return UNSCREENED


@dataclass(frozen=True)
class WorklistQuery:
    """Empty fields match everything. `patient`: words that must all occur in the patient ID or name
    (case-insensitive); dates YYYYMMDD, inclusive; `badge`: one of BADGES, or "unscreened"."""

    patient: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""
    badge: str | None = None


@dataclass(frozen=True)
class StudySummary:
    study_uid: str
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_date: str
    study_time: str
    description: str
    accession: str
    last_received: str
    modalities: tuple[str, ...]
    n_series: int
    n_instances: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def badge(self) -> str:
        return study_badge(self.counts)


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def worklist(store: LocalStore, query: WorklistQuery | None = None, *, limit: int | None = None) -> list[StudySummary]:
    """The studies of the store matching `query`, newest study date first."""
    q = query or WorklistQuery()
    clauses: list[str] = []
    params: list[object] = []
    for word in q.patient.replace("^", " ").split():
        clauses.append("(p.patient_id LIKE ? ESCAPE '\\' OR p.patient_name LIKE ? ESCAPE '\\')")
        params += [_like(word), _like(word)]
    if q.date_from:
        clauses.append("st.study_date >= ?")
        params.append(q.date_from.replace("-", ""))
    if q.date_to:
        clauses.append("st.study_date <= ?")
        params.append(q.date_to.replace("-", ""))
    if q.modality:
        clauses.append("EXISTS (SELECT 1 FROM series m WHERE m.study_uid = st.study_uid AND upper(m.modality) = ?)")
        params.append(q.modality.strip().upper())
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = store.execute(
        "SELECT st.study_uid, p.patient_id, p.patient_name, p.birth_date, p.sex, st.study_date, st.study_time, "
        "st.description, st.accession, st.last_received, "
        "(SELECT group_concat(modality, '\\') FROM (SELECT DISTINCT se.modality FROM series se "
        " WHERE se.study_uid = st.study_uid AND se.modality != '' ORDER BY se.modality)), "
        "(SELECT count(*) FROM series se WHERE se.study_uid = st.study_uid), "
        "(SELECT count(*) FROM instances i WHERE i.study_uid = st.study_uid) "
        f"FROM studies st JOIN patients p ON p.id = st.patient_ref {where} "
        "ORDER BY st.study_date DESC, st.study_time DESC, st.last_received DESC",
        tuple(params),
    )
    counts = _badge_counts(store, [r[0] for r in rows])
    out: list[StudySummary] = []
    for r in rows:
        c = counts.get(r[0], {})
        s = StudySummary(study_uid=r[0], patient_id=r[1], patient_name=r[2], birth_date=r[3], sex=r[4], study_date=r[5],
                         study_time=r[6], description=r[7], accession=r[8], last_received=r[9],
                         modalities=tuple(m for m in (r[10] or "").split("\\") if m), n_series=int(r[11]),
                         n_instances=int(r[12]), counts=c)
        if q.badge and s.badge != (UNSCREENED if q.badge == "unscreened" else q.badge):
            continue
        out.append(s)
        if limit is not None and len(out) >= limit:
            break
    return out


def _badge_counts(store: LocalStore, study_uids: list[str]) -> dict[str, dict[str, int]]:
    """Per study: how many films carry each badge (latest result per film)."""
    if not study_uids:
        return {}
    rows = store.execute(
        "SELECT study_uid, status, decision FROM results WHERE study_uid != '' AND id IN "
        "(SELECT max(id) FROM results WHERE study_uid != '' GROUP BY study_uid, CASE WHEN sop_uid != '' THEN sop_uid "
        "ELSE file END)"
    )
    wanted = set(study_uids)
    out: dict[str, dict[str, int]] = {}
    for study_uid, status, decision in rows:
        if study_uid in wanted:
            b = film_badge(status, decision)
            d = out.setdefault(study_uid, {})
            d[b] = d.get(b, 0) + 1
    return out
