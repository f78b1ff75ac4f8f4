"""The NOT FOR DIAGNOSTIC USE banner goes where it hides the least of the picture."""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.core.overlay import stamp


def _yellow(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.nonzero((rgb[..., 0] > 200) & (rgb[..., 1] > 150) & (rgb[..., 2] < 100))


def test_bottom_left_on_a_plain_background():
    rows, cols = _yellow(stamp(np.zeros((600, 800, 3), np.uint8)))
    assert rows.size and rows.min() > 550 and cols.max() < 400


@pytest.mark.parametrize("busy", ["bottom-left", "bottom-left+bottom-right"])
def test_a_corner_with_something_in_it_is_left_alone(busy):
    img = np.zeros((600, 800, 3), np.uint8)
    img[480:, :260] = 220  # e.g. the calibration ball of a knee film
    if "bottom-right" in busy:
        img[480:, 540:] = np.random.default_rng(0).integers(0, 255, (120, 260, 1))  # a side marker, bone (grey)
    out = stamp(img)
    assert np.array_equal(out[480:, :260], img[480:, :260])
    rows, cols = _yellow(out)
    assert rows.size
    if busy == "bottom-left":
        assert rows.min() > 550 and cols.min() > 400  # bottom-right
    else:
        assert np.array_equal(out[480:, 540:], img[480:, 540:]) and rows.max() < 60  # a top corner


def test_greyscale_and_the_picture_itself_is_not_changed_in_place():
    img = np.zeros((300, 400, 3), np.uint8)
    before = img.copy()
    out = stamp(img, "X")
    assert np.array_equal(img, before) and out.shape == img.shape and _yellow(out)[0].size
