import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.clinical import (
    SRC_AGE_TAG,
    SRC_USER,
    ClinicalInputError,
    ClinicalInputs,
    ClinicalValue,
    clinical_from_film,
    completed_years,
    parse_dicom_age,
    read_clinical_csv,
    user_inputs,
)
from osteo_desktop.core.film import Film, FilmIdentifiers


def _film(**ids) -> Film:
    return Film(path=Path("x.dcm"), pixels=np.zeros((8, 8), np.float32), source_format="DICOM", ids=FilmIdentifiers(**ids))


@pytest.mark.parametrize("text, years", [("063Y", 63), ("006M", 0.5), ("052W", 52 * 7 / 365.25), ("003D", 3 / 365.25),
                                         (" 63y ", 63), ("", None), ("63", None), ("X63Y", None)])
def test_dicom_age_strings(text, years):
    got = parse_dicom_age(text)
    assert got == (pytest.approx(years) if years is not None else None)


def test_completed_years_counts_birthdays():
    assert completed_years(dt.date(1960, 6, 15), dt.date(2020, 6, 14)) == 59
    assert completed_years(dt.date(1960, 6, 15), dt.date(2020, 6, 15)) == 60


def test_age_from_tags_prefers_patient_age_then_dates():
    c = clinical_from_film(_film(patient_age="071Y", patient_birth_date="19000101", study_date="20200101", patient_sex="F"))
    assert c.age == ClinicalValue(71.0, SRC_AGE_TAG) and c.sex_female == 1.0
    d = clinical_from_film(_film(patient_birth_date="19600615", study_date="20200614"))
    assert d.age_years == 59 and "StudyDate" in d.age.source
    e = clinical_from_film(_film(patient_birth_date="19600615", acquisition_date="20200615"))
    assert e.age_years == 60 and "AcquisitionDate" in e.age.source
    assert clinical_from_film(_film()).age is None


def test_unusable_tags_become_notes_not_values():
    c = clinical_from_film(_film(patient_age="ABC", patient_sex="Q", patient_weight="-3"))
    assert c.age is None and c.sex is None and c.weight is None
    assert len(c.notes) == 3
    assert clinical_from_film(_film(patient_birth_date="20300101", study_date="20200101")).age is None


def test_ost_index_and_sex_coding():
    c = user_inputs(age=70, sex="F", weight=55)
    assert c.ost_index == pytest.approx(0.2 * (55 - 70))
    assert user_inputs(sex="male").sex_female == 0.0 and user_inputs(sex="O").sex_female is None
    assert user_inputs(age=70).ost_index is None
    assert c.to_dict()["ost_index"] == -3.0 and c.entered_by_user


def test_override_keeps_tag_values_the_user_did_not_enter():
    tags = clinical_from_film(_film(patient_age="060Y", patient_sex="M"))
    merged = tags.override(user_inputs(age=62))
    assert merged.age.value == 62 and merged.age.source == SRC_USER
    assert merged.sex.value == "male" and merged.sex.source != SRC_USER


@pytest.mark.parametrize("kw, words", [({"age": "sixty"}, "not a number"), ({"age": 150}, "outside"),
                                       ({"sex": "yes"}, "not understood"), ({"weight": "900"}, "pounds")])
def test_bad_entries_say_what_to_fix(kw, words):
    with pytest.raises(ClinicalInputError, match=words):
        user_inputs(**kw)


def test_clinical_csv_matches_by_name_and_by_path(tmp_path):
    (tmp_path / "sub").mkdir()
    csv = tmp_path / "clin.csv"
    csv.write_text("file,age,sex,weight\nknee1.dcm,63,F,60\nsub/knee2.png,45,m,\n", encoding="utf-8")
    table = read_clinical_csv(csv)
    a = table.lookup(tmp_path / "anywhere" / "knee1.dcm")
    assert a.age_years == 63 and a.sex.value == "female" and a.weight_kg == 60
    assert "clin.csv" in a.age.source
    b = table.lookup(tmp_path / "sub" / "knee2.png")
    assert b.age_years == 45 and b.weight is None
    assert table.lookup(tmp_path / "other" / "knee2.png") is None  # given by path: only that path
    assert table.lookup(tmp_path / "nothing.dcm") is None


def test_clinical_csv_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,age\na.dcm,63\nb.dcm,abc\n")
    with pytest.raises(ClinicalInputError, match=r"bad.csv, line 3: age 'abc'"):
        read_clinical_csv(bad)
    no_header = tmp_path / "nh.csv"
    no_header.write_text("a.dcm,63,F\n")
    with pytest.raises(ClinicalInputError, match="needs a header"):
        read_clinical_csv(no_header)
    dup = tmp_path / "dup.csv"
    dup.write_text("file,age\na.dcm,63\na.dcm,64\n")
    with pytest.raises(ClinicalInputError, match="several rows"):
        read_clinical_csv(dup).lookup(Path("/x/a.dcm"))
    with pytest.raises(ClinicalInputError, match="cannot read"):
        read_clinical_csv(tmp_path / "missing.csv")


def test_empty_inputs_serialise_as_nulls():
    d = ClinicalInputs().to_dict()
    assert d == {"age": None, "sex": None, "weight": None, "ost_index": None}
