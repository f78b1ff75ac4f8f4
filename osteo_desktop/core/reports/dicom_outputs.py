"""DICOM outputs for PACS: a TID 1500 Measurement Report (Comprehensive SR) and a Secondary
Capture with the heatmap burned in. Both go into the source film's study (same Study Instance
UID, patient and study modules copied, a new series each) and reference the source image.

SR content (one "Imaging Measurements" group, TID 1501, per film):

* measurements, unit UCUM "1" (a fraction in [0, 1]): the probability of each class and the
  low-bone-density score (codes of the local scheme `99OSTEO`, declared in the Coding Scheme
  Identification Sequence, since no standard code exists for them);
* qualitative evaluations: the screening result (low BMD suspected / not suspected) and the most
  probable class;
* algorithm identification (TID 4019): model name and version, with threshold, threshold goal and
  the weights' sha256 as parameters; the device observer is the model too;
* finding site (knee region / bone structure of spine, with laterality) when known, and the
  source image (SOP Class/Instance UID) as the group's source.

The SR is PRELIMINARY and UNVERIFIED: it is a screening aid's output that nobody has signed.

Non-DICOM films (PNG, JPEG...): there is no DICOM image, study or patient to refer to. The outputs
are then written into a new study whose UID is derived from the file's pixels and path (so that
the SR and the SC of one file land in the same study), with an empty patient module (Type 2
attributes present and empty), and *no* image references (no Source Image Sequence, no evidence
sequence, no source image in the measurement group); the Derivation Description / Image Comments
say that the source was a non-DICOM file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import __version__
from ..bundle import Bundle, BundleConfig
from ..errors import ReportError
from ..film import Film
from ..inference import Prediction
from ..scoring import Decision
from .common import ReportExistsError, write_new_file

if TYPE_CHECKING:
    from pydicom import Dataset

    from .common import ScreenedFilm

log = logging.getLogger(__name__)

CODING_SCHEME = "99OSTEO"
CODING_SCHEME_NAME = "osteo-desktop local codes"
MANUFACTURER = "osteo-desktop"
SR_SERIES_NUMBER = 9901
SC_SERIES_NUMBER = 9902
SC_BANNER = "NOT FOR DIAGNOSTIC USE"
SECONDARY_CAPTURE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"

# code values of the local scheme (SH: at most 16 characters)
CODE_SCORE = ("LOWBMD-SCORE", "Low bone mineral density score")
CODE_RESULT = ("LOWBMD-RESULT", "Low bone mineral density screening result")
CODE_SUSPECTED = ("LOWBMD-SUSP", "Low bone density suspected")
CODE_NOT_SUSPECTED = ("LOWBMD-NOTSUSP", "Low bone density not suspected")
CODE_NOT_EVALUATED = ("LOWBMD-NOTEVAL", "Not evaluated: the film is outside what the model was validated for")
CODE_INFO_ONLY = ("LOWBMD-INFO", "Score for information only: not validated for this film")
CODE_BASIS = ("SCORE-BASIS", "Score basis")
CODE_BASIS_IMAGE = ("BASIS-IMAGE", "Image alone")
CODE_BASIS_COMBINED = ("BASIS-COMBINED", "Image combined with age and sex")
CODE_FINDING = ("LOWBMD", "Low bone mineral density")
CODE_TOP_CLASS = ("TOPCLASS", "Most probable class")
PROBABILITY_PREFIX = "Probability of "


def _code(value: str, meaning: str) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator=CODING_SCHEME, meaning=meaning[:64])


def _class_code_values(class_names: tuple[str, ...], prefix: str) -> dict[str, str]:
    """Class name -> a unique SH code value like 'P-OSTEOPOROSIS' (index-based if names clash)."""
    out: dict[str, str] = {}
    for i, c in enumerate(class_names):
        v = (prefix + re.sub(r"[^A-Z0-9]+", "", c.upper()))[:16]
        if v == prefix or v in out.values():
            v = f"{prefix}CLASS{i + 1}"[:16]
        out[c] = v
    return out


def _config_of(bundle: Bundle | BundleConfig | None) -> BundleConfig | None:
    return bundle.config if isinstance(bundle, Bundle) else bundle


def _derived_uid(*parts: str) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=list(parts)))


def _pixel_digest(film: Film) -> str:
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(film.pixels).tobytes()).hexdigest()


def _reference_dataset(film: Film) -> tuple[Dataset, bool]:
    """(dataset to take patient/study from, whether it is a real DICOM image to reference)."""
    from pydicom import Dataset

    hdr = film.header
    ids = film.ids
    if film.is_dicom:
        ds = Dataset()
        if hdr is not None:
            ds.update(hdr)  # a copy: never change the film's own header
        for kw, value in (("StudyInstanceUID", ids.study_instance_uid), ("SeriesInstanceUID", ids.series_instance_uid),
                          ("SOPInstanceUID", ids.sop_instance_uid), ("SOPClassUID", ids.sop_class_uid),
                          ("PatientID", ids.patient_id), ("PatientName", ids.patient_name),
                          ("PatientBirthDate", ids.patient_birth_date), ("PatientSex", ids.patient_sex),
                          ("AccessionNumber", ids.accession_number), ("StudyDate", ids.study_date),
                          ("StudyTime", ids.study_time), ("Modality", ids.modality)):
            if not ds.get(kw) and value:
                setattr(ds, kw, value)
        if all(ds.get(k) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")):
            for kw in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                       "StudyDate", "StudyTime", "ReferringPhysicianName"):
                if kw not in ds:
                    setattr(ds, kw, "")
            return ds, True
        log.warning("%s: DICOM header lacks study/series/instance UIDs; writing outputs as for a non-DICOM file",
                    film.display_name)
    # non-DICOM (or UID-less) source: a stand-in in a new, reproducible study
    digest = _pixel_digest(film)
    ds = Dataset()
    ds.StudyInstanceUID = _derived_uid("osteo-study", digest, str(film.path))
    ds.SeriesInstanceUID = _derived_uid("osteo-series", digest, str(film.path))
    ds.SOPInstanceUID = _derived_uid("osteo-instance", digest, str(film.path))
    ds.SOPClassUID = SECONDARY_CAPTURE_SOP_CLASS
    for kw in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
               "StudyDate", "StudyTime", "ReferringPhysicianName"):
        setattr(ds, kw, "")
    ds.Modality = "OT"
    return ds, False


def _coding_schemes() -> list[Any]:
    from highdicom.coding_schemes import CodingSchemeIdentificationItem

    return [CodingSchemeIdentificationItem(designator=CODING_SCHEME, name=CODING_SCHEME_NAME,
                                           responsible_organization=MANUFACTURER)]


def _software_versions(prediction: Prediction) -> str:
    return f"osteo-desktop {__version__}; model {prediction.model.name} {prediction.model.version}"[:64]


def _save(ds: Any, out_path: str | os.PathLike[str], force: bool) -> Path:
    target = Path(out_path)
    if not force and target.exists():
        raise ReportExistsError(target)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return write_new_file(target, buf.getvalue(), force=force)


def _finding_sites(film: Film, anatomy: str | None) -> list[Any] | None:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    site = {"knee": codes.SCT.KneeRegionStructure, "spine": codes.SCT.BoneStructureOfSpine}.get((anatomy or "").lower())
    if site is None:
        return None
    side = {"R": codes.SCT.Right, "L": codes.SCT.Left}.get((film.ids.laterality or "").strip().upper())
    return [hd.sr.FindingSite(anatomic_location=site, laterality=side)]


def build_dicom_sr(film: Film, prediction: Prediction, bundle: Bundle | BundleConfig | None = None,
                   *, anatomy: str | None = None) -> Any:
    """The Comprehensive SR (TID 1500) dataset for one film's result (not written).

    A film that was not screened gets a result "not evaluated" with the reason and no measurements; a
    score that was not validated for the film gets "for information only", never "suspected"."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if anatomy is None:
        from .common import ScreenedFilm, film_anatomy

        anatomy = film_anatomy(ScreenedFilm(film, prediction))
    ref, is_image = _reference_dataset(film)
    model = prediction.model
    cfg = _config_of(bundle)
    if cfg is not None and cfg.sha256 and model.sha256 and cfg.sha256 != model.sha256:
        log.warning("%s: the bundle given differs from the model that screened the film; the SR names the latter",
                    film.display_name)
    parameters = [f"weights sha256={model.sha256}", f"architecture={model.architecture}"]
    if prediction.threshold is not None:
        parameters = [f"threshold={prediction.threshold:g}", f"threshold goal={prediction.threshold_goal}", *parameters]
    algorithm = hd.sr.AlgorithmIdentification(name=model.name, version=model.version, parameters=parameters)
    unit = codes.UCUM.NoUnits
    measurements: list[Any] = []
    comments: list[str] = []
    score = prediction.low_bmd_score
    if not prediction.screened or score is None:  # nothing was measured: say so, and why
        evaluations = [hd.sr.QualitativeEvaluation(name=_code(*CODE_RESULT), value=_code(*CODE_NOT_EVALUATED))]
        comments.append(f"Not screened: {prediction.not_screened_reason}")
        anatomy = None
    else:
        class_codes = _class_code_values(prediction.class_names, "P-")
        probs = prediction.probabilities or {}
        measurements = [
            hd.sr.Measurement(name=_code(class_codes[c], PROBABILITY_PREFIX + c), value=float(probs.get(c, 0.0)), unit=unit)
            for c in prediction.class_names
        ]
        measurements.append(hd.sr.Measurement(name=_code(*CODE_SCORE), value=float(score), unit=unit))
        if not prediction.validated:
            result = CODE_INFO_ONLY
        else:
            result = CODE_SUSPECTED if prediction.decision == Decision.POSITIVE else CODE_NOT_SUSPECTED
        basis = CODE_BASIS_COMBINED if prediction.score_basis == "combined" else CODE_BASIS_IMAGE
        top_codes = _class_code_values(prediction.class_names, "C-")
        evaluations = [
            hd.sr.QualitativeEvaluation(name=_code(*CODE_RESULT), value=_code(*result)),
            hd.sr.QualitativeEvaluation(name=_code(*CODE_BASIS), value=_code(*basis)),
            hd.sr.QualitativeEvaluation(name=_code(*CODE_TOP_CLASS),
                                        value=_code(top_codes[str(prediction.predicted_class)], str(prediction.predicted_class))),
        ]
        if prediction.reliability:
            comments.append(prediction.reliability)
        inputs = prediction.clinical
        used = [f"{what} {v.value if not isinstance(v.value, float) else round(v.value, 1)} ({v.source})"
                for what, v in (("age", inputs.age), ("sex", inputs.sex), ("weight kg", inputs.weight)) if v is not None]
        if used and prediction.score_basis == "combined":
            comments.append("Clinical inputs used: " + "; ".join(used))
    source_images = None
    if is_image:
        source_images = [hd.sr.SourceImageForMeasurementGroup(referenced_sop_class_uid=ref.SOPClassUID,
                                                              referenced_sop_instance_uid=ref.SOPInstanceUID)]
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="Low bone density screening"),
        finding_type=_code(*CODE_FINDING),
        algorithm_id=algorithm,
        finding_sites=_finding_sites(film, anatomy),
        measurements=measurements,
        qualitative_evaluations=evaluations,
        source_images=source_images,
    )
    for text in comments:  # free-text comments (DCM 121106) inside the measurement group
        group[0].ContentSequence.append(hd.sr.TextContentItem(
            name=codes.DCM.Comment, value=text[:1024], relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_derived_uid("osteo-device", model.name, model.version, model.sha256),
            name=model.name[:64],
            manufacturer_name=MANUFACTURER,
            model_name=f"{model.name} {model.version}"[:64],
        ),
    )
    library = None
    if is_image:
        try:
            hd.sr.ImageLibraryEntryDescriptors(ref)
            library = [ref]
        except Exception as e:  # the image library is optional (TID 1600)
            log.info("%s: no image library entry (%s)", film.display_name, e)
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.SCT.PlainRadiography,
        imaging_measurements=[group],
        referenced_images=library,
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=[ref],
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description="Low BMD screening aid (not a diagnosis)",
        manufacturer_model_name=model.name[:64],
        software_versions=_software_versions(prediction),
        coding_schemes=_coding_schemes(),
    )
    if not is_image:
        for kw in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
            if kw in sr:
                delattr(sr, kw)
    return sr


def write_dicom_sr(film: Film, prediction: Prediction, bundle: Bundle | BundleConfig | None,
                   out_path: str | os.PathLike[str], force: bool = False, *, anatomy: str | None = None) -> Path:
    """Write the TID 1500 Comprehensive SR for one screened film (atomic; no overwrite unless `force`)."""
    if prediction is None:
        raise ReportError(f"{film.display_name}: not screened, so there is no result for a DICOM SR")
    try:
        sr = build_dicom_sr(film, prediction, bundle, anatomy=anatomy)
    except (ValueError, TypeError, AttributeError) as e:
        raise ReportError(f"{film.display_name}: cannot build the DICOM SR ({e})") from e
    path = _save(sr, out_path, force)
    log.info("wrote DICOM SR %s", path)
    return path


def _patient_orientation(ref: Any) -> tuple[str, str] | None:
    po = ref.get("PatientOrientation")
    if po is None:
        return None
    vals = list(po) if not isinstance(po, str) else po.split("\\")
    if len(vals) != 2:
        return None
    try:
        from highdicom.enum import PatientOrientationValuesBiped as P

        return P(str(vals[0])).value, P(str(vals[1])).value
    except ValueError:
        return None


def build_dicom_sc(film: Film, prediction: Prediction) -> Any:
    """The Secondary Capture dataset (RGB, heatmap and banner burned in) for one film (not written)."""
    import highdicom as hd
    from pydicom import Dataset
    from pydicom.sr.codedict import codes

    from .images import secondary_capture_pixels

    ref, is_image = _reference_dataset(film)
    rgb = secondary_capture_pixels(film, prediction)
    orientation = _patient_orientation(ref)
    lat = (ref.get("ImageLaterality") or ref.get("Laterality") or "").strip().upper()
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ref,
        pixel_array=rgb,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=hd.UID(),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_orientation=orientation or ("A", "F"),  # placeholder, emptied below (Type 2)
        laterality=lat if lat in ("R", "L") else None,
        series_description="Low BMD screening heatmap - NOT FOR DIAGNOSTIC USE",
        manufacturer_model_name=prediction.model.name[:64],
        software_versions=_software_versions(prediction),
        transfer_syntax_uid="1.2.840.10008.1.2.1",  # explicit VR little endian
    )
    if orientation is None:
        sc.PatientOrientation = []  # unknown: Type 2, present and empty (zero-length value)
    if is_image:
        try:
            sc.copy_patient_and_study_information(ref)  # the whole patient/study modules, not just the basics
        except Exception as e:  # an unusual SOP class: the basic fields are already there
            log.info("%s: patient/study modules not copied in full (%s)", film.display_name, e)
    sc.ConversionType = "WSD"  # made on a workstation
    sc.BurnedInAnnotation = "YES"
    sc.RecognizableVisualFeatures = "NO"
    if str(ref.get("LossyImageCompression", "")) == "01":
        sc.LossyImageCompression = "01"
    model = prediction.model
    base = (f"{SC_BANNER}. Grad-CAM heatmap of model {model.name} {model.version}: relative model attention, not a "
            f"lesion; low-BMD score {prediction.low_bmd_score:.3f} (threshold {prediction.threshold:.3f}).")
    if is_image:
        sc.DerivationDescription = (f"Source image rendered with its VOI window and the model's Grad-CAM heatmap "
                                    f"blended over it; colour bar and '{SC_BANNER}' burned in.")[:1024]
        src = Dataset()
        src.ReferencedSOPClassUID = ref.SOPClassUID
        src.ReferencedSOPInstanceUID = ref.SOPInstanceUID
        purpose = Dataset()
        code = codes.DCM.SourceImageForImageProcessingOperation
        purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning = code.value, code.scheme_designator, code.meaning
        src.PurposeOfReferenceCodeSequence = [purpose]
        sc.SourceImageSequence = [src]
    else:
        sc.DerivationDescription = ("Derived from a non-DICOM image file; there is no DICOM source image to "
                                    "reference. Heatmap, colour bar and banner burned in.")
    sc.ImageComments = base[:10240]
    return sc


def write_dicom_sc(film: Film, prediction: Prediction, out_path: str | os.PathLike[str], force: bool = False) -> Path:
    """Write a Secondary Capture of the film with heatmap and 'NOT FOR DIAGNOSTIC USE' burned in."""
    if prediction is None or not prediction.screened:
        raise ReportError(f"{film.display_name}: not screened, so there is no heatmap for a secondary capture")
    try:
        sc = build_dicom_sc(film, prediction)
    except (ValueError, TypeError, AttributeError) as e:
        raise ReportError(f"{film.display_name}: cannot build the secondary capture ({e})") from e
    path = _save(sc, out_path, force)
    log.info("wrote DICOM secondary capture %s", path)
    return path


def write_dicom_outputs(items: list[ScreenedFilm], out_dir: str | os.PathLike[str], *,
                        bundle: Bundle | BundleConfig | None, sr: bool = True, sc: bool = False,
                        force: bool = False, errors: list[ReportError] | None = None) -> list[Path]:
    """SR and/or SC for every screened film of a batch, named `<file stem>_SR.dcm` / `<file stem>_SC.dcm`.

    Films that were not screened are skipped (logged). One file's failure (it exists and `force`
    is False, a full disk...) never stops the others: failures are appended to `errors` when given,
    else the first is raised once every other file has been written.
    """
    from .common import film_anatomy, safe_filename_part, unique_path

    out = Path(out_dir)
    taken: set[Path] = set()
    jobs: list[tuple[Any, str, Path]] = []
    for it in items:
        if it.prediction is None:
            log.info("%s: could not be read; no DICOM outputs", it.film.display_name)
            continue
        stem = safe_filename_part(it.film.path.stem, "film")
        for kind, wanted in (("SR", sr), ("SC", sc and it.prediction.screened)):  # no heatmap: no SC
            if wanted:
                jobs.append((it, kind, unique_path(out / f"{stem}_{kind}.dcm", taken)))
    written: list[Path] = []
    failures: list[ReportError] = []
    for it, kind, path in jobs:
        try:
            if kind == "SR":
                written.append(write_dicom_sr(it.film, it.prediction, bundle, path, force=force, anatomy=film_anatomy(it)))
            else:
                written.append(write_dicom_sc(it.film, it.prediction, path, force=force))
        except ReportError as e:
            failures.append(e)
        except OSError as e:
            from ..os_errors import describe_os_error

            failures.append(ReportError(describe_os_error(e, path)))
    if errors is not None:
        errors.extend(failures)
    elif failures:
        raise failures[0]
    return written
