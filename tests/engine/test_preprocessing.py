import numpy as np
import pytest

from osteo_desktop.core.preprocessing import (
    PreprocessConfig,
    content_size,
    fit_to_input,
    map_to_source,
    preprocess_image,
    resize_like_preprocessing,
)


def test_letterbox_keeps_aspect_and_normalises():
    img = np.zeros((100, 200), np.float32)
    img[:, :100] = 1.0
    cfg = PreprocessConfig(input_size=(64, 64), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    x, geom = preprocess_image(img, cfg)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32
    assert (geom.content_h, geom.content_w) == (32, 64)
    assert geom.top == 16 and geom.left == 0
    # padding is pad_value (0) -> normalised (0 - .5)/.5 = -1; left half of the content is 1 -> +1
    assert np.allclose(x[:, :16, :], -1.0)
    assert np.allclose(x[:, 20:44, :28], 1.0)
    assert np.allclose(x[0], x[2])


def test_stretch_mode_fills_the_input():
    cfg = PreprocessConfig(input_size=(32, 48), resize="stretch")
    x, geom = preprocess_image(np.full((10, 10), 0.25, np.float32), cfg)
    assert x.shape == (3, 32, 48) and np.allclose(x, 0.25)
    assert (geom.top, geom.left, geom.content_h, geom.content_w) == (0, 0, 32, 48)


def test_nan_and_out_of_range_are_sanitised():
    img = np.array([[np.nan, np.inf], [-np.inf, 7.0]], np.float32)
    img = np.kron(img, np.ones((8, 8), np.float32))
    x, _ = preprocess_image(img, PreprocessConfig(input_size=(16, 16)))
    assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0


@pytest.mark.parametrize("shape", [(300, 120), (120, 300), (64, 64)])
def test_map_to_source_inverts_the_geometry(shape):
    rows, cols = shape
    src = np.zeros(shape, np.float32)
    src[rows // 4 : rows // 2, cols // 3 : cols // 2] = 1.0  # a bright block somewhere
    cfg = PreprocessConfig(input_size=(96, 96), in_chans=1, mean=(0.0,), std=(1.0,))
    x, geom = preprocess_image(src, cfg)
    back = map_to_source(x[0], geom)
    assert back.shape == shape
    inside = back[rows // 4 + 3 : rows // 2 - 3, cols // 3 + 3 : cols // 2 - 3]
    assert inside.mean() > 0.8 and back[: rows // 4 - 4].mean() < 0.05


def test_content_size_is_what_fit_to_input_covers():
    img = np.random.default_rng(0).random((100, 50)).astype(np.float32)
    for cfg in (PreprocessConfig(input_size=(64, 64)), PreprocessConfig(input_size=(40, 24)),
                PreprocessConfig(input_size=(32, 48), resize="stretch")):
        _, geom = fit_to_input(img, cfg)
        assert content_size(img.shape, cfg) == (geom.content_h, geom.content_w)
    assert content_size((100, 50), PreprocessConfig(input_size=(64, 64))) == (64, 32)
    assert content_size((100, 50), PreprocessConfig(input_size=(64, 64)), scale=2.0) == (128, 64)


def test_a_pre_shrunk_image_gives_the_same_model_input():
    """What training caches (the image resized to its content size) preprocesses identically."""
    img = np.random.default_rng(0).random((100, 50)).astype(np.float32)
    cfg = PreprocessConfig(input_size=(64, 64))
    small = resize_like_preprocessing(img, content_size(img.shape, cfg))
    np.testing.assert_array_equal(preprocess_image(img, cfg)[0], preprocess_image(small, cfg)[0])
