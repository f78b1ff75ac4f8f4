"""The viewer's fast paths must show exactly what the core display pipeline defines."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

from osteo_desktop.core.display import render, to_uint8
from osteo_desktop.core.film import Window
from osteo_desktop.core.overlay import blend
from osteo_desktop.gui.imaging import FilmRenderer, attention_rgba, gray_qimage, prepare, qimage_to_rgb, rgb_qimage

from .conftest import make_film


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
@pytest.mark.parametrize("invert", [False, True])
def test_lut_renderer_matches_core_render(photometric, invert):
    film = make_film(photometric=photometric)
    r = FilmRenderer(film)
    assert r.uses_lut
    for w in (Window(2000, 3000, "file"), Window(1234.5, 17, "narrow"), Window(3000, 1, "one"), Window(100, 8000, "wide", "SIGMOID")):
        np.testing.assert_array_equal(r.render_u8(w, invert), to_uint8(render(film, w, invert)))


def test_non_integer_film_uses_core_path():
    film = make_film()
    film.pixels = film.pixels + 0.25
    r = FilmRenderer(film)
    assert not r.uses_lut
    w = Window(2000, 1500)
    np.testing.assert_array_equal(r.render_u8(w, False), to_uint8(render(film, w, False)))


def test_prepare_builds_thumbnail_and_presets():
    lf = prepare(make_film(300, 500))
    assert not lf.thumbnail.isNull()
    assert max(lf.thumbnail.width(), lf.thumbnail.height()) == 96
    assert [w.name for w in lf.presets][-2:] == ["auto", "full range"]


def test_attention_layer_composes_like_core_blend():
    grey = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (48, 1)).astype(np.uint8)
    cam = np.tile(np.linspace(0, 1, 48, dtype=np.float32)[:, None], (1, 64))
    opacity = 0.6
    expected = blend(grey, cam, opacity)
    canvas = gray_qimage(grey).convertToFormat(QImage.Format.Format_RGB32)
    p = QPainter(canvas)
    p.setOpacity(opacity)
    layer = rgb_qimage(attention_rgba(cam))
    p.drawImage(QRectF(0, 0, 64, 48), layer, QRectF(layer.rect()))
    p.end()
    got = qimage_to_rgb(canvas).astype(int)
    assert np.abs(got - expected.astype(int)).max() <= 3
