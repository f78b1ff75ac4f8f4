"""PNG/JPEG/TIFF loading: shown exactly as stored (no contrast stretch), colour and float handling,
content sniffing instead of extensions, and bad files failing with clear errors."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from osteo_desktop.core.display import choose_display, render
from osteo_desktop.core.errors import FilmLoadError, FilmTooLargeError
from osteo_desktop.core.loading import load_film

_DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


def _grey8(rows: int = 80, cols: int = 96) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:cols]
    return ((x * 2 + y) % 256).astype(np.uint8)


def test_png_8bit_shown_exactly_as_stored(tmp_path):
    stored = _grey8()
    path = tmp_path / "g8.png"
    Image.fromarray(stored).save(path)
    film = load_film(path)
    assert film.source_format == "PNG" and film.bits_stored == 8 and film.photometric == "MONOCHROME2"
    np.testing.assert_array_equal(film.pixels, stored.astype(np.float32))
    (w,) = film.windows
    assert (w.center, w.width, w.name, w.function) == (128.0, 256.0, "file range", "LINEAR")
    np.testing.assert_allclose(render(film), stored / 255.0, atol=1e-6)  # no contrast stretch


def test_low_contrast_jpeg_is_not_stretched(tmp_path):
    stored = (100 + _grey8() // 8).astype(np.uint8)  # values 100..131 only
    path = tmp_path / "low.jpg"
    Image.fromarray(stored).save(path, quality=100)
    film = load_film(path)
    decoded = np.asarray(Image.open(path))
    np.testing.assert_array_equal(film.pixels, decoded.astype(np.float32))
    img = render(film)
    np.testing.assert_allclose(img, decoded / 255.0, atol=1e-6)
    assert img.max() < 0.6  # an auto window would have stretched this to 0..1


def test_training_jpegs_render_as_stored():
    """The training data (8-bit JPEGs) look to the model exactly as stored: what cv2 decodes, / 255."""
    import cv2

    if not _DATA.is_dir():
        pytest.skip(f"shared training images not found at {_DATA}")
    paths = sorted(_DATA.glob("*/images/*.jpg"))[::10]
    assert paths
    for path in paths:
        film = load_film(path)
        decoded = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        np.testing.assert_allclose(render(film), decoded / 255.0, atol=1e-6, err_msg=path.name)
        assert choose_display(film).warnings == () and film.warnings == []


def test_masked_black_background_not_stretched(tmp_path):
    """Spine films with the background masked to black: ~97% zeros must not trigger a window fallback."""
    stored = np.zeros((200, 200), np.uint8)
    stored[90:110, 90:110] = _grey8(20, 20) // 2 + 60  # 1% of the pixels, values 60..187
    path = tmp_path / "masked.jpg"
    Image.fromarray(stored).save(path, quality=100)
    film = load_film(path)
    choice = choose_display(film)
    assert choice.window == film.windows[0] and choice.warnings == ()
    np.testing.assert_allclose(render(film), film.pixels / 255.0, atol=1e-6)


def test_png_16bit_with_12bit_data(tmp_path):
    stored = (np.arange(96 * 80).reshape(80, 96) % 4096).astype(np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(stored).save(path)
    film = load_film(path)
    np.testing.assert_array_equal(film.pixels, stored.astype(np.float32))
    assert film.bits_stored == 12
    assert (film.windows[0].center, film.windows[0].width) == (2048.0, 4096.0)
    np.testing.assert_allclose(render(film), stored / 4095.0, atol=1e-5)


def test_png_16bit_full_range(tmp_path):
    stored = (np.arange(96 * 80).reshape(80, 96) * 8).astype(np.uint16)  # max 61432
    path = tmp_path / "g16.png"
    Image.fromarray(stored).save(path)
    film = load_film(path)
    assert film.bits_stored == 16 and film.windows[0].width == 65536.0


def test_png_16bit_colour_keeps_depth(tmp_path):
    import cv2

    grey = (np.arange(96 * 80).reshape(80, 96) * 8).astype(np.uint16)
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), np.repeat(grey[..., None], 3, axis=2))
    film = load_film(path)
    np.testing.assert_array_equal(film.pixels, grey.astype(np.float32))  # not reduced to 8 bits
    assert not film.warnings


def test_rgb_jpeg_with_grey_content(tmp_path):
    grey = _grey8()
    path = tmp_path / "rgbgrey.jpg"
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(path, quality=95)
    assert Image.open(path).mode == "RGB"
    film = load_film(path)
    assert not film.warnings
    assert film.pixels.ndim == 2
    assert np.abs(film.pixels - grey).mean() < 3.0  # JPEG error only


def test_colour_png_luminance_and_warning(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    path = tmp_path / "colour.png"
    Image.fromarray(rgb).save(path)
    film = load_film(path)
    expected = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(film.pixels, expected, atol=1e-3)
    assert any("colour" in w and "colour.png" in w for w in film.warnings)


def test_rgba_transparency_warned(tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = _grey8(64, 64)[..., None]
    rgba[..., 3] = 128
    path = tmp_path / "a.png"
    Image.fromarray(rgba).save(path)
    film = load_film(path)
    assert any("transparency" in w for w in film.warnings)
    np.testing.assert_array_equal(film.pixels, _grey8(64, 64).astype(np.float32))


def test_float_tiff_with_nan_and_inf(tmp_path):
    data = np.linspace(-1.0, 3.0, 64 * 64, dtype=np.float32).reshape(64, 64)
    data[0, 0] = np.nan
    data[1, 1] = np.inf
    data[2, 2] = -np.inf
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, data)
    film = load_film(path)
    assert np.isfinite(film.pixels).all()
    lo, hi = float(data[np.isfinite(data)].min()), float(data[np.isfinite(data)].max())
    assert film.pixels[0, 0] == film.pixels[2, 2] == lo  # NaN and -inf -> lowest finite value
    assert film.pixels[1, 1] == hi  # +inf -> highest
    assert any("3 pixel(s) were NaN or infinite" in w for w in film.warnings)
    (w,) = film.windows
    assert (w.low, w.high, w.function) == (pytest.approx(lo), pytest.approx(hi), "LINEAR_EXACT")
    img = render(film)
    assert img.min() == 0.0 and img.max() == pytest.approx(1.0)
    assert len(np.unique(np.round(img, 3))) > 100  # a ramp, not a threshold


def test_tiff_16bit_and_lzw_and_miniswhite(tmp_path):
    stored = (np.arange(64 * 64).reshape(64, 64) % 1024).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", stored)
    a = load_film(tmp_path / "a.tif")
    np.testing.assert_array_equal(a.pixels, stored.astype(np.float32))
    assert a.source_format == "TIFF" and a.bits_stored == 10

    Image.fromarray(_grey8(64, 64)).save(tmp_path / "lzw.tif", compression="tiff_lzw")  # tifffile lacks LZW
    np.testing.assert_array_equal(load_film(tmp_path / "lzw.tif").pixels, _grey8(64, 64).astype(np.float32))

    tifffile.imwrite(tmp_path / "mw.tif", _grey8(64, 64), photometric="miniswhite")
    mw = load_film(tmp_path / "mw.tif")
    assert mw.photometric == "MONOCHROME1" and mw.invert_for_display
    np.testing.assert_allclose(render(mw), 1.0 - _grey8(64, 64) / 255.0, atol=1e-6)


def test_content_sniffing_not_extension(tmp_path):
    stored = _grey8()
    png_named_dcm = tmp_path / "film.dcm"
    Image.fromarray(stored).save(png_named_dcm, format="PNG")
    no_ext = tmp_path / "FILM0001"
    Image.fromarray(stored).save(no_ext, format="JPEG", quality=100)
    assert load_film(png_named_dcm).source_format == "PNG"
    assert load_film(no_ext).source_format == "JPEG"


@pytest.mark.parametrize("size", [(1, 1), (31, 200), (200, 16)])
def test_tiny_image_rejected(tmp_path, size):
    path = tmp_path / "tiny.png"
    Image.fromarray(np.zeros(size, np.uint8)).save(path)
    with pytest.raises(FilmLoadError, match="too small") as exc:
        load_film(path)
    assert str(exc.value).startswith(str(path))


def test_max_pixels_checked_from_header(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((200, 200), np.uint8)).save(path)
    with pytest.raises(FilmTooLargeError, match="limit"):
        load_film(path, max_pixels=10_000)


def test_huge_declared_png(tmp_path):
    """30000x30000 in the IHDR, a few bytes of data: refused from the header, no decoding."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = (30000).to_bytes(4, "big") * 2  # IHDR width, height
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # IHDR CRC stays valid
    path = tmp_path / "huge.png"
    path.write_bytes(bytes(data))
    with pytest.raises(FilmTooLargeError) as exc:
        load_film(path)
    assert str(exc.value).startswith(str(path))


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_raster(tmp_path, fmt, suffix):
    path = tmp_path / f"cut{suffix}"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256)).astype(np.uint8)).save(path, format=fmt)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(FilmLoadError) as exc:
        load_film(path)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and "damaged" in msg


def test_text_file_renamed(tmp_path):
    for name in ("notes.dcm", "notes.png", "notes"):
        path = tmp_path / name
        path.write_text("patient notes, not an image\n" * 20)
        with pytest.raises(FilmLoadError) as exc:
            load_film(path)
        assert str(exc.value).startswith(str(path))


def test_renamed_text_dcm_message(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("hello")
    with pytest.raises(FilmLoadError, match="is named like a DICOM file but is not one"):
        load_film(path)
    # a text that happens to start like a bare DICOM data set (group 0008) is still refused
    odd = tmp_path / "odd.dcm"
    odd.write_bytes(b"\x08\x00" + b"not really dicom " * 10)
    with pytest.raises(FilmLoadError):
        load_film(odd)


def test_empty_file_folder_missing(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(FilmLoadError, match="empty"):
        load_film(empty)
    with pytest.raises(FilmLoadError, match="folder"):
        load_film(tmp_path)
    with pytest.raises(FilmLoadError, match="no such file"):
        load_film(tmp_path / "missing.png")


def test_unreadable_permissions(tmp_path, monkeypatch):
    import builtins
    import os

    path = tmp_path / "locked.png"
    Image.fromarray(_grey8()).save(path)
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # running as root: chmod does not stop us, simulate the OS refusal
        real_open = builtins.open

        def refusing_open(file, *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refusing_open)
    try:
        with pytest.raises(FilmLoadError, match="permission denied") as exc:
            load_film(path)
        assert str(exc.value).startswith(str(path))
    finally:
        os.chmod(path, 0o644)


def test_source_file_unchanged(tmp_path, helpers):
    path = tmp_path / "g.png"
    Image.fromarray(_grey8()).save(path)
    tif = tmp_path / "f.tif"
    tifffile.imwrite(tif, np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64))
    for p in (path, tif):
        before = helpers.file_state(p)
        load_film(p)
        assert helpers.file_state(p) == before
