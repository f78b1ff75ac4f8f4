"""Measurements on a film: distance, angle, Cobb angle, ellipse and rectangle ROIs with statistics,
and a user calibration from an object of known size. Geometry and numbers only (no Qt): the viewer
draws and edits these, the presentation state and sidecar files keep them.

Coordinates are image coordinates, as in the film view and in DICOM's PIXEL annotation units:
x = column, y = row, and pixel (r, c) covers [c, c+1] x [r, r+1] (so its centre is (c+0.5, r+0.5)).

Physical sizes come from a `Scale`: the film's PixelSpacing (patient plane), its ImagerPixelSpacing
(at the detector: magnification not corrected, and every number says so), or a user calibration
drawn on an object of known size, which then wins and labels every number "calibrated by user".
Angles are computed in millimetres when the pixels are not square.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from .film import Film, Spacing, SpacingSource

Point = tuple[float, float]  # (x, y) = (column, row), image coordinates


class Kind(str, Enum):
    DISTANCE = "distance"
    ANGLE = "angle"  # three points: arm end, vertex, arm end
    COBB = "cobb"  # four points: line 1 (p0, p1) and line 2 (p2, p3)
    ELLIPSE = "ellipse"  # two points: opposite corners of the bounding box
    RECTANGLE = "rectangle"  # two points: opposite corners
    CALIBRATION = "calibration"  # two points: the ends of an object of known length


#: How many points each kind is made of (the tools collect this many clicks or drag ends).
POINTS = {Kind.DISTANCE: 2, Kind.ANGLE: 3, Kind.COBB: 4, Kind.ELLIPSE: 2, Kind.RECTANGLE: 2, Kind.CALIBRATION: 2}
ROI_KINDS = (Kind.ELLIPSE, Kind.RECTANGLE)
MIN_SIZE_PX = 1.0  # a distance, arm or box side shorter than this is a click, not a measurement


class MeasureError(ValueError):
    """A measurement or calibration that cannot be made (the message says why and what to do)."""


@dataclass(frozen=True)
class Measurement:
    kind: Kind
    points: tuple[Point, ...]

    def __post_init__(self) -> None:
        if len(self.points) != POINTS[self.kind]:
            raise MeasureError(f"a {self.kind.value} measurement needs {POINTS[self.kind]} points, not {len(self.points)}")
        if not all(math.isfinite(v) for p in self.points for v in p):
            raise MeasureError(f"a {self.kind.value} measurement has a point that is not a finite number")

    def moved(self, index: int, point: Point) -> Measurement:
        pts = list(self.points)
        pts[index] = (float(point[0]), float(point[1]))
        return Measurement(self.kind, tuple(pts))

    def translated(self, dx: float, dy: float) -> Measurement:
        return Measurement(self.kind, tuple((x + dx, y + dy) for x, y in self.points))

    def is_degenerate(self) -> bool:
        """Too small to mean anything (a click without a drag): every segment or box side < 1 px."""
        p = self.points
        if self.kind in ROI_KINDS:
            return abs(p[1][0] - p[0][0]) < MIN_SIZE_PX or abs(p[1][1] - p[0][1]) < MIN_SIZE_PX
        if self.kind is Kind.ANGLE:
            return _len(p[0], p[1]) < MIN_SIZE_PX or _len(p[1], p[2]) < MIN_SIZE_PX
        if self.kind is Kind.COBB:
            return _len(p[0], p[1]) < MIN_SIZE_PX or _len(p[2], p[3]) < MIN_SIZE_PX
        return _len(p[0], p[1]) < MIN_SIZE_PX

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "points": [[round(x, 3), round(y, 3)] for x, y in self.points]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measurement:
        try:
            kind = Kind(d["kind"])
            pts = tuple((float(p[0]), float(p[1])) for p in d["points"])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise MeasureError(f"not a measurement: {d!r:.80}") from e
        return cls(kind, pts)


def _len(a: Point, b: Point) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


# -- calibration ----------------------------------------------------------------------------------
class ScaleSource(str, Enum):
    PIXEL_SPACING = "PixelSpacing"
    IMAGER_PIXEL_SPACING = "ImagerPixelSpacing"
    USER = "user"
    NONE = "none"


@dataclass(frozen=True)
class Scale:
    """Millimetres per pixel along rows (vertical) and columns (horizontal), and where they come from."""

    row_mm: float | None = None
    col_mm: float | None = None
    source: ScaleSource = ScaleSource.NONE

    @property
    def calibrated(self) -> bool:
        return self.source is not ScaleSource.NONE and bool(self.row_mm) and bool(self.col_mm)

    @property
    def label(self) -> str:
        """What a number measured with this scale must say about its calibration."""
        return {
            ScaleSource.PIXEL_SPACING: "(PixelSpacing)",
            ScaleSource.IMAGER_PIXEL_SPACING: "at detector (ImagerPixelSpacing)",
            ScaleSource.USER: "(calibrated by user)",
        }.get(self.source, "(no calibration)") if self.calibrated else "(no calibration)"

    def describe(self) -> str:
        if not self.calibrated:
            return "no calibration: distances in pixels"
        if self.source is ScaleSource.USER:
            return f"calibrated by user: {self.col_mm:.4g} x {self.row_mm:.4g} mm per pixel"
        if self.source is ScaleSource.IMAGER_PIXEL_SPACING:
            return "ImagerPixelSpacing: measured at the detector (magnification not corrected)"
        return "PixelSpacing"

    def vector_mm(self, a: Point, b: Point) -> tuple[float, float]:
        """b - a in millimetres (in pixels when not calibrated)."""
        dx, dy = b[0] - a[0], b[1] - a[1]
        if self.calibrated:
            assert self.row_mm is not None and self.col_mm is not None
            return dx * self.col_mm, dy * self.row_mm
        return dx, dy

    def length(self, a: Point, b: Point) -> float:
        """Distance a-b in mm (in pixels when not calibrated)."""
        return math.hypot(*self.vector_mm(a, b))

    def length_text(self, a: Point, b: Point) -> str:
        if self.calibrated:
            return f"{self.length(a, b):.1f} mm {self.label}"
        return f"{self.length(a, b):.0f} px (no calibration)"


def spacing_scale(spacing: Spacing) -> Scale:
    """The film's own calibration as a Scale."""
    if not spacing.calibrated:
        return Scale()
    src = ScaleSource.IMAGER_PIXEL_SPACING if spacing.source is SpacingSource.IMAGER_PIXEL_SPACING else ScaleSource.PIXEL_SPACING
    return Scale(spacing.row_mm, spacing.col_mm, src)


@dataclass(frozen=True)
class Calibration:
    """A user calibration: the line drawn along an object whose true length is `known_mm`."""

    p0: Point
    p1: Point
    known_mm: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.known_mm) and self.known_mm > 0):
            raise MeasureError(f"the known length must be a positive number of millimetres, not {self.known_mm!r}")
        if _len(self.p0, self.p1) < MIN_SIZE_PX:
            raise MeasureError("the calibration line is shorter than a pixel: draw it along the whole object")

    def scale(self, spacing: Spacing) -> Scale:
        """The film's pixel size after this calibration. With a film calibration the pixel aspect it
        gives is kept (both axes scaled alike); without one the pixels are taken as square."""
        base = spacing_scale(spacing)
        if base.calibrated:
            assert base.row_mm is not None and base.col_mm is not None
            f = self.known_mm / base.length(self.p0, self.p1)
            return Scale(base.row_mm * f, base.col_mm * f, ScaleSource.USER)
        mm = self.known_mm / _len(self.p0, self.p1)
        return Scale(mm, mm, ScaleSource.USER)

    def to_dict(self) -> dict[str, Any]:
        return {"points": [[round(v, 3) for v in self.p0], [round(v, 3) for v in self.p1]], "known_mm": self.known_mm}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        try:
            (x0, y0), (x1, y1) = d["points"]
            return cls((float(x0), float(y0)), (float(x1), float(y1)), float(d["known_mm"]))
        except (KeyError, TypeError, ValueError) as e:
            raise MeasureError(f"not a calibration: {d!r:.80}") from e


def film_scale(film: Film, calibration: Calibration | None = None) -> Scale:
    """The scale measurements on `film` use: the user's calibration if there is one, else the film's."""
    return calibration.scale(film.spacing) if calibration is not None else spacing_scale(film.spacing)


# -- numbers ----------------------------------------------------------------------------------------
def angle_deg(a: Point, vertex: Point, b: Point, scale: Scale = Scale()) -> float:
    """The angle a-vertex-b in degrees, 0..180 (in millimetre space when the pixels are not square)."""
    u, v = scale.vector_mm(vertex, a), scale.vector_mm(vertex, b)
    nu, nv = math.hypot(*u), math.hypot(*v)
    if nu == 0 or nv == 0:
        return 0.0
    c = max(-1.0, min(1.0, (u[0] * v[0] + u[1] * v[1]) / (nu * nv)))
    return math.degrees(math.acos(c))


def cobb_deg(p0: Point, p1: Point, p2: Point, p3: Point, scale: Scale = Scale()) -> float:
    """The Cobb angle between line p0-p1 and line p2-p3: the acute angle between the two lines,
    0..90 degrees, whichever way each line was drawn."""
    u, v = scale.vector_mm(p0, p1), scale.vector_mm(p2, p3)
    nu, nv = math.hypot(*u), math.hypot(*v)
    if nu == 0 or nv == 0:
        return 0.0
    c = min(1.0, abs(u[0] * v[0] + u[1] * v[1]) / (nu * nv))
    return math.degrees(math.acos(c))


@dataclass(frozen=True)
class RoiStats:
    """Pixel statistics inside an ROI, in the film's value units (`unit`)."""

    n: int  # pixels whose centre lies inside
    mean: float
    sd: float  # sample standard deviation (n - 1), 0 for one pixel
    minimum: float
    maximum: float
    area: float  # area of the drawn shape, mm^2 (px^2 when not calibrated)
    scale: Scale
    unit: str

    def lines(self) -> list[str]:
        area = f"area {self.area:.1f} mm² {self.scale.label}" if self.scale.calibrated else f"area {self.area:.0f} px² (no calibration)"
        return [f"mean {_num(self.mean)}, SD {_num(self.sd)} ({self.unit})",
                f"min {_num(self.minimum)}, max {_num(self.maximum)}, n {self.n}", area]


def _num(v: float) -> str:
    return "—" if not math.isfinite(v) else (f"{v:.1f}" if abs(v) < 1e5 else f"{v:.4g}")


def roi_mask(m: Measurement, shape: tuple[int, int]) -> tuple[slice, slice, np.ndarray]:
    """(row slice, column slice, boolean mask over that window) of the pixels whose centre is inside."""
    if m.kind not in ROI_KINDS:
        raise MeasureError(f"a {m.kind.value} measurement has no area")
    (x0, y0), (x1, y1) = m.points
    lx, hx, ly, hy = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    rows, cols = shape
    c0, c1 = max(0, math.floor(lx)), min(cols, math.ceil(hx))
    r0, r1 = max(0, math.floor(ly)), min(rows, math.ceil(hy))
    if c1 <= c0 or r1 <= r0:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0), bool)
    yc = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5
    xc = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5
    if m.kind is Kind.RECTANGLE:
        mask = (xc >= lx) & (xc <= hx) & (yc >= ly) & (yc <= hy)
    else:
        cx, cy, a, b = (lx + hx) / 2, (ly + hy) / 2, max((hx - lx) / 2, 1e-9), max((hy - ly) / 2, 1e-9)
        mask = ((xc - cx) / a) ** 2 + ((yc - cy) / b) ** 2 <= 1.0
    return slice(r0, r1), slice(c0, c1), mask


def roi_area(m: Measurement, scale: Scale) -> float:
    """Area of the drawn ellipse or rectangle in mm^2 (px^2 when not calibrated)."""
    (x0, y0), (x1, y1) = m.points
    w, h = abs(x1 - x0), abs(y1 - y0)
    if scale.calibrated:
        assert scale.row_mm is not None and scale.col_mm is not None
        w, h = w * scale.col_mm, h * scale.row_mm
    return math.pi * w * h / 4.0 if m.kind is Kind.ELLIPSE else w * h


def roi_stats(m: Measurement, pixels: np.ndarray, scale: Scale = Scale(), unit: str = "pixel values") -> RoiStats:
    rs, cs, mask = roi_mask(m, (int(pixels.shape[0]), int(pixels.shape[1])))
    values = pixels[rs, cs][mask].astype(np.float64)
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        nan = float("nan")
        return RoiStats(0, nan, nan, nan, nan, roi_area(m, scale), scale, unit)
    sd = float(values.std(ddof=1)) if n > 1 else 0.0
    return RoiStats(n, float(values.mean()), sd, float(values.min()), float(values.max()), roi_area(m, scale), scale, unit)


def value_unit(film: Film) -> str:
    """What the film's pixel values are: stored values, modality values (after a rescale or Modality
    LUT, with RescaleType when given), or the grey levels of a PNG/JPEG/TIFF."""
    if not film.is_dicom:
        return "pixel values"
    ds = film.header
    if ds is None:
        return "stored values"
    try:
        if ds.get("ModalityLUTSequence"):
            return "modality values"
        slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
        rescaled = (slope not in (None, "") and float(slope) not in (0.0, 1.0)) or (intercept not in (None, "") and float(intercept) != 0.0)
    except (TypeError, ValueError, AttributeError):
        return "stored values"
    if not rescaled:
        return "stored values"
    rtype = str(ds.get("RescaleType", "") or "").strip()
    return f"modality values, {rtype}" if rtype and rtype.upper() != "US" else "modality values"


def measurement_lines(m: Measurement, pixels: np.ndarray, scale: Scale, unit: str) -> list[str]:
    """The measurement in words, with its calibration source."""
    p = m.points
    if m.kind is Kind.DISTANCE:
        return [scale.length_text(p[0], p[1])]
    if m.kind is Kind.CALIBRATION:
        return [f"calibration: {scale.length_text(p[0], p[1])}"]
    if m.kind is Kind.ANGLE:
        return [f"{angle_deg(p[0], p[1], p[2], scale):.1f}°"]
    if m.kind is Kind.COBB:
        return [f"Cobb {cobb_deg(p[0], p[1], p[2], p[3], scale):.1f}°"]
    return roi_stats(m, pixels, scale, unit).lines()


def summary(m: Measurement, film: Film, scale: Scale) -> str:
    """One line for the status bar."""
    return ", ".join(measurement_lines(m, film.pixels, scale, value_unit(film)))
