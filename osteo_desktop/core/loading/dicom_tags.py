"""DICOM tags -> the film's fields: windows, VOI LUT, pixel spacing, identifiers; and tolerant tag
access (real files carry odd values; a bad tag must not make a film unreadable: it becomes a warning
naming the file and the tag)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from ..film import FilmIdentifiers, Spacing, SpacingSource, VoiLut, Window
from ..text import strip_controls

_VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def windows(ds: Dataset, name: str, warnings: list[str]) -> tuple[Window, ...]:
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return ()
    try:
        centers = [float(v) for v in as_list(ds.WindowCenter)]
        widths = [float(v) for v in as_list(ds.WindowWidth)]
    except (TypeError, ValueError) as e:
        warnings.append(f"{name}: the file's Window Center/Width cannot be read ({e}); ignored.")
        return ()
    if len(centers) != len(widths):
        warnings.append(
            f"{name}: {len(centers)} window centres but {len(widths)} widths; only the first "
            f"{min(len(centers), len(widths))} pair(s) are used."
        )
    names = [strip_controls(v).strip() for v in as_list(ds.get("WindowCenterWidthExplanation", ""))]
    function = tag_str(ds, "VOILUTFunction").upper() or "LINEAR"
    if function not in _VOI_FUNCTIONS:
        warnings.append(f"{name}: unknown VOI LUT Function '{function}'; LINEAR is used.")
        function = "LINEAR"
    out: list[Window] = []
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        minimum = 1.0 if function == "LINEAR" else 0.0
        if not (math.isfinite(c) and math.isfinite(w)) or w < minimum or w <= 0:
            warnings.append(f"{name}: invalid window (W {w:g} / L {c:g}) in the file; ignored.")
            continue
        label = names[i] if i < len(names) and names[i] else ("file window" if i == 0 else f"file window {i + 1}")
        out.append(Window(center=c, width=w, name=label, function=function))
    return tuple(out)


def voi_lut(ds: Dataset, name: str, warnings: list[str]) -> VoiLut | None:
    seq = ds.get("VOILUTSequence")
    if not seq:
        return None
    item = seq[0]
    try:
        nr, first, bits = (int(v) for v in item.LUTDescriptor)
        data = item.LUTData
        if isinstance(data, (bytes, bytearray)):
            little = ds.original_encoding[1] is not False
            table = np.frombuffer(data, dtype="<u2" if little else ">u2")
        else:
            table = np.asarray(as_list(data), dtype=np.float64)
    except Exception as e:
        warnings.append(f"{name}: the file's VOI LUT cannot be read ({e}); it is ignored.")
        return None
    nr = nr or 65536
    if table.size == 0:
        warnings.append(f"{name}: the file's VOI LUT is empty; it is ignored.")
        return None
    if table.size < nr:
        warnings.append(f"{name}: the VOI LUT has {table.size} entries but declares {nr}; the entries present are used.")
    table = np.array(table[:nr], dtype=np.float64)
    if tag_int(ds, "PixelRepresentation", 0) == 1 and first >= 32768:
        first -= 65536  # first mapped value is signed for signed pixels (US-encoded descriptor)
    top = int(table.max())
    if bits <= 0 or bits > 16 or top >= (1 << bits):  # descriptor says too few bits: trust the data
        bits = max(1, top.bit_length())
    if len(seq) > 1:
        warnings.append(f"{name}: the file has {len(seq)} VOI LUTs; the first one is used.")
    label = tag_str(item, "LUTExplanation") or "file VOI LUT"
    return VoiLut(first_mapped=float(first), table=table, output_bits=bits, name=label)


def spacing(ds: Dataset, name: str, warnings: list[str]) -> Spacing:
    candidates: list[tuple[str, Any]] = [
        ("PixelSpacing", ds.get("PixelSpacing")),
        ("ImagerPixelSpacing", ds.get("ImagerPixelSpacing")),
    ]
    # Enhanced (multi-frame) objects keep PixelSpacing in the shared functional groups.
    try:
        shared = ds.get("SharedFunctionalGroupsSequence")
        measures = shared[0].get("PixelMeasuresSequence") if shared else None
        if measures and candidates[0][1] is None:
            candidates[0] = ("PixelSpacing", measures[0].get("PixelSpacing"))
    except Exception:  # malformed functional groups: ignore
        pass
    sources = {"PixelSpacing": SpacingSource.PIXEL_SPACING, "ImagerPixelSpacing": SpacingSource.IMAGER_PIXEL_SPACING}
    for keyword, value in candidates:
        if value is None or value == "":
            continue
        try:
            row, col = (float(v) for v in as_list(value)[:2])
            if not (math.isfinite(row) and math.isfinite(col) and row > 0 and col > 0):
                raise ValueError("not positive")
        except (TypeError, ValueError):
            warnings.append(f"{name}: {keyword} '{value}' is not a valid pixel size; it is ignored.")
            continue
        return Spacing(row_mm=row, col_mm=col, source=sources[keyword])
    return Spacing()


def identifiers(ds: Dataset) -> FilmIdentifiers:
    laterality = tag_str(ds, "ImageLaterality") or tag_str(ds, "Laterality")
    return FilmIdentifiers(
        patient_name=tag_str(ds, "PatientName"),
        patient_id=tag_str(ds, "PatientID"),
        patient_birth_date=tag_str(ds, "PatientBirthDate"),
        patient_sex=tag_str(ds, "PatientSex"),
        patient_age=tag_str(ds, "PatientAge"),
        study_date=tag_str(ds, "StudyDate"),
        study_time=tag_str(ds, "StudyTime"),
        acquisition_date=tag_str(ds, "AcquisitionDate") or tag_str(ds, "ContentDate"),
        patient_weight=tag_str(ds, "PatientWeight"),
        study_description=tag_str(ds, "StudyDescription"),
        series_description=tag_str(ds, "SeriesDescription"),
        accession_number=tag_str(ds, "AccessionNumber"),
        study_instance_uid=tag_str(ds, "StudyInstanceUID"),
        series_instance_uid=tag_str(ds, "SeriesInstanceUID"),
        sop_instance_uid=tag_str(ds, "SOPInstanceUID"),
        sop_class_uid=tag_str(ds, "SOPClassUID"),
        body_part=tag_str(ds, "BodyPartExamined"),
        view_position=tag_str(ds, "ViewPosition"),
        laterality=laterality,
        modality=tag_str(ds, "Modality"),
        manufacturer=tag_str(ds, "Manufacturer"),
        institution=tag_str(ds, "InstitutionName"),
    )


# --------------------------------------------------------------------------------------------
# Tolerant tag access (real files carry odd values; a bad tag must not make a film unreadable)
# --------------------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def tag_str(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:
        return ""
    if value is None:
        return ""
    if isinstance(value, (MultiValue, list, tuple)):
        value = "\\".join(str(v) for v in value)
    return strip_controls(value).strip()  # no escape sequence or newline from a file reaches a label


def tag_int(ds: Dataset, keyword: str, default: int = 0) -> int:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def tag_float(ds: Dataset, keyword: str, name: str, warnings: list[str]) -> float | None:
    try:
        value = ds.get(keyword)
        if value in (None, ""):
            return None
        f = float(value)
    except (TypeError, ValueError):
        warnings.append(f"{name}: {keyword} cannot be read; it is ignored.")
        return None
    if not math.isfinite(f):
        warnings.append(f"{name}: {keyword} is not a finite number; it is ignored.")
        return None
    return f
