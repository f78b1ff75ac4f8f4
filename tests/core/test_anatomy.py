"""Anatomy and modality checks: warn when the tags say the film is not a knee or spine radiograph,
stay silent when they say nothing (PNG) or something vague (EXTREMITY, LEG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.anatomy import anatomy_of, anatomy_warnings
from osteo_desktop.core.film import Film, FilmIdentifiers
from osteo_desktop.core.loading import load_film


def _film(name: str = "f.dcm", **ids) -> Film:
    return Film(path=Path("/films") / name, pixels=np.zeros((64, 64), np.float32), source_format="DICOM",
                ids=FilmIdentifiers(**ids))


@pytest.mark.parametrize(
    "ids, anatomy",
    [
        ({"modality": "DX", "body_part": "KNEE"}, "knee"),
        ({"modality": "CR", "body_part": "LSPINE"}, "spine"),
        ({"modality": "CR", "body_part": "CSPINE"}, "spine"),
        ({"modality": "DX", "body_part": "T-SPINE"}, "spine"),
        ({"modality": "RG", "body_part": "SPINE"}, "spine"),
        ({"modality": "DX", "body_part": "EXTREMITY"}, None),
        ({"modality": "DX", "body_part": "LEG"}, None),
        ({"modality": "DX", "body_part": "EXTREMITY", "series_description": "KNEE AP STANDING"}, "knee"),
        ({"modality": "CR", "body_part": "", "study_description": "XR LUMBAR SPINE 2 VIEWS"}, "spine"),
        ({"modality": "OT", "body_part": ""}, None),
        ({"modality": "DR", "body_part": "KNEE"}, "knee"),
        ({"modality": "CR", "body_part": "THORAX", "series_description": "T-SPINE LAT"}, "spine"),
    ],
)
def test_knee_spine_and_vague_films_get_no_warning(ids, anatomy):
    film = _film(**ids)
    assert anatomy_of(film) == anatomy
    assert anatomy_warnings(film) == []


def test_png_without_tags():
    film = Film(path=Path("knee.png"), pixels=np.zeros((64, 64), np.float32), source_format="PNG")
    assert anatomy_warnings(film) == [] and anatomy_of(film) is None


@pytest.mark.parametrize("part", ["CHEST", "HAND", "HIP", "SKULL", "ABDOMEN", "THORAX", "PELVIS", "Chest "])
def test_other_body_part_warns(part):
    (warning,) = anatomy_warnings(_film("x1.dcm", modality="CR", body_part=part))
    assert warning.startswith("x1.dcm:")
    assert part.strip().upper() in warning and "not validated for this anatomy" in warning


@pytest.mark.parametrize("modality", ["CT", "MR", "US", "NM", "PT", "MG", "XA"])
def test_other_modality_warns(modality):
    (warning,) = anatomy_warnings(_film("x2.dcm", modality=modality, body_part="KNEE"))
    assert warning.startswith("x2.dcm:") and f"modality is {modality}" in warning and "not validated" in warning


def test_ct_chest_gets_both_warnings(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "ct.dcm", helpers.ramp(), Modality="CT", BodyPartExamined="CHEST")
    warnings = anatomy_warnings(load_film(path))
    assert len(warnings) == 2
    assert any("CT" in w and "computed tomography" in w for w in warnings)
    assert any("CHEST" in w for w in warnings)
    assert all(w.startswith("ct.dcm:") for w in warnings)


def test_real_files(helpers):
    chest = helpers.cached_film(helpers.sample("pylibjpeg-data/JPEG2000Lossless/966_fixed.dcm"))
    assert [("CHEST" in w) for w in anatomy_warnings(chest)] == [True]
    leg = helpers.cached_film(helpers.testdata("RG3_UNCR.dcm"))  # CR EXTREMITY (lower leg)
    assert anatomy_warnings(leg) == [] and anatomy_of(leg) is None
    mr = load_film(helpers.testdata("MR_small_RLE.dcm"))
    assert any("modality is MR" in w for w in anatomy_warnings(mr))
