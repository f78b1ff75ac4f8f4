"""DICOM loading: the shared samples in every transfer syntax, synthetic files for each tag path,
and bad input (broken, truncated, no pixels, too large, missing decoder) failing with clear errors."""

from __future__ import annotations

import csv
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    JPEG2000,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from osteo_desktop.core.errors import DecoderMissingError, FilmLoadError, FilmTooLargeError
from osteo_desktop.core.film import SpacingSource
from osteo_desktop.core.loading import dicom as dicom_loader
from osteo_desktop.core.loading import load_film

_SAMPLES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "dicom-samples").resolve()
_TS_NAMES = {
    "ExplicitVRLE": ExplicitVRLittleEndian,
    "JPEG2000 (lossy)": JPEG2000,
    "JPEG2000 lossless": JPEG2000Lossless,
    "JPEG Extended (lossy, 12-bit)": JPEGExtended12Bit,
    "JPEG-LS lossless": JPEGLSLossless,
    "JPEG-LS near-lossless": JPEGLSNearLossless,
    "JPEG Lossless SV1": JPEGLosslessSV1,
}


def _inventory() -> list[dict[str, str]]:
    tsv = _SAMPLES / "dicom_inventory.tsv"
    if not tsv.is_file():
        return [{"path": "(shared samples absent)"}]
    with open(tsv, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _inventory_file(row: dict[str, str], helpers) -> Path:
    rel = row["path"]
    if rel.startswith("(shared"):
        pytest.skip(f"shared DICOM samples not found at {_SAMPLES}")
    head, _, rest = rel.partition("/")
    if head == "pydicom-data-wheel":
        return helpers.testdata(rest)
    if head == "pydicom-bundled-cspine":  # pydicom's own DICOMDIR test set
        return helpers.testdata("DICOMDIR").parent / "77654033" / rest
    if not (_SAMPLES / rel).is_file():  # listed but not shipped: pydicom-data has the same file
        return helpers.testdata(Path(rel).name)
    return helpers.sample(rel)


@pytest.mark.parametrize("row", _inventory(), ids=lambda r: r["path"])
def test_inventory_file_loads_as_described(row, helpers):
    """Every inventoried file: decodes to the listed shape/range with the listed tags, or fails clearly."""
    path = _inventory_file(row, helpers)
    rows, cols = (int(v) for v in row["RowsxCols"].split("x"))
    if rows < 32 or cols < 32:  # the 16x16 bundled CR thumbnails: not radiographs
        with pytest.raises(FilmLoadError, match="too small") as exc:
            load_film(path)
        assert str(exc.value).startswith(str(path))
        return
    status = row["decode_with_pydicom3+pylibjpeg"]
    if status.startswith("DECODE-FAIL"):
        with pytest.raises(FilmLoadError) as exc:
            load_film(path)
        msg = str(exc.value)
        assert msg.startswith(str(path)) and path.name in msg
        assert "could not be decoded" in msg and "export it again" in msg
        return

    film = helpers.cached_film(path)
    m = re.match(r"ok \((\d+), (\d+)\) (\w+) \[(-?\d+),(-?\d+)\]", status)
    assert m, status
    assert film.shape == (rows, cols) == (int(m[1]), int(m[2]))
    assert film.pixels.dtype == np.float32 and film.pixels.ndim == 2
    # Identity rescale in all of these files: modality values == stored values, range as inventoried.
    assert float(film.pixels.min()) == float(m[4]) and float(film.pixels.max()) == float(m[5])
    assert film.source_format == "DICOM" and film.is_dicom
    assert film.photometric == row["Photometric"]
    assert film.transfer_syntax == UID(_TS_NAMES[row["TransferSyntax"]]).name
    assert film.bits_stored == int(row["BitsStored"])
    assert film.ids.modality == row["Modality"]
    assert film.ids.body_part == row["BodyPart"]
    assert film.ids.view_position == row["View"]
    assert film.presentation_lut_shape == row["PresLUTShape"]
    assert film.frame_count == 1
    if row["WC"]:
        assert film.windows[0].center == pytest.approx(float(row["WC"]))
        assert film.windows[0].width == pytest.approx(float(row["WW"]))
    assert film.header is not None and "PixelData" not in film.header
    assert film.header.Rows == rows


def test_header_keeps_tags_but_not_pixels(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "a.dcm", helpers.ramp(), PatientName="Doe^Jane", BodyPartExamined="KNEE")
    film = load_film(path)
    assert "PixelData" not in film.header
    assert film.header.PatientID == "P-0001" and film.header.BodyPartExamined == "KNEE"
    assert film.header.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert film.ids.patient_name == "Doe^Jane" and isinstance(film.ids.patient_name, str)
    assert film.ids.patient_birth_date == "19500101"
    assert film.ids.sop_class_uid == "1.2.840.10008.5.1.4.1.1.1.1"


def test_rescale_slope_intercept_applied_once(helpers, tmp_path):
    stored = helpers.ramp()
    path = helpers.make_dicom(
        tmp_path / "r.dcm", stored, RescaleSlope="0.5", RescaleIntercept="-100", WindowCenter="900", WindowWidth="1800"
    )
    film = load_film(path)
    np.testing.assert_array_equal(film.pixels, stored.astype(np.float32) * 0.5 - 100)
    assert film.pixels.dtype == np.float32
    assert (film.windows[0].center, film.windows[0].width) == (900.0, 1800.0)  # modality units, untouched


def test_signed_pixels_with_intercept(helpers, tmp_path):
    stored = np.clip(helpers.ramp().astype(np.int16) - 2000, -2048, 2047).astype(np.int16)  # 12-bit signed
    film = load_film(helpers.make_dicom(tmp_path / "s.dcm", stored, RescaleSlope="1", RescaleIntercept="-1024"))
    np.testing.assert_array_equal(film.pixels, stored.astype(np.float32) - 1024)


def test_modality_lut_sequence(helpers, tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    stored = helpers.ramp(maximum=255)
    item = Dataset()
    item.LUTDescriptor = [256, 0, 16]
    item.add_new("LUTData", "US", [3000 - 10 * i for i in range(256)])  # decreasing: the table is used
    item.ModalityLUTType = "US"
    path = helpers.make_dicom(tmp_path / "m.dcm", stored, ModalityLUTSequence=Sequence([item]))
    film = load_film(path)
    np.testing.assert_array_equal(film.pixels, (3000 - 10 * stored.astype(np.int64)).astype(np.float32))


def test_multiple_windows_with_names_and_function(helpers, tmp_path):
    path = helpers.make_dicom(
        tmp_path / "w.dcm",
        helpers.ramp(),
        WindowCenter=["2000", "1000"],
        WindowWidth=["4000", "500"],
        WindowCenterWidthExplanation=["NORMAL", "BONE"],
        VOILUTFunction="SIGMOID",
    )
    film = load_film(path)
    assert [(w.center, w.width, w.name, w.function) for w in film.windows] == [
        (2000.0, 4000.0, "NORMAL", "SIGMOID"),
        (1000.0, 500.0, "BONE", "SIGMOID"),
    ]


def test_invalid_window_is_dropped_with_warning(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "w.dcm", helpers.ramp(), WindowCenter=["2000", "100"], WindowWidth=["0", "400"])
    film = load_film(path)
    assert [(w.center, w.width) for w in film.windows] == [(100.0, 400.0)]
    assert any("invalid window" in w for w in film.warnings)


def test_voi_lut_sequence(helpers, tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    item = Dataset()
    item.LUTDescriptor = [1024, 100, 12]
    item.add_new("LUTData", "OW", np.minimum(4095, 4 * np.arange(1024)).astype("<u2").tobytes())
    item.LUTExplanation = "DEFAULT"
    path = helpers.make_dicom(tmp_path / "v.dcm", helpers.ramp(), VOILUTSequence=Sequence([item]))
    film = load_film(path)
    lut = film.voi_lut
    assert lut is not None and lut.first_mapped == 100.0 and lut.output_bits == 12 and lut.name == "DEFAULT"
    assert len(lut.table) == 1024 and lut.table[10] == 40


def test_voi_lut_real_file(helpers):
    film = load_film(helpers.testdata("vlut_04.dcm"))
    ds = pydicom.dcmread(helpers.testdata("vlut_04.dcm"))
    assert film.voi_lut is not None
    assert len(film.voi_lut.table) == ds.VOILUTSequence[0].LUTDescriptor[0]


def test_multiframe_first_frame_and_warning(helpers, tmp_path):
    frames = np.stack([helpers.ramp() + 100 * k for k in range(3)]).astype(np.uint16)
    film = load_film(helpers.make_dicom(tmp_path / "mf.dcm", frames))
    np.testing.assert_array_equal(film.pixels, frames[0].astype(np.float32))
    assert film.frame_count == 3
    assert any("3 frames" in w and "mf.dcm" in w for w in film.warnings)


def test_rle_compressed(helpers, tmp_path):
    from pydicom.dataset import Dataset

    stored = helpers.ramp()
    path = helpers.make_dicom(tmp_path / "plain.dcm", stored)
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(tmp_path / "rle.dcm")
    film = load_film(tmp_path / "rle.dcm")
    assert film.transfer_syntax == RLELossless.name
    np.testing.assert_array_equal(film.pixels, stored.astype(np.float32))
    assert isinstance(film.header, Dataset)


def test_jpeg_baseline_colour_dicom(helpers):
    path = helpers.testdata("SC_rgb_jpeg_dcmtk.dcm")  # 8-bit JPEG baseline, YBR_FULL, 100x100
    film = load_film(path)
    assert film.transfer_syntax == UID("1.2.840.10008.1.2.4.50").name
    assert film.photometric == "MONOCHROME2" and film.pixels.ndim == 2
    assert any("colour" in w for w in film.warnings)


def test_rgb_dicom_with_equal_channels_is_grey_without_warning(helpers, tmp_path):
    grey = helpers.ramp(maximum=255, dtype=np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    path = helpers.make_dicom(tmp_path / "rgb.dcm", None, Rows=64, Columns=64, SamplesPerPixel=3,
                              PhotometricInterpretation="RGB", PlanarConfiguration=0, BitsAllocated=8,
                              BitsStored=8, HighBit=7, PixelRepresentation=0, PixelData=rgb.tobytes())
    film = load_film(path)
    np.testing.assert_array_equal(film.pixels, grey.astype(np.float32))
    assert film.photometric == "MONOCHROME2" and not film.warnings


def test_dataset_without_preamble(helpers, tmp_path):
    stored = helpers.ramp()
    path = helpers.make_dicom(tmp_path / "IM0001", stored, preamble=False)
    assert path.read_bytes()[128:132] != b"DICM"
    film = load_film(path)
    assert film.transfer_syntax == ImplicitVRLittleEndian.name
    np.testing.assert_array_equal(film.pixels, stored.astype(np.float32))


@pytest.mark.parametrize(
    "tags, expected",
    [
        ({"PixelSpacing": [0.15, 0.2], "ImagerPixelSpacing": [0.18, 0.24]}, (0.15, 0.2, SpacingSource.PIXEL_SPACING)),
        ({"ImagerPixelSpacing": [0.18, 0.24]}, (0.18, 0.24, SpacingSource.IMAGER_PIXEL_SPACING)),
        ({}, (None, None, SpacingSource.NONE)),
        ({"PixelSpacing": [0, 0], "ImagerPixelSpacing": [0.18, 0.24]}, (0.18, 0.24, SpacingSource.IMAGER_PIXEL_SPACING)),
    ],
    ids=["both-pixel-wins", "imager-only", "none", "zero-pixel-falls-back"],
)
def test_spacing_source(helpers, tmp_path, tags, expected):
    film = load_film(helpers.make_dicom(tmp_path / "s.dcm", helpers.ramp(), **tags))
    assert (film.spacing.row_mm, film.spacing.col_mm, film.spacing.source) == expected
    assert film.spacing.calibrated == (expected[2] is not SpacingSource.NONE)


def test_laterality_and_presentation_tags(helpers, tmp_path):
    a = load_film(helpers.make_dicom(tmp_path / "a.dcm", helpers.ramp(), Laterality="L", ViewPosition="AP"))
    b = load_film(helpers.make_dicom(tmp_path / "b.dcm", helpers.ramp(), Laterality="L", ImageLaterality="R"))
    c = load_film(helpers.make_dicom(tmp_path / "c.dcm", helpers.ramp(), PresentationLUTShape="INVERSE"))
    assert (a.ids.laterality, a.ids.view_position) == ("L", "AP")
    assert b.ids.laterality == "R"  # ImageLaterality wins
    assert c.presentation_lut_shape == "INVERSE" and c.invert_for_display


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------


def test_huge_declared_size_rejected_before_decoding(helpers, tmp_path, monkeypatch):
    path = helpers.make_dicom(tmp_path / "huge.dcm", helpers.ramp(), Rows=30000, Columns=30000)

    def no_decoding(*a, **k):
        raise AssertionError("pixel data must not be decoded for an oversized image")

    monkeypatch.setattr(dicom_loader, "get_decoder", no_decoding)
    with pytest.raises(FilmTooLargeError, match="30000 x 30000") as exc:
        load_film(path)
    assert str(exc.value).startswith(str(path)) and "limit" in str(exc.value)


def test_max_pixels_argument(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "a.dcm", helpers.ramp())
    with pytest.raises(FilmTooLargeError):
        load_film(path, max_pixels=64 * 64 - 1)
    assert load_film(path, max_pixels=64 * 64).shape == (64, 64)


def test_tiny_dicom_rejected(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "tiny.dcm", helpers.ramp(16, 16))
    with pytest.raises(FilmLoadError, match="too small to be a radiograph"):
        load_film(path)


@pytest.mark.parametrize(
    "sop_class, expected",
    [("1.2.840.10008.5.1.4.1.1.88.33", "Comprehensive SR"), ("1.2.840.10008.5.1.4.1.1.104.1", "Encapsulated PDF")],
    ids=["SR", "PDF"],
)
def test_dicom_without_pixels(helpers, tmp_path, sop_class, expected):
    path = helpers.make_dicom(tmp_path / "doc.dcm", None, SOPClassUID=sop_class, Modality="SR" if "88" in sop_class else "DOC")
    with pytest.raises(FilmLoadError, match="holds no image") as exc:
        load_film(path)
    assert str(exc.value).startswith(str(path)) and expected in str(exc.value)


def test_real_sr_file(helpers):
    with pytest.raises(FilmLoadError, match="holds no image"):
        load_film(helpers.testdata("test-SR.dcm"))


def test_dicomdir_is_not_a_film(helpers):
    with pytest.raises(FilmLoadError, match="DICOMDIR"):
        load_film(helpers.testdata("DICOMDIR"))


def test_truncated_pixel_data(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "t.dcm", helpers.ramp(256, 256))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5000])
    with pytest.raises(FilmLoadError) as exc:
        load_film(path)
    assert str(exc.value).startswith(str(path))


def test_truncated_header(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "t.dcm", helpers.ramp())
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(FilmLoadError) as exc:
        load_film(path)
    assert str(exc.value).startswith(str(path))


def test_missing_decoder_names_syntax_and_package(helpers, monkeypatch):
    path = helpers.sample("pylibjpeg-data/JPEG2000Lossless/966_fixed.dcm")

    class Unavailable:
        is_available = False

    monkeypatch.setattr(dicom_loader, "get_decoder", lambda uid: Unavailable())
    with pytest.raises(DecoderMissingError) as exc:
        load_film(path)
    msg = str(exc.value)
    assert msg.startswith(str(path))
    assert "JPEG 2000 Image Compression (Lossless Only)" in msg and "pip install pylibjpeg pylibjpeg-openjpeg" in msg


def test_unknown_transfer_syntax(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "x.dcm", helpers.ramp(), transfer_syntax="1.2.3.4.5.6")
    with pytest.raises(DecoderMissingError, match="1.2.3.4.5.6"):
        load_film(path)


def test_decoded_pixels_not_copied_needlessly(helpers, tmp_path):
    """One float32 copy of the decoded frame, rescaled in place: no float64 intermediate."""
    stored = np.random.default_rng(0).integers(0, 4096, (1500, 1000)).astype(np.uint16)
    path = helpers.make_dicom(tmp_path / "big.dcm", stored, RescaleSlope="2", RescaleIntercept="-10")
    tracemalloc.start()
    try:
        film = load_film(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # encoded bytes (2 B/px) + float32 result (4 B/px) = 1.5x the result; a float64 step would add 2x.
    assert peak < 2.0 * film.pixels.nbytes, peak / film.pixels.nbytes
    assert film.pixels.flags.c_contiguous and film.pixels.flags.writeable


def test_source_file_unchanged(helpers, tmp_path):
    path = helpers.make_dicom(tmp_path / "a.dcm", helpers.ramp(), RescaleSlope="2")
    before = helpers.file_state(path)
    load_film(path)
    assert helpers.file_state(path) == before
    shared = helpers.sample("highdicom/dx_image.dcm")
    before = helpers.file_state(shared)
    load_film(shared)
    assert helpers.file_state(shared) == before
