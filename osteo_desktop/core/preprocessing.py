"""The one preprocessing function: displayed film -> model input tensor.

Training (`training/`) and the application both call `preprocess_image` (or `preprocess_film`,
which first renders the film through the display pipeline), so what the model saw in training is
exactly what it sees in the clinic: the windowed, bone-bright picture in [0, 1], letterboxed into
the bundle's input size, replicated to the model's channels, normalised with the bundle's mean/std.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .display import render
from .film import Film


@dataclass(frozen=True)
class PreprocessConfig:
    input_size: tuple[int, int] = (512, 512)  # (height, width)
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    resize: str = "letterbox"  # "letterbox" keeps the aspect ratio (pads); "stretch" does not
    in_chans: int = 3
    pad_value: float = 0.0  # in [0, 1] display units, before normalisation

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessConfig:
        height, width = (int(v) for v in d.get("input_size", (512, 512)))  # ValueError unless two numbers
        return cls(
            input_size=(height, width),
            mean=tuple(float(v) for v in d.get("mean", (0.0, 0.0, 0.0))),
            std=tuple(float(v) for v in d.get("std", (1.0, 1.0, 1.0))),
            resize=str(d.get("resize", "letterbox")),
            in_chans=int(d.get("in_chans", 3)),
            pad_value=float(d.get("pad_value", 0.0)),
        )

    def to_dict(self) -> dict:
        return {
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": self.resize,
            "in_chans": self.in_chans,
            "pad_value": self.pad_value,
        }


@dataclass(frozen=True)
class Geometry:
    """How the source image sits inside the model input (to map heatmaps back)."""

    source_shape: tuple[int, int]  # (rows, cols) of the source image
    input_size: tuple[int, int]  # (height, width) of the model input
    top: int  # first input row covered by the image
    left: int
    content_h: int  # rows of the input covered by the image
    content_w: int


def content_size(shape: tuple[int, ...], cfg: PreprocessConfig, scale: float = 1.0) -> tuple[int, int]:
    """(rows, cols) an image of `shape` covers inside the model input (letterbox keeps its aspect
    ratio; stretch fills the input). `scale` > 1 sizes it for a larger input (training caches)."""
    h_in, w_in = int(shape[0]), int(shape[1])
    H, W = cfg.input_size
    H, W = int(round(H * scale)), int(round(W * scale))
    if cfg.resize == "stretch":
        return H, W
    s = min(H / h_in, W / w_in)
    return max(1, min(H, int(round(h_in * s)))), max(1, min(W, int(round(w_in * s))))


def resize_like_preprocessing(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D image to `size` (rows, cols) the way preprocessing does (area when shrinking)."""
    ch, cw = size
    h, w = img.shape[:2]
    interp = cv2.INTER_AREA if (ch < h or cw < w) else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(img, dtype=np.float32), (cw, ch), interpolation=interp)


def fit_to_input(image01: np.ndarray, cfg: PreprocessConfig) -> tuple[np.ndarray, Geometry]:
    """Resize a 2-D [0, 1] image into the input size (letterbox or stretch)."""
    if image01.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {image01.shape}")
    h_in, w_in = image01.shape
    H, W = cfg.input_size
    ch, cw = content_size((h_in, w_in), cfg)
    top, left = (H - ch) // 2, (W - cw) // 2
    resized = resize_like_preprocessing(image01, (ch, cw))
    out = np.full((H, W), cfg.pad_value, dtype=np.float32)
    out[top : top + ch, left : left + cw] = resized
    return out, Geometry((h_in, w_in), (H, W), top, left, ch, cw)


def normalise(fitted: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """(H, W) [0, 1] -> (C, H, W) float32 normalised with the bundle's mean/std."""
    chans = np.repeat(fitted[None, :, :], cfg.in_chans, axis=0)
    mean = np.asarray(cfg.mean[: cfg.in_chans], dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(cfg.std[: cfg.in_chans], dtype=np.float32).reshape(-1, 1, 1)
    return ((chans - mean) / std).astype(np.float32)


def preprocess_image(image01: np.ndarray, cfg: PreprocessConfig) -> tuple[np.ndarray, Geometry]:
    """THE preprocessing: a displayed [0, 1] grey image -> (C, H, W) model input and its geometry."""
    img = np.asarray(image01, dtype=np.float32)
    if img.size and not (float(img.min()) >= 0.0 and float(img.max()) <= 1.0):  # NaN fails both: sanitise
        img = np.nan_to_num(img, nan=0.0, posinf=1.0, neginf=0.0)  # one copy, then in place
        np.clip(img, 0.0, 1.0, out=img)
    fitted, geom = fit_to_input(img, cfg)
    return normalise(fitted, cfg), geom


def preprocess_film(film: Film, cfg: PreprocessConfig) -> tuple[np.ndarray, Geometry]:
    """Render a film with its default display (window, inversion) and preprocess it."""
    return preprocess_image(render(film), cfg)


def map_to_source(map_in: np.ndarray, geom: Geometry) -> np.ndarray:
    """Map a 2-D map on the model's input grid back onto the source image's pixel grid."""
    H, W = geom.input_size
    if map_in.shape != (H, W):
        map_in = cv2.resize(map_in.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    crop = map_in[geom.top : geom.top + geom.content_h, geom.left : geom.left + geom.content_w]
    rows, cols = geom.source_shape
    return cv2.resize(np.ascontiguousarray(crop, dtype=np.float32), (cols, rows), interpolation=cv2.INTER_LINEAR)
