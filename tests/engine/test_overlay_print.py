"""The heatmap's colours stay readable in greyscale: luminance rises with attention."""

import numpy as np

from osteo_desktop.core.overlay import colorbar, colorize


def _luma(rgb: np.ndarray) -> np.ndarray:
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def test_colormap_luminance_rises_monotonically():
    ramp = colorize(np.linspace(0.0, 1.0, 256, dtype=np.float32)[None, :])[0].astype(np.float64)
    y = _luma(ramp)
    assert np.all(np.diff(y) >= -0.5), "a printer in greyscale would show two attention levels as one grey"
    assert y[-1] - y[0] > 200  # black to near white: the full grey range


def test_colour_bar_runs_dark_at_the_bottom_to_bright_at_the_top():
    bar = colorbar(100).astype(np.float64)
    y = _luma(bar[:, 0])
    assert y[0] > y[-1] + 150
