"""A film's measurements as a DICOM Grayscale Softcopy Presentation State (GSPS), written with
highdicom and read back with pydicom, so that they travel with the study to a PACS and show in other
viewers (Weasis, RadiAnt, OHIF draw GSPS graphics and their text).

What goes in (all graphics in PIXEL units, on the layer MEASUREMENTS, one graphic group per
measurement, the group label naming its kind):

* distance, calibration: a POLYLINE of 2 points; angle: a POLYLINE of 3 (arm end, vertex, arm end);
  Cobb angle: two POLYLINEs of 2; rectangle: a closed POLYLINE of 5; ellipse: an ELLIPSE (major
  axis end points, then minor axis end points);
* each measurement's value as a text object anchored at its last point (what other viewers show);
* the calibration's known length in its group description, and the calibrated pixel size as the
  Displayed Area's Presentation Pixel Spacing (the standard place for it);
* the reader's window (Softcopy VOI LUT), when one is set.

`read_gsps` accepts only a presentation state that references this very film (its SOP Instance
UID); graphics it does not recognise are skipped and counted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from .. import __version__
from .errors import OsteoError
from .film import Film, Window
from .measure import Calibration, Kind, MeasureError, Measurement, film_scale, measurement_lines, value_unit

log = logging.getLogger(__name__)

MANUFACTURER = "osteo-desktop"
CONTENT_LABEL = "OSTEO_MEASURE"  # CS, at most 16 characters
LAYER = "MEASUREMENTS"
GSPS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.11.1"
_KNOWN = re.compile(r"known length ([0-9.eE+-]+) mm")
_REQUIRED_REF = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


class PresentationStateError(OsteoError):
    """A presentation state that cannot be written for, or read onto, a film."""


@dataclass
class FilmMeasurements:
    """What a reader measured on one film, and their calibration (None: the film's own)."""

    items: list[Measurement] = field(default_factory=list)
    calibration: Calibration | None = None

    @property
    def empty(self) -> bool:
        return not self.items and self.calibration is None


def _reference(film: Film) -> Dataset:
    """A copy of the film's header with what highdicom needs to reference it (never the film's own)."""
    if not film.is_dicom or film.header is None:
        raise PresentationStateError(f"{film.path}: a presentation state needs a DICOM film; keep the measurements in a sidecar.")
    ds = Dataset()
    ds.update(film.header)
    missing = [k for k in _REQUIRED_REF if not str(ds.get(k, "") or "").strip()]
    if missing:
        raise PresentationStateError(f"{film.path}: the DICOM header lacks {', '.join(missing)}; no presentation state can reference it.")
    for kw in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
               "StudyDate", "StudyTime", "ReferringPhysicianName"):
        if kw not in ds:
            setattr(ds, kw, "")
    return ds


def _polyline(points: list[tuple[float, float]], group: Any) -> Any:
    import highdicom as hd

    return hd.pr.GraphicObject("POLYLINE", np.asarray(points, dtype=np.float64), "PIXEL", graphic_group=group)


def _graphics(m: Measurement, group: Any) -> list[Any]:
    import highdicom as hd

    p = [(float(x), float(y)) for x, y in m.points]
    if m.kind in (Kind.DISTANCE, Kind.CALIBRATION, Kind.ANGLE):
        return [_polyline(p, group)]
    if m.kind is Kind.COBB:
        return [_polyline(p[:2], group), _polyline(p[2:], group)]
    (x0, y0), (x1, y1) = p
    if m.kind is Kind.RECTANGLE:
        return [_polyline([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], group)]
    cx, cy, a, b = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
    horizontal, vertical = [(cx - a, cy), (cx + a, cy)], [(cx, cy - b), (cx, cy + b)]
    axes = horizontal + vertical if a >= b else vertical + horizontal  # major axis first
    return [hd.pr.GraphicObject("ELLIPSE", np.asarray(axes, dtype=np.float64), "PIXEL", graphic_group=group)]


def build_gsps(film: Film, fm: FilmMeasurements, *, window: Window | None = None, series_uid: str | None = None,
               content_description: str = "Measurements made in osteo-desktop") -> Dataset:
    """The presentation state dataset (not written). Raises PresentationStateError."""
    import highdicom as hd
    from pydicom.uid import generate_uid

    ref = _reference(film)
    scale = film_scale(film, fm.calibration)
    unit = value_unit(film)
    layer = hd.pr.GraphicLayer(LAYER, 1, "osteo-desktop measurements")
    groups, objects, texts = [], [], []
    items: list[tuple[Measurement, str]] = [(m, "") for m in fm.items]
    if fm.calibration is not None:
        c = fm.calibration
        items.append((Measurement(Kind.CALIBRATION, (c.p0, c.p1)), f"known length {c.known_mm:g} mm"))
    for gid, (m, description) in enumerate(items, start=1):
        group = hd.pr.GraphicGroup(gid, m.kind.value.upper(), description or None)
        groups.append(group)
        objects.extend(_graphics(m, group))
        text = "; ".join(measurement_lines(m, film.pixels, scale, unit))[:1024]
        rows, cols = film.shape
        x, y = m.points[-1]
        anchor = (min(max(float(x), 0.0), float(cols)), min(max(float(y), 0.0), float(rows)))
        texts.append(hd.pr.TextObject(text, "PIXEL", anchor_point=anchor, graphic_group=group))
    annotations = [hd.pr.GraphicAnnotation([ref], layer, graphic_objects=objects or None, text_objects=texts or None)] if items else None
    voi = None
    if window is not None and window.width > 0:
        voi = [hd.pr.SoftcopyVOILUTTransformation(window_center=float(window.center), window_width=float(window.width))]
    try:
        pr = hd.pr.GrayscaleSoftcopyPresentationState(
            referenced_images=[ref], series_instance_uid=series_uid or generate_uid(), series_number=9901,
            sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
            manufacturer_model_name=MANUFACTURER, software_versions=f"osteo-desktop {__version__}"[:64],
            device_serial_number="0", content_label=CONTENT_LABEL, content_description=content_description[:64],
            graphic_annotations=annotations, graphic_layers=[layer] if items else None, graphic_groups=groups or None,
            voi_lut_transformations=voi,
        )
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        raise PresentationStateError(f"{film.path}: cannot build the presentation state ({e}).") from e
    if fm.calibration is not None and scale.calibrated:  # the calibrated pixel size, where the standard keeps it
        for item in pr.get("DisplayedAreaSelectionSequence", []):
            if "PresentationPixelAspectRatio" in item:
                del item.PresentationPixelAspectRatio
            item.PresentationPixelSpacing = [f"{scale.row_mm:.6g}", f"{scale.col_mm:.6g}"]
    return pr


def is_ours(ds: Dataset) -> bool:
    """A presentation state this program wrote (the only kind it ever replaces)."""
    return (str(ds.get("SOPClassUID", "")) == GSPS_SOP_CLASS and str(ds.get("Manufacturer", "")) == MANUFACTURER
            and str(ds.get("ContentLabel", "")) == CONTENT_LABEL)


def references(ds: Dataset, sop_instance_uid: str) -> bool:
    for series in ds.get("ReferencedSeriesSequence", []) or []:
        for image in series.get("ReferencedImageSequence", []) or []:
            if str(image.get("ReferencedSOPInstanceUID", "")) == sop_instance_uid:
                return True
    return False


def _points(obj: Dataset) -> list[tuple[float, float]]:
    data = [float(v) for v in obj.GraphicData]
    return [(data[i], data[i + 1]) for i in range(0, len(data) - 1, 2)]


def _from_graphics(kind: Kind, objs: list[Dataset]) -> Measurement:
    shapes = [(str(o.get("GraphicType", "")), _points(o)) for o in objs]
    if kind is Kind.COBB:
        lines = [p for t, p in shapes if t == "POLYLINE" and len(p) == 2]
        if len(lines) != 2:
            raise MeasureError("a Cobb angle needs two lines")
        return Measurement(kind, (*lines[0], *lines[1]))
    (gtype, pts), = shapes
    if kind is Kind.ELLIPSE:
        if gtype != "ELLIPSE" or len(pts) != 4:
            raise MeasureError("an ellipse needs 4 axis end points")
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return Measurement(kind, ((min(xs), min(ys)), (max(xs), max(ys))))
    if kind is Kind.RECTANGLE:
        if len(pts) != 5:
            raise MeasureError("a rectangle needs a closed polyline of 5 points")
        return Measurement(kind, (pts[0], pts[2]))
    return Measurement(kind, tuple(pts))


def read_gsps(ds: Dataset, film: Film) -> tuple[FilmMeasurements, list[str]]:
    """The measurements of a presentation state on `film`, and notes on what was skipped.

    Raises PresentationStateError when it is not a GSPS, or does not reference this film."""
    if str(ds.get("SOPClassUID", "")) != GSPS_SOP_CLASS:
        raise PresentationStateError(f"{film.path}: not a grayscale softcopy presentation state.")
    sop = film.ids.sop_instance_uid
    if not sop or not references(ds, sop):
        raise PresentationStateError(f"{film.path}: the presentation state is for another image.")
    kinds: dict[int, tuple[Kind, str]] = {}
    for g in ds.get("GraphicGroupSequence", []) or []:
        try:
            kinds[int(g.GraphicGroupID)] = (Kind(str(g.GraphicGroupLabel).strip().lower()), str(g.get("GraphicGroupDescription", "")))
        except (ValueError, AttributeError):
            continue
    by_group: dict[int, list[Dataset]] = {}
    skipped = 0
    for ann in ds.get("GraphicAnnotationSequence", []) or []:
        for obj in ann.get("GraphicObjectSequence", []) or []:
            if str(obj.get("GraphicAnnotationUnits", "")) != "PIXEL":
                skipped += 1
                continue
            gid = obj.get("GraphicGroupID")
            if gid is None or int(gid) not in kinds:
                skipped += 1
                continue
            by_group.setdefault(int(gid), []).append(obj)
    out = FilmMeasurements()
    for gid in sorted(by_group):
        kind, description = kinds[gid]
        try:
            m = _from_graphics(kind, by_group[gid])
            if kind is Kind.CALIBRATION:
                match = _KNOWN.search(description)
                if match is None:
                    raise MeasureError("the calibration has no known length")
                out.calibration = Calibration(m.points[0], m.points[1], float(match.group(1)))
            else:
                out.items.append(m)
        except (MeasureError, ValueError, TypeError, AttributeError) as e:
            log.debug("graphic group %d (%s) skipped: %s", gid, kind.value, e)
            skipped += 1
    notes = []
    if skipped:
        notes.append(f"{film.display_name}: {skipped} graphic(s) of the presentation state were not recognised and are not shown.")
    return out, notes
