"""Fixtures for the report tests (fast: synthetic films, predictions built without a model)."""

from __future__ import annotations

import pytest

from osteo_desktop.core.bundle import BundleConfig

from .report_fixtures import MODEL, THRESHOLD, blob_cam, dicom_film, knee_pixels, make_prediction, spine_pixels


@pytest.fixture
def config() -> BundleConfig:
    return BundleConfig(
        name=MODEL.name, version=MODEL.version, architecture=MODEL.architecture, threshold=THRESHOLD,
        threshold_goal="sensitivity >= 0.90 on validation", sha256=MODEL.sha256,
        metrics={
            "low_bmd_auc": {"value": 0.842, "ci95": [0.801, 0.879]},
            "sensitivity_at_threshold": 0.903,
            "specificity_at_threshold": 0.612,
            "validation": {"n_patients": 212, "sites": "knee + spine"},
        },
    )


@pytest.fixture
def patient_films(tmp_path):
    """Two DICOM films of one patient (knee and spine, one study) with predictions."""
    from pydicom.uid import generate_uid

    from osteo_desktop.core.reports import ScreenedFilm

    study = generate_uid()
    knee = dicom_film(tmp_path, "knee_ap.dcm", knee_pixels(), body_part="KNEE", laterality="R", study_uid=study)
    spine = dicom_film(tmp_path, "spine_lat.dcm", spine_pixels(), body_part="LSPINE", view="LL", study_uid=study)
    return [
        ScreenedFilm(knee, make_prediction((0.55, 0.35, 0.10), blob_cam(knee.shape, 0.5, 0.5))),
        ScreenedFilm(spine, make_prediction((0.20, 0.45, 0.35), blob_cam(spine.shape, 0.4, 0.5),
                                            warnings=["Test warning: film is slightly rotated."])),
    ]
