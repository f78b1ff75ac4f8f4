"""The shipped model bundle (model_weights/) on real films: what must and must not be screened.

Films the guard never saw in training: pydicom's RG1 (chest, tagged CHEST), RG3 (distal tibia and
ankle, tagged only EXTREMITY: the picture must rule it out), the shared RG2 hip film (tagged HIP) and
pydicom's MR and CT slices. The demo knee film must be screened. (The acceptance rates on other/ and
on unseen patients' knee/spine films come from cross-validation: docs/evaluation.)
"""

from __future__ import annotations

import pytest

from osteo_desktop.core.bundle import default_bundle_dir, read_bundle
from osteo_desktop.resources_path import demo_film_path
from tests.conftest import DICOM_SAMPLES
from tests.core.conftest import testdata as pydicom_file


@pytest.fixture(scope="module")
def shipped():
    folder = default_bundle_dir()
    if folder is None:
        pytest.skip("no bundled model in model_weights/")
    bundle = read_bundle(folder)
    if "guard" not in bundle.config.extra:
        pytest.skip(f"{bundle.config.name} {bundle.config.version} has no picture check (format 1)")
    from osteo_desktop.core.inference import Screener

    return Screener(bundle, device="cpu")


def _screen(screener, path):
    from osteo_desktop.core.loading import load_film

    return screener.screen(load_film(path), gradcam=False)


def test_the_demo_knee_film_is_screened_as_a_knee_by_tags_and_picture(shipped):
    pred = _screen(shipped, demo_film_path())
    assert pred.screened and pred.eligibility.anatomy == "knee" and pred.eligibility.by == "both"
    assert pred.eligibility.confidence > 0.9


@pytest.mark.parametrize("name, by", [("RG1_UNCR.dcm", "tags"), ("RG3_UNCR.dcm", "image"), ("MR_small.dcm", "tags"),
                                      ("CT_small.dcm", "tags")])
def test_other_anatomy_and_modalities_are_not_screened(shipped, name, by):
    pred = _screen(shipped, pydicom_file(name))
    assert not pred.screened and pred.eligibility.by == by, pred.not_screened_reason
    assert pred.not_screened_reason and pred.low_bmd_score is None and not pred.referral_recommended


def test_the_hip_film_is_not_screened(shipped):
    path = DICOM_SAMPLES / "pylibjpeg-data" / "JPEGLS" / "RG2_JLSN.dcm"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    pred = _screen(shipped, path)
    assert not pred.screened and "HIP" in pred.not_screened_reason


def test_the_hip_picture_alone_is_not_screened_either(shipped, tmp_path):
    """Without its tags (as a PNG), the picture check must rule the hip film out on its own."""
    import cv2

    from osteo_desktop.core.display import render, to_uint8
    from osteo_desktop.core.loading import load_film

    path = DICOM_SAMPLES / "pylibjpeg-data" / "JPEGLS" / "RG2_JLSN.dcm"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    png = tmp_path / "hip.png"
    cv2.imwrite(str(png), to_uint8(render(load_film(path))))
    pred = _screen(shipped, png)
    assert not pred.screened and pred.eligibility.by == "image"
