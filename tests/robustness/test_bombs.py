"""Finding 1 of issue 12: decompression bombs are refused from the header, within one memory budget
in bytes, on every decode path, before anything is decoded or inflated whole.

The bombs are made small on disk (`payload="small"`: the header declares the full size, the data is
a few kilobytes); what is checked is the refusal and that no decoder ran, not memory use
(`bench/hostile_input.py` measures peak memory on the real, full-payload bombs).
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from osteo_desktop.core.errors import FilmLoadError, FilmTooLargeError
from osteo_desktop.core.loading import DEFAULT_MAX_BYTES, load_film
from osteo_desktop.core.loading import dicom as dicom_loader

from .hostile import BOMBS, deflated_dicom_bomb, dicom_film, ramp


@pytest.fixture
def no_decoding(monkeypatch):
    """Every decoder and whole-buffer inflater raises: a bomb must be refused before any of them runs."""
    import cv2
    import tifffile
    from PIL import ImageFile

    def boom(*a, **k):
        raise AssertionError("a decoder ran on a bomb")

    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    monkeypatch.setattr(cv2, "imdecode", boom)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", boom)
    monkeypatch.setattr(dicom_loader, "get_decoder", boom)
    monkeypatch.setattr(zlib, "decompress", boom)  # pydicom inflates a deflated data set in one call


@pytest.mark.parametrize("bomb", BOMBS, ids=[b.name for b in BOMBS])
def test_bomb_refused_from_the_header(bomb, tmp_path, no_decoding):
    path = bomb.make(tmp_path, "small")
    assert path.stat().st_size < 64 * 1024  # small on disk
    with pytest.raises(FilmTooLargeError) as exc:
        load_film(path)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and "\n" not in msg
    assert re.search(r"\d+ x \d+ pixels", msg), msg  # names the declared size...
    assert f"{DEFAULT_MAX_BYTES >> 20} MB" in msg  # ...and the limit, in bytes


def test_budget_is_in_bytes_frames_included(tmp_path):
    one = dicom_film(tmp_path / "one.dcm", ramp(64, 64), BitsStored=12, HighBit=11)
    need = 64 * 64 * 4  # the float32 picture is the larger of the two here
    assert load_film(one, max_bytes=need).shape == (64, 64)
    with pytest.raises(FilmTooLargeError, match="64 x 64 pixels"):
        load_film(one, max_bytes=need - 1)
    frames = dicom_film(tmp_path / "frames.dcm", np.stack([ramp(64, 64)] * 4), BitsStored=12, HighBit=11)
    decoded = 4 * 64 * 64 * 2  # all four frames are read, though one is shown
    assert load_film(frames, max_bytes=decoded).shape == (64, 64)
    with pytest.raises(FilmTooLargeError, match="4 frames"):
        load_film(frames, max_bytes=decoded - 1)


def test_declared_frames_count_even_when_the_data_is_short(tmp_path, no_decoding):
    path = dicom_film(tmp_path / "many.dcm", ramp(64, 64), BitsStored=12, HighBit=11, NumberOfFrames=200_000)
    with pytest.raises(FilmTooLargeError, match="200000 frames"):
        load_film(path)


def test_palette_counts_as_the_rgb_it_becomes(tmp_path):
    from pydicom.dataset import Dataset  # noqa: F401  (tags set by dicom_film)

    lut = np.arange(256, dtype="<u2") * 257
    path = dicom_film(tmp_path / "pal.dcm", (ramp(64, 64, maximum=255)).astype(np.uint8), photometric="PALETTE COLOR",
                      RedPaletteColorLookupTableDescriptor=[256, 0, 16],
                      GreenPaletteColorLookupTableDescriptor=[256, 0, 16],
                      BluePaletteColorLookupTableDescriptor=[256, 0, 16],
                      RedPaletteColorLookupTableData=lut.tobytes(), GreenPaletteColorLookupTableData=lut.tobytes(),
                      BluePaletteColorLookupTableData=lut.tobytes())
    rgb16 = 64 * 64 * 3 * 2
    assert load_film(path, max_bytes=rgb16).shape == (64, 64)
    with pytest.raises(FilmTooLargeError, match="3 samples x 2 bytes"):
        load_film(path, max_bytes=rgb16 - 1)


def test_deflate_inflation_is_capped(tmp_path):
    """A small image whose deflated data set hides 40 MiB of zeros in a private element."""
    path = deflated_dicom_bomb(tmp_path / "hidden.dcm", rows=64, cols=64, bits=16, payload="real",
                               extra_private=40 << 20)
    assert path.stat().st_size < 256 * 1024
    with pytest.raises(FilmTooLargeError, match="inflates to more than 33 MB"):
        load_film(path, max_bytes=1 << 20)  # cap: 1 MiB budget + 32 MiB header allowance


def test_deflated_films_within_the_budget_still_load(tmp_path):
    img = ramp(80, 96)
    path = dicom_film(tmp_path / "dfl.dcm", img, transfer_syntax="1.2.840.10008.1.2.1.99", BitsStored=12, HighBit=11)
    film = load_film(path)
    assert np.array_equal(film.pixels, img.astype(np.float32))
    assert film.transfer_syntax == "Deflated Explicit VR Little Endian"


def test_damaged_deflate_stream_is_a_load_error(tmp_path):
    from osteo_desktop.core.loading.dicom_read import _file_meta

    path = dicom_film(tmp_path / "dfl.dcm", ramp(), transfer_syntax="1.2.840.10008.1.2.1.99")
    offset = _file_meta(path, False)[2]  # where the deflated data set starts
    path.write_bytes(path.read_bytes()[:offset] + bytes(range(7, 250, 3)) * 20)
    with pytest.raises(FilmLoadError) as exc:
        load_film(path)
    assert str(exc.value).startswith(str(path))


@pytest.mark.parametrize("bomb", BOMBS, ids=[b.name for b in BOMBS])
def test_thumbnails_refuse_bombs_too(bomb, tmp_path, no_decoding):
    """The study browser's reduced-resolution thumbnails are a decode path of their own."""
    from osteo_desktop.core.loading.thumbnail import make_thumbnail

    path = bomb.make(tmp_path, "small")
    with pytest.raises(FilmTooLargeError):
        make_thumbnail(path)


def test_a_header_listing_never_inflates_a_deflated_bomb_whole(tmp_path, monkeypatch):
    """Listing a folder reads headers only: at most the header allowance of a deflated data set."""
    from osteo_desktop.core.loading import dicom_read
    from osteo_desktop.core.loading.header import read_header

    path = deflated_dicom_bomb(tmp_path / "big.dcm", rows=64, cols=64, bits=16, payload="real",
                               extra_private=64 << 20)  # 64 MiB of zeros before the pixel data
    seen = {"most": 0}
    real_parse = dicom_read._parse

    def measuring_parse(buf, stop_at_pixels):
        seen["most"] = max(seen["most"], len(buf))
        return real_parse(buf, stop_at_pixels)

    monkeypatch.setattr(dicom_read, "_parse", measuring_parse)
    header = read_header(path)
    assert header.shape == (64, 64)
    assert seen["most"] <= dicom_read.HEADER_ALLOWANCE + (1 << 20)


def test_the_budget_can_be_raised_for_a_computer_with_the_memory(monkeypatch):
    from osteo_desktop.core.loading import budget

    monkeypatch.setenv(budget.BUDGET_ENV, "512")
    assert budget._budget_from_env() == 512 << 20
    for junk in ("", "0", "-5", "lots"):
        monkeypatch.setenv(budget.BUDGET_ENV, junk)
        assert budget._budget_from_env() == budget.STANDARD_MAX_BYTES
