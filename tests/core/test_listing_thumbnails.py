"""Listing from headers and thumbnails at reduced resolution (no Qt)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from osteo_desktop.core.errors import FilmLoadError
from osteo_desktop.core.loading import load_film
from osteo_desktop.core.loading import thumbnail as thumb_mod
from osteo_desktop.core.loading.header import read_header
from osteo_desktop.core.loading.thumbnail import display_u8, fit, make_thumbnail
from osteo_desktop.core.opening import OpenJobs


def _dicom(path, rows=600, cols=500, syntax=None, photometric="MONOCHROME2", seed=0):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    px = (300 + 3000 * x / cols + 500 * y / rows + rng.integers(0, 50, (rows, cols))).astype(np.uint16)
    px[(y - rows // 3) ** 2 + (x - cols // 3) ** 2 < (rows // 8) ** 2] = 4000
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.StudyInstanceUID = "Doe^Jane", "PID-7", generate_uid()
    ds.Modality, ds.BodyPartExamined = "DX", "KNEE"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -100
    ds.WindowCenter, ds.WindowWidth = 2000, 3000
    ds.PixelData = px.tobytes()
    if syntax is not None:
        ds.compress(syntax, encoding_plugin="pylibjpeg")
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _no_full_decode(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the film was decoded whole")

    monkeypatch.setattr("osteo_desktop.core.loading.load_film", refuse)


def test_dicom_header_without_pixels(tmp_path):
    h = read_header(_dicom(tmp_path / "a.dcm"))
    assert (h.rows, h.cols, h.source_format, h.is_dicom) == (600, 500, "DICOM", True)
    assert h.ids.patient_id == "PID-7" and h.patient_key == "PID-7" and h.ids.body_part == "KNEE"
    assert h.display_name == "a.dcm" and h.frame_count == 1


def test_raster_headers_and_bad_files(tmp_path):
    png = tmp_path / "k.png"
    cv2.imwrite(str(png), np.zeros((70, 90), np.uint8))
    jpg = tmp_path / "k.jpg"
    cv2.imwrite(str(jpg), np.zeros((50, 40), np.uint8))
    assert read_header(png).shape == (70, 90) and read_header(png).source_format == "PNG"
    assert read_header(jpg).shape == (50, 40) and read_header(jpg).patient_key == f"file:{jpg}"
    empty = tmp_path / "e.png"
    empty.write_bytes(b"")
    with pytest.raises(FilmLoadError, match="e.png.*empty"):
        read_header(empty)
    junk = tmp_path / "j.dcm"
    junk.write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 40)
    with pytest.raises(FilmLoadError, match="j.dcm"):
        read_header(junk)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(FilmLoadError, match="not a DICOM, PNG, JPEG or TIFF"):
        read_header(text)


def test_a_dicom_without_an_image_is_not_listed_as_a_film(tmp_path):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"  # an SR document
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.Modality = meta.MediaStorageSOPClassUID, "SR"
    ds.save_as(str(tmp_path / "sr.dcm"), enforce_file_format=True)
    with pytest.raises(FilmLoadError, match="holds no image"):
        read_header(tmp_path / "sr.dcm")


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_jpeg2000_thumbnail_at_reduced_resolution_matches_the_display(tmp_path, monkeypatch, photometric):
    from pydicom.uid import JPEG2000Lossless

    path = _dicom(tmp_path / "j2k.dcm", syntax=JPEG2000Lossless, photometric=photometric)
    reference = fit(display_u8(load_film(path)))  # the film decoded whole, displayed, scaled down
    _no_full_decode(monkeypatch)
    seen = []
    real = thumb_mod._j2k_reduced
    monkeypatch.setattr(thumb_mod, "_j2k_reduced", lambda data, r: seen.append(r) or real(data, r))
    small = make_thumbnail(path)
    assert seen == [2]  # 600 px -> 150 px by the codestream's own resolution levels, then to 96
    assert small.shape == reference.shape == (96, 80) and small.dtype == np.uint8
    assert np.abs(small.astype(int) - reference.astype(int)).mean() < 2.0  # the same picture


def test_jpeg_file_thumbnail_uses_dct_scaling(tmp_path, monkeypatch):
    img = (np.add.outer(np.arange(800), np.arange(640)) % 256).astype(np.uint8)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    reference = fit(display_u8(load_film(path)))
    _no_full_decode(monkeypatch)
    small = make_thumbnail(path)
    assert small.shape == reference.shape == (96, 77)
    assert np.abs(small.astype(int) - reference.astype(int)).mean() < 12.0  # a high-contrast test pattern


def test_other_films_are_scaled_down_from_the_whole_film(tmp_path):
    path = _dicom(tmp_path / "raw.dcm")  # uncompressed: no reduced decode exists
    small = make_thumbnail(path, 64)
    assert small.shape == (64, 53)
    assert np.array_equal(small, fit(display_u8(load_film(path)), 64))


def test_a_damaged_jpeg2000_stream_is_a_film_error(tmp_path):
    from pydicom.uid import JPEG2000Lossless

    path = _dicom(tmp_path / "j2k.dcm", syntax=JPEG2000Lossless)
    data = bytearray(path.read_bytes())
    data[-2000:-200] = b"\x00" * 1800  # the codestream's end is damaged
    path.write_bytes(bytes(data))
    try:
        small = make_thumbnail(path)
    except FilmLoadError as e:
        assert "j2k.dcm" in str(e)
    else:
        assert small.dtype == np.uint8  # some decoders still give a (damaged) picture: never a crash


def test_open_jobs_show_the_first_film_that_loads():
    o = OpenJobs()
    o.start(1)
    assert o.listed(1, "a") == "a"  # the first listed film loads at once
    assert o.listed(1, "b") is None
    assert o.load_failed("a") == "b"  # it could not be loaded: the next one
    o.listing_done(1)
    assert o.finished() == []  # still waiting for b
    o.shown("b")
    assert o.finished() == [(1, 2)] and o.finished() == []


def test_open_jobs_end_when_nothing_loads_or_the_user_chooses():
    o = OpenJobs()
    o.start(1)
    assert o.listed(1, "a") == "a"
    o.listing_done(1)
    assert o.load_failed("a") is None and o.finished() == [(1, 1)]
    o.start(2)
    o.start(3)
    assert o.listed(2, "x") == "x"
    o.user_chose()  # the user picked a film: neither open shows its first
    assert o.listed(3, "y") is None
    o.listing_done(2)
    o.listing_done(3)
    assert sorted(o.finished()) == [(2, 1), (3, 1)]
    o.start(4)
    o.listing_done(4)
    assert o.finished() == [(4, 0)]  # nothing listed
