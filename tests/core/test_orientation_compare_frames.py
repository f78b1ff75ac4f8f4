"""Orientation letters (PatientOrientation, else the frontal-view convention) under rotation and
flips; which films to compare with; frames of a multi-frame file decoded one at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import RLELossless

from osteo_desktop.core.compare import FilmInfo, comparison_films
from osteo_desktop.core.film import Film, FilmIdentifiers
from osteo_desktop.core.loading import load_film
from osteo_desktop.core.loading.frames import FrameSource
from osteo_desktop.core.orientation import Orientation, edge_labels, film_orientation


def _film(orientation=None, view="AP") -> Film:
    hdr = Dataset()
    if orientation is not None:
        hdr.PatientOrientation = orientation
    return Film(path=Path("/x.dcm"), pixels=np.zeros((4, 4), np.float32), source_format="DICOM", header=hdr,
                ids=FilmIdentifiers(view_position=view))


def test_letters_from_patient_orientation():
    o = film_orientation(_film(["A", "FR"], view="LL"))
    assert o == Orientation("A", "FR") and not o.assumed
    assert edge_labels(o) == {"right": "A", "left": "P", "bottom": "FR", "top": "HL"}


def test_frontal_view_without_patient_orientation_is_an_assumption():
    o = film_orientation(_film(None, view="PA"))
    assert o.assumed and o.source == "ViewPosition PA"
    assert edge_labels(o) == {"right": "L", "left": "R", "bottom": "F", "top": "H"}
    assert film_orientation(_film(None, view="LATERAL")) is None  # no convention to fall back on
    assert film_orientation(_film(["X", "F"], view="")) is None  # nonsense letters: none rather than wrong ones


@pytest.mark.parametrize("turns, fh, fv, expect", [
    (1, False, False, {"top": "R", "bottom": "L", "right": "H", "left": "F"}),  # 90 clockwise: the head goes right
    (2, False, False, {"right": "R", "left": "L", "top": "F", "bottom": "H"}),
    (3, False, False, {"top": "L", "bottom": "R", "left": "H", "right": "F"}),
    (0, True, False, {"right": "R", "left": "L", "top": "H", "bottom": "F"}),
    (0, False, True, {"right": "L", "left": "R", "top": "F", "bottom": "H"}),
    (1, True, False, {"top": "R", "bottom": "L", "left": "H", "right": "F"}),
])
def test_letters_follow_rotation_and_flips(turns, fh, fv, expect):
    assert edge_labels(Orientation("L", "F"), turns, fh, fv) == expect


def _info(key, pid="P1", date="20240101", part="KNEE", lat="L", view="AP", dicom=True, sop=None):
    ids = FilmIdentifiers(patient_id=pid, study_date=date, body_part=part, laterality=lat, view_position=view,
                          sop_instance_uid=sop or f"1.2.{abs(hash(key)) % 10**8}")
    return FilmInfo(key, pid if dicom else f"file:{key}", ids, dicom)


def test_comparison_films_are_same_patient_same_anatomy_priors_newest_first():
    cat = {k: i for k, i in [
        ("now", _info("now", date="20240601")),
        ("prior1", _info("prior1", date="20230601")),
        ("prior2", _info("prior2", date="20240101")),
        ("later", _info("later", date="20250101")),
        ("other_knee", _info("other_knee", date="20240101", lat="R")),
        ("spine", _info("spine", date="20240101", part="LSPINE")),
        ("other_patient", _info("other_patient", pid="P2", date="20240101")),
        ("lateral", _info("lateral", date="20240101", view="LAT")),
        ("nodate", _info("nodate", date="")),
    ]}
    assert comparison_films("now", cat, limit=5) == ["prior2", "prior1", "later", "nodate"]
    assert comparison_films("now", cat, limit=1) == ["prior2"]
    assert comparison_films("prior1", cat, limit=2) == ["prior2", "now"]  # no prior: the next films
    png = {"a.png": _info("a.png", dicom=False), "b.png": _info("b.png", dicom=False)}
    assert comparison_films("a.png", png) == []  # a PNG has no patient to match


def test_frames_decoded_one_at_a_time_like_frame_zero(helpers, tmp_path):
    frames = np.stack([helpers.ramp() % 3000 + 100 * k for k in range(5)]).astype(np.uint16)
    path = helpers.make_dicom(tmp_path / "mf.dcm", frames, RescaleSlope=2, RescaleIntercept=-10)
    film = load_film(path)
    src = FrameSource(film)
    assert len(src) == 5 and src.cached() == [0]
    np.testing.assert_array_equal(src.frame(3), frames[3].astype(np.float32) * 2 - 10)
    np.testing.assert_array_equal(src.frame(0), film.pixels)
    assert sorted(src.cached()) == [0, 3]  # only what was asked for
    with pytest.raises(IndexError):
        src.frame(5)


def test_frame_cache_stays_within_its_budget(helpers, tmp_path):
    frames = np.stack([helpers.ramp() + k for k in range(6)]).astype(np.uint16)
    film = load_film(helpers.make_dicom(tmp_path / "mf.dcm", frames))
    one = film.pixels.nbytes
    src = FrameSource(film, max_bytes=4 * 2 * one)  # a quarter of this holds two frames
    for i in range(6):
        src.frame(i)
    assert len(src.cached()) == 2 and src.cached()[-1] == 5


def test_compressed_multiframe(helpers, tmp_path):
    import pydicom

    frames = np.stack([helpers.ramp() % 3000 + 50 * k for k in range(3)]).astype(np.uint16)
    plain = helpers.make_dicom(tmp_path / "mf.dcm", frames)
    ds = pydicom.dcmread(plain)
    ds.compress(RLELossless)
    ds.save_as(tmp_path / "rle.dcm")
    src = FrameSource(load_film(tmp_path / "rle.dcm"))
    np.testing.assert_array_equal(src.frame(2), frames[2].astype(np.float32))
