"""Grad-CAM overlays: colour the map, blend it over the displayed film, add a labelled colour bar.

The map is *relative model attention* (normalised per film), not a lesion or a density measure;
every picture made here says so in its colour-bar label.
"""

from __future__ import annotations

import cv2
import numpy as np

# inferno: luminance rises monotonically from black to pale yellow, so the map (and its colour bar)
# reads correctly on a black-and-white printer and for colour-blind readers (turbo/jet do not).
COLORMAP = cv2.COLORMAP_INFERNO
ATTENTION_LABEL = "relative model attention"


def colorize(cam01: np.ndarray) -> np.ndarray:
    """(H, W) [0, 1] -> (H, W, 3) uint8 RGB with the overlay colormap."""
    u8 = np.clip(np.rint(cam01 * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, COLORMAP), cv2.COLOR_BGR2RGB)


def blend(display_u8: np.ndarray, cam01: np.ndarray | None, opacity: float = 0.45) -> np.ndarray:
    """Film (H, W) uint8 grey + map -> (H, W, 3) uint8 RGB.

    Opacity scales with attention so that low-attention areas keep showing the film unchanged.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(display_u8), cv2.COLOR_GRAY2RGB)
    if cam01 is None:
        return grey
    if cam01.shape != display_u8.shape:
        raise ValueError(f"heatmap {cam01.shape} does not match film {display_u8.shape}")
    alpha = np.float32(np.clip(opacity, 0.0, 1.0))
    # in bands of rows: the float temporaries of a big film never exceed ~1 M pixels' worth
    band = max(1, (1 << 20) // max(1, grey.shape[1]))
    for r in range(0, grey.shape[0], band):
        cam = np.asarray(cam01[r : r + band], dtype=np.float32)
        heat = colorize(cam)
        w_heat = np.clip(cam * np.float32(1.5), 0.0, 1.0) * alpha
        grey[r : r + band] = cv2.blendLinear(grey[r : r + band], heat, np.float32(1.0) - w_heat, w_heat)
    return grey


def colorbar(height: int, width: int = 24) -> np.ndarray:
    """A vertical colour bar (high at the top) as (height, width, 3) uint8 RGB."""
    ramp = np.linspace(1.0, 0.0, max(height, 2), dtype=np.float32)[:, None].repeat(width, axis=1)
    return colorize(ramp)


def with_colorbar(rgb: np.ndarray, label: str = ATTENTION_LABEL, empty: bool = False) -> np.ndarray:
    """Append a labelled colour bar on the right of an RGB image (sizes scale with the image)."""
    h, w = rgb.shape[:2]
    unit = max(1.0, h / 600.0)
    bar_w, margin, panel_w = int(22 * unit), int(12 * unit), int(150 * unit)
    bottom = int(16 * unit)
    panel = np.full((h, panel_w, 3), 24, np.uint8)
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.45 * unit, max(1, int(unit))
    white = (235, 235, 235)
    # the label in (up to) two lines at the top, then the bar with its high/low ends
    words = (label if not empty else "no attention signal").split()
    lines = [" ".join(words[:2]), " ".join(words[2:])] if len(words) > 2 else [" ".join(words)]
    y = int(18 * unit)
    for line in lines:
        cv2.putText(panel, line, (margin, y), font, scale, white, thick, cv2.LINE_AA)
        y += int(17 * unit)
    top = y + int(4 * unit)
    bar_h = max(2, h - top - bottom)
    if not empty:
        panel[top : top + bar_h, margin : margin + bar_w] = colorbar(bar_h, bar_w)
    else:
        cv2.rectangle(panel, (margin, top), (margin + bar_w, top + bar_h), (90, 90, 90), max(1, int(unit)))
    tx = margin + bar_w + int(6 * unit)
    cv2.putText(panel, "high", (tx, top + int(12 * unit)), font, scale, white, thick, cv2.LINE_AA)
    cv2.putText(panel, "low", (tx, top + bar_h), font, scale, white, thick, cv2.LINE_AA)
    return np.concatenate([rgb, panel], axis=1)


def stamp(rgb: np.ndarray, text: str = "NOT FOR DIAGNOSTIC USE") -> np.ndarray:
    """Burn a small banner into the corner that hides the least of the picture (snapshots, secondary
    captures): of the four corners, the one whose banner-sized patch is darkest and most uniform
    (film background rather than a side marker, a calibration ball or bone); bottom-left on a tie."""
    out = rgb.copy()
    h, w = out.shape[:2]
    unit = max(1.0, h / 600.0)
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.5 * unit, max(1, int(unit))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    m = int(8 * unit)
    left, right = m, max(m, w - m - tw)
    bottom, top = h - m, m + th + 6

    def hidden(xy: tuple[int, int]) -> float:  # only the banner-sized patch is read (films can be big)
        x, y = xy
        patch = out[max(0, y - th - 6) : y + base, max(0, x - 4) : x + tw + 4].astype(np.float64)
        if patch.ndim == 3:
            patch = patch.mean(axis=-1)
        return round(float(patch.mean() + patch.std()), 1) if patch.size else 0.0

    candidates = [(left, bottom), (right, bottom), (left, top), (right, top)]
    x, y = min(candidates, key=lambda xy: (hidden(xy), candidates.index(xy)))
    cv2.rectangle(out, (x - 4, y - th - 6), (x + tw + 4, y + base), (0, 0, 0), -1)
    cv2.putText(out, text, (x, y), font, scale, (255, 210, 0), thick, cv2.LINE_AA)
    return out
