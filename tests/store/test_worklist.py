"""The worklist: the store's studies, searchable, with screening badges."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from osteo_desktop.core.store import (
    FAILED,
    NOT_SCREENED,
    SCREENED,
    SUSPECTED,
    UNSCREENED,
    LocalStore,
    WorklistQuery,
    film_badge,
    worklist,
)
from tests.dicom_factory import film_bytes, make_film


def result(decision, status="ok"):
    return {"file": "f", "status": status, "decision": decision, "low_bmd_score": 0.5 if decision else None,
            "threshold": 0.5, "model": {"name": "m", "version": "1", "sha256": "s"}}


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path)
    studies = {}

    def add(key, *, films=1, **kw):
        study = generate_uid()
        series = generate_uid()
        sops = []
        for i in range(films):
            r = s.add_bytes(film_bytes(make_film(study_uid=study, series_uid=series, seed=i, instance_number=i + 1, **kw)))
            sops.append(r.header.sop_uid)
        studies[key] = (study, sops)

    add("doe_knee", patient_id="P-100", patient_name="Doe^Jane", study_date="20240110", modality="DX", films=2)
    add("doe_spine", patient_id="P-100", patient_name="Doe^Jane", study_date="20230505", modality="CR", body_part="LSPINE")
    add("roe_ct", patient_id="P-200", patient_name="Roe^Richard", study_date="20240301", modality="CT", body_part="HEAD")
    add("smith", patient_id="X-9", patient_name="Smith^Ann", study_date="20220101", modality="DX")
    (st, (a, b)) = studies["doe_knee"]
    s.record_result(result("low_bmd_not_suspected"), sop_uid=a, study_uid=st)
    s.record_result(result("low_bmd_suspected"), sop_uid=b, study_uid=st)
    (st, (a,)) = studies["doe_spine"]
    s.record_result(result("low_bmd_suspected"), sop_uid=a, study_uid=st)
    s.record_result(result("low_bmd_not_suspected"), sop_uid=a, study_uid=st)  # re-screened: the latest counts
    (st, (a,)) = studies["roe_ct"]
    s.record_result(result("not_screened"), sop_uid=a, study_uid=st)
    s.studies_by_key = studies  # type: ignore[attr-defined]
    yield s
    s.close()


def keys(store, rows):
    by_uid = {v[0]: k for k, v in store.studies_by_key.items()}
    return [by_uid[r.study_uid] for r in rows]


def test_all_studies_newest_first_with_their_badges(store):
    rows = worklist(store)
    assert keys(store, rows) == ["roe_ct", "doe_knee", "doe_spine", "smith"]
    badges = {k: r.badge for k, r in zip(keys(store, rows), rows, strict=True)}
    assert badges == {"doe_knee": SUSPECTED, "doe_spine": SCREENED, "roe_ct": NOT_SCREENED, "smith": UNSCREENED}
    knee = rows[1]
    assert knee.counts == {SUSPECTED: 1, SCREENED: 1}
    assert (knee.patient_id, knee.patient_name, knee.modalities, knee.n_series, knee.n_instances) == (
        "P-100", "Doe^Jane", ("DX",), 1, 2)


def test_search_by_patient_words_in_id_or_name_any_case(store):
    assert keys(store, worklist(store, WorklistQuery(patient="doe"))) == ["doe_knee", "doe_spine"]
    assert keys(store, worklist(store, WorklistQuery(patient="jane DOE"))) == ["doe_knee", "doe_spine"]
    assert keys(store, worklist(store, WorklistQuery(patient="P-200"))) == ["roe_ct"]
    assert worklist(store, WorklistQuery(patient="nobody")) == []
    assert worklist(store, WorklistQuery(patient="%")) == []  # SQL wildcards are plain characters


def test_search_by_date_range_and_modality(store):
    assert keys(store, worklist(store, WorklistQuery(date_from="20240101"))) == ["roe_ct", "doe_knee"]
    assert keys(store, worklist(store, WorklistQuery(date_from="2023-01-01", date_to="2023-12-31"))) == ["doe_spine"]
    assert keys(store, worklist(store, WorklistQuery(modality="dx"))) == ["doe_knee", "smith"]
    assert keys(store, worklist(store, WorklistQuery(patient="doe", modality="CR"))) == ["doe_spine"]


def test_search_by_screening_result(store):
    assert keys(store, worklist(store, WorklistQuery(badge=SUSPECTED))) == ["doe_knee"]
    assert keys(store, worklist(store, WorklistQuery(badge=SCREENED))) == ["doe_spine"]
    assert keys(store, worklist(store, WorklistQuery(badge=NOT_SCREENED))) == ["roe_ct"]
    assert keys(store, worklist(store, WorklistQuery(badge="unscreened"))) == ["smith"]
    assert worklist(store, WorklistQuery(badge=FAILED)) == []


def test_badges_of_rows():
    assert film_badge("ok", "low_bmd_suspected") == SUSPECTED
    assert film_badge("ok", "low_bmd_not_suspected") == SCREENED
    assert film_badge("ok", "not_screened") == NOT_SCREENED
    assert film_badge("error", None) == FAILED
    assert film_badge("error", "low_bmd_suspected") == FAILED
