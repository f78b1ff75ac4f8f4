"""Hostile input for the robustness tests and `bench/hostile_input.py`: seed films, seeded mutations,
and decompression bombs.

Everything is generated: seeds are small synthetic films (DICOM of many kinds, PNG, JPEG, TIFF)
plus pydicom's own test files (installed with pydicom); nothing from `shared/` is copied.

Bombs come in two sizes: `payload="small"` writes only what the loader must refuse from the header
(kilobytes on disk, for the test suite), `payload="real"` writes the full compressed payload (a few
megabytes that inflate to gigabytes, for the benchmark that measures peak memory).
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIB = 1 << 20
DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"

# ------------------------------------------------------------------------------------------------
# Small DICOM writing helpers
# ------------------------------------------------------------------------------------------------


def _base_dataset(**tags):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["osteo-hostile", repr(sorted(tags.items()))])
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["series"])
    ds.PatientName = "Hostile^Input"
    ds.PatientID = "HOSTILE-1"
    ds.Modality = "DX"
    ds.BodyPartExamined = "KNEE"
    for k, v in tags.items():
        setattr(ds, k, v)
    return ds


def _image_tags(arr: np.ndarray, photometric: str | None = None) -> dict:
    """Tags for grey (r, c), colour (r, c, 3) or grey frames (f, r, c) pixels."""
    colour = arr.ndim == 3 and arr.shape[-1] == 3 and photometric not in ("MONOCHROME1", "MONOCHROME2")
    frames = arr.shape[0] if arr.ndim == 3 and not colour else 1
    samples = 3 if colour else 1
    rows, cols = (arr.shape[0], arr.shape[1]) if colour else (arr.shape[-2], arr.shape[-1])
    tags = dict(
        Rows=rows, Columns=cols, SamplesPerPixel=samples,
        PhotometricInterpretation=photometric or ("RGB" if colour else "MONOCHROME2"),
        BitsAllocated=arr.dtype.itemsize * 8, BitsStored=arr.dtype.itemsize * 8, HighBit=arr.dtype.itemsize * 8 - 1,
        PixelRepresentation=1 if arr.dtype.kind == "i" else 0,
    )
    if colour:
        tags["PlanarConfiguration"] = 0
    if frames > 1:
        tags["NumberOfFrames"] = frames
    return tags


def save_dicom(path: Path, ds) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def ramp(rows: int = 96, cols: int = 80, maximum: int = 4095, dtype=np.uint16) -> np.ndarray:
    x = np.linspace(0, maximum, cols)
    y = (np.arange(rows) % 9)[:, None] * (maximum // 40)
    return np.clip(x[None, :] + y, 0, maximum).astype(dtype)


def dicom_film(path: Path, arr: np.ndarray, *, photometric: str | None = None, transfer_syntax: str | None = None,
               **tags) -> Path:
    """A DX film of `arr` (grey (r, c), colour (r, c, 3), frames (f, r, c)); compressed when asked."""
    ds = _base_dataset(**(_image_tags(arr, photometric) | tags))
    if transfer_syntax is None or transfer_syntax in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2"):
        ds.PixelData = np.ascontiguousarray(arr).tobytes()
        if transfer_syntax:
            ds.file_meta.TransferSyntaxUID = transfer_syntax
    else:
        ds.compress(transfer_syntax, np.ascontiguousarray(arr), generate_instance_uid=False)
    return save_dicom(path, ds)


def dicom_jpeg_baseline(path: Path, grey8: np.ndarray) -> Path:
    """8-bit grey encoded by Pillow as JPEG baseline, encapsulated in a DX data set."""
    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    buf = io.BytesIO()
    Image.fromarray(grey8).save(buf, format="JPEG", quality=90)
    ds = _base_dataset(**_image_tags(grey8))
    ds.BitsStored, ds.HighBit = 8, 7
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    return save_dicom(path, ds)


# ------------------------------------------------------------------------------------------------
# Seeds: small, valid films of every kind the loader handles
# ------------------------------------------------------------------------------------------------

PYDICOM_SEEDS = (
    "CT_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
    "JPEG-lossy.dcm", "SC_rgb_jpeg_dcmtk.dcm", "image_dfl.dcm", "SC_rgb_rle_16bit.dcm",
    "SC_ybr_full_422_uncompressed.dcm", "JPEG2000.dcm", "ExplVR_BigEnd.dcm", "MR_small_bigendian.dcm",
    "JPGExtended.dcm", "SC_rgb_rle_32bit_2frame.dcm", "MR_small_implicit.dcm", "no_meta.dcm",
)


def make_seeds(folder: Path) -> list[Path]:
    """Write the seed films into `folder`; returns their paths (deterministic content)."""
    from PIL import Image
    from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

    folder.mkdir(parents=True, exist_ok=True)
    seeds: list[Path] = []
    grey16 = ramp()
    grey8 = (ramp(maximum=255)).astype(np.uint8)
    rgb8 = np.stack([grey8, np.flipud(grey8), grey8 // 2], axis=-1)

    def add(p: Path) -> None:
        seeds.append(p)

    add(dicom_film(folder / "mono2_u16.dcm", grey16, BitsStored=12, HighBit=11, WindowCenter="2048", WindowWidth="4096"))
    add(dicom_film(folder / "mono1_u16.dcm", grey16, photometric="MONOCHROME1", BitsStored=12, HighBit=11,
                   PresentationLUTShape="INVERSE"))
    add(dicom_film(folder / "signed_rescale.dcm", (grey16.astype(np.int32) - 2048).astype(np.int16),
                   RescaleSlope="0.5", RescaleIntercept="-100"))
    add(dicom_film(folder / "rgb8.dcm", rgb8))
    add(dicom_film(folder / "frames_u16.dcm", np.stack([grey16, grey16[::-1]]), BitsStored=12, HighBit=11))
    add(dicom_film(folder / "deflated.dcm", grey16, transfer_syntax="1.2.840.10008.1.2.1.99", BitsStored=12, HighBit=11))
    add(dicom_film(folder / "implicit.dcm", grey16, transfer_syntax="1.2.840.10008.1.2", BitsStored=12, HighBit=11))
    add(dicom_film(folder / "rle.dcm", grey16, transfer_syntax=RLELossless, BitsStored=16, HighBit=15))
    for name, uid in (("jls.dcm", JPEGLSLossless), ("j2k.dcm", JPEG2000Lossless)):
        try:
            add(dicom_film(folder / name, grey16, transfer_syntax=uid, BitsStored=16, HighBit=15))
        except Exception:  # encoder plugin missing: the other seeds still cover the path
            pass
    add(dicom_jpeg_baseline(folder / "jpeg_baseline.dcm", grey8))
    # VOI LUT and float pixel data
    from pydicom.dataset import Dataset

    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 16]
    lut.LUTData = [int(v) for v in np.linspace(0, 65535, 4096)]
    lut["LUTData"].VR = "US"
    add(dicom_film(folder / "voi_lut.dcm", grey16, BitsStored=12, HighBit=11, VOILUTSequence=[lut]))
    ds = _base_dataset(Rows=64, Columns=72, SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2",
                       BitsAllocated=32)
    ds.FloatPixelData = np.linspace(-1.0, 3.0, 64 * 72, dtype=np.float32).tobytes()
    add(save_dicom(folder / "float.dcm", ds))
    # rasters
    Image.fromarray(grey8).save(folder / "grey8.png")
    add(folder / "grey8.png")
    Image.fromarray(grey16).save(folder / "grey16.png")
    add(folder / "grey16.png")
    Image.fromarray(rgb8).save(folder / "rgb8.jpg", quality=90)
    add(folder / "rgb8.jpg")
    Image.fromarray(grey8).convert("P").save(folder / "palette.png")
    add(folder / "palette.png")
    import cv2

    cv2.imwrite(str(folder / "rgba16.png"), np.dstack([grey16, grey16, grey16, np.full_like(grey16, 65535)]))
    add(folder / "rgba16.png")
    import tifffile

    tifffile.imwrite(folder / "grey16.tif", grey16)
    add(folder / "grey16.tif")
    tifffile.imwrite(folder / "float.tif", grey16.astype(np.float32) / 4095.0, compression="zlib")
    add(folder / "float.tif")
    tifffile.imwrite(folder / "tiled.tif", np.pad(grey8, ((0, 32), (0, 48))), tile=(64, 64))
    add(folder / "tiled.tif")
    # pydicom's own test files (shipped with pydicom)
    try:
        from pydicom.data import get_testdata_file

        for name in PYDICOM_SEEDS:
            src = get_testdata_file(name)
            if src:
                dst = folder / f"pydicom_{name}"
                dst.write_bytes(Path(src).read_bytes())
                add(dst)
    except Exception:
        pass
    return seeds


# ------------------------------------------------------------------------------------------------
# Mutations (seeded)
# ------------------------------------------------------------------------------------------------

_INTERESTING = (0, 1, 2, 7, 8, 15, 16, 31, 32, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _flip(rng: random.Random, data: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 24)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return data


def _bytes(rng: random.Random, data: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] = rng.randrange(256)
    return data


def _truncate(rng: random.Random, data: bytearray) -> bytearray:
    return data[: rng.randrange(1, len(data))]


def _insert(rng: random.Random, data: bytearray) -> bytearray:
    i = rng.randrange(len(data))
    return data[:i] + bytearray(rng.randrange(256) for _ in range(rng.randint(1, 64))) + data[i:]


def _delete(rng: random.Random, data: bytearray) -> bytearray:
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 256):]


def _duplicate(rng: random.Random, data: bytearray) -> bytearray:
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 512))
    return data[:j] + data[i:j] + data[j:]


def _interesting(rng: random.Random, data: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 4)):
        width = rng.choice((2, 4))
        if len(data) <= width:
            break
        i = rng.randrange(len(data) - width)
        v = rng.choice(_INTERESTING) & ((1 << (8 * width)) - 1)
        data[i : i + width] = v.to_bytes(width, rng.choice(("little", "big")))
    return data


def _header_field(rng: random.Random, data: bytearray) -> bytearray:
    """Hit the first KB (headers: DICOM meta and image tags, PNG IHDR, TIFF IFD, JPEG SOF)."""
    head = min(len(data), 1024)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(head)
        data[i] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return data


def _png_ihdr(rng: random.Random, data: bytearray) -> bytearray:
    """A PNG's IHDR with a new width/height/depth/colour type and a valid CRC."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 33:
        return _header_field(rng, data)
    field = rng.choice(("size", "depth", "colour"))
    if field == "size":
        data[16:20] = rng.choice((1, 31, 32, 4096, 65535, 0x7FFFFFFF)).to_bytes(4, "big")
    elif field == "depth":
        data[24] = rng.choice((1, 2, 4, 8, 16, 3, 0, 255))
    else:
        data[25] = rng.choice((0, 2, 3, 4, 6, 1, 7))
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return data


_DICOM_TAG_VALUES = {
    "Rows": (0, 1, 31, 32, 65535), "Columns": (0, 1, 31, 32, 65535), "BitsAllocated": (0, 1, 8, 12, 24, 32, 64, 65535),
    "BitsStored": (0, 1, 7, 17, 32, 255), "HighBit": (0, 31, 255), "SamplesPerPixel": (0, 2, 3, 4, 65535),
    "PixelRepresentation": (1, 2, 65535), "NumberOfFrames": ("0", "-1", "2", "99999", "x"),
    "PhotometricInterpretation": ("PALETTE COLOR", "YBR_FULL", "RGB", "MONOCHROME1", "HSV", ""),
    "RescaleSlope": ("0", "-1", "1e-300", "1e300", "nan", "inf"), "RescaleIntercept": ("1e38", "-1e38", "nan"),
    "WindowCenter": ("0", "-1e30", "nan", "1\\2\\3"), "WindowWidth": ("0", "-5", "1e-30", "inf"),
    "PlanarConfiguration": (1, 2), "PresentationLUTShape": ("INVERSE", "X"), "VOILUTFunction": ("SIGMOID", "BOGUS"),
}


def _dicom_tags(rng: random.Random, data: bytearray) -> bytearray:
    """Structure-aware: re-encode the data set with one to three tags set to odd values."""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(bytes(data)), force=True)
        for _ in range(rng.randint(1, 3)):
            kw = rng.choice(sorted(_DICOM_TAG_VALUES))
            setattr(ds, kw, rng.choice(_DICOM_TAG_VALUES[kw]))
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=False)
        return bytearray(out.getvalue())
    except Exception:
        return _interesting(rng, data)


MUTATORS: tuple[Callable[[random.Random, bytearray], bytearray], ...] = (
    _flip, _bytes, _truncate, _insert, _delete, _duplicate, _interesting, _header_field, _png_ihdr, _dicom_tags,
)


@dataclass(frozen=True)
class Mutant:
    path: Path
    seed: Path
    mutators: tuple[str, ...]


def mutants(seeds: list[Path], folder: Path, count: int, seed: int = 12) -> Iterator[Mutant]:
    """`count` mutated copies of the seeds (round robin), written into `folder`, reproducible from `seed`."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        rng = random.Random(seed * 1_000_003 + n)
        src = seeds[n % len(seeds)]
        data = bytearray(src.read_bytes())
        names = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            if len(data) < 4:
                break
            mutator = rng.choice(MUTATORS)
            data = mutator(rng, data)
            names.append(mutator.__name__.lstrip("_"))
        path = folder / f"m{n:04d}_{src.stem}{src.suffix}"
        path.write_bytes(bytes(data))
        yield Mutant(path, src, tuple(names))


# ------------------------------------------------------------------------------------------------
# Decompression bombs
# ------------------------------------------------------------------------------------------------


def _zeros_deflated(n: int, *, raw: bool, level: int = 9) -> Iterator[bytes]:
    """Deflate `n` zero bytes as a stream of compressed chunks (never `n` bytes in memory)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15 if raw else 15)
    block = bytes(min(n, 16 * MIB))
    left = n
    while left > 0:
        k = min(left, len(block))
        out = c.compress(block[:k] if k < len(block) else block)
        if out:
            yield out
        left -= k
    yield c.flush()


def deflated_dicom_bomb(path: Path, *, rows: int, cols: int, samples: int = 1, bits: int = 8,
                        payload: str = "small", extra_private: int = 0) -> Path:
    """A Deflated Explicit VR Little Endian DX declaring rows x cols x samples; the pixel data holds
    zeros: all of them (`payload="real"`) or 2 MiB (`"small"`). `extra_private` adds a private
    element of that many zero bytes before the pixel data (a bomb hidden outside the image)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    tags = dict(Rows=rows, Columns=cols, SamplesPerPixel=samples, BitsAllocated=bits, BitsStored=bits,
                HighBit=bits - 1, PixelRepresentation=0,
                PhotometricInterpretation="RGB" if samples == 3 else "MONOCHROME2")
    if samples > 1:
        tags["PlanarConfiguration"] = 0
    ds = _base_dataset(**tags)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    header = body.getvalue()
    declared = rows * cols * samples * ((bits + 7) // 8)
    declared += declared & 1
    pixel_len = min(declared, 0xFFFFFFFE)
    n_zeros = pixel_len if payload == "real" else min(pixel_len, 2 * MIB)
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\0" * 128 + b"DICM" + meta.getvalue())
        f.write(c.compress(header))
        if extra_private:
            priv = struct.pack("<HH", 0x0029, 0x0010) + b"LO" + struct.pack("<H", 8) + b"OSTEOBMB"
            priv += struct.pack("<HH", 0x0029, 0x1000) + b"OB\0\0" + struct.pack("<I", extra_private + (extra_private & 1))
            f.write(c.compress(priv))
            for chunk in _zero_chunks(extra_private + (extra_private & 1)):
                f.write(c.compress(chunk))
        f.write(c.compress(struct.pack("<HH", 0x7FE0, 0x0010) + (b"OB\0\0" if bits <= 8 else b"OW\0\0")
                           + struct.pack("<I", pixel_len)))
        for chunk in _zero_chunks(n_zeros):
            f.write(c.compress(chunk))
        f.write(c.flush())
    return path


def _zero_chunks(n: int) -> Iterator[bytes]:
    block = bytes(min(max(n, 1), 16 * MIB))
    while n > 0:
        k = min(n, len(block))
        yield block if k == len(block) else block[:k]
        n -= k


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(path: Path, *, width: int, height: int, bit_depth: int = 8, colour_type: int = 0,
             payload: str = "small") -> Path:
    """A PNG declaring width x height; its IDAT holds every (zero) row (`real`) or a few rows (`small`)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = 1 + width * channels * bit_depth // 8  # filter byte + samples
    n_rows = height if payload == "real" else min(height, 16)
    c = zlib.compressobj(9)
    zero_row = bytes(row)
    idat = bytearray()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)))
        for _ in range(n_rows):
            idat += c.compress(zero_row)
            if len(idat) >= MIB:
                f.write(_png_chunk(b"IDAT", bytes(idat)))
                idat.clear()
        idat += c.flush()
        f.write(_png_chunk(b"IDAT", bytes(idat)))
        f.write(_png_chunk(b"IEND", b""))
    return path


def tiff_bomb(path: Path, *, width: int, height: int, samples: int = 4, dtype=np.float64,
              payload: str = "small") -> Path:
    """A zlib-compressed tiled TIFF declaring width x height x samples of `dtype`; all tiles (`real`)
    or one small image whose header is then rewritten to the big size (`small`)."""
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    if payload == "real":
        tile = (512, 512)
        zeros = np.zeros((*tile, samples), dtype=dtype)
        n_tiles = -(-height // tile[0]) * -(-width // tile[1])
        tifffile.imwrite(path, data=(zeros for _ in range(n_tiles)), shape=(height, width, samples), dtype=dtype,
                         tile=tile, compression="zlib", photometric="rgb" if samples >= 3 else "minisblack",
                         extrasamples=("unassalpha",) * (samples - 3) if samples > 3 else None)
        return path
    small = np.zeros((64, 64, samples), dtype=dtype)
    tifffile.imwrite(path, small, compression="zlib", photometric="rgb" if samples >= 3 else "minisblack",
                     extrasamples=("unassalpha",) * (samples - 3) if samples > 3 else None)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tf:
        tags = tf.pages.first.tags
        for name, value in (("ImageWidth", width), ("ImageLength", height), ("RowsPerStrip", height)):
            tag = tags.get(name)
            if tag is None:
                continue
            fmt = {3: "<H", 4: "<I"}[tag.dtype]
            data[tag.valueoffset : tag.valueoffset + struct.calcsize(fmt)] = struct.pack(fmt, min(value, 0xFFFF if fmt == "<H" else value))
    path.write_bytes(bytes(data))
    return path


def j2k_dicom_bomb(path: Path, *, declared: int = 65535) -> Path:
    """A 64 x 64 DX whose JPEG 2000 codestream's own header (SIZ) declares declared x declared."""
    from pydicom.uid import JPEG2000Lossless

    dicom_film(path, ramp(64, 64), transfer_syntax=JPEG2000Lossless, BitsStored=16, HighBit=15)
    data = bytearray(path.read_bytes())
    siz = data.find(b"\xff\x4f\xff\x51")
    if siz < 0:
        raise RuntimeError("no JPEG 2000 codestream found")
    base = siz + 8
    data[base : base + 8] = struct.pack(">II", declared, declared)  # Xsiz, Ysiz
    path.write_bytes(bytes(data))
    return path


@dataclass(frozen=True)
class Bomb:
    name: str
    make: Callable[[Path, str], Path]  # (folder, payload) -> file
    issue_text: str  # what the issue measured


BOMBS: tuple[Bomb, ...] = (
    Bomb("deflated_65535sq", lambda d, p: deflated_dicom_bomb(d / "deflated_65535sq.dcm", rows=65535, cols=65535, payload=p),
         "4.2 MB deflated DICOM declaring 65535^2: 9.3 GB before refusal"),
    Bomb("deflated_rgb", lambda d, p: deflated_dicom_bomb(d / "deflated_rgb.dcm", rows=14000, cols=14000, samples=3, payload=p),
         "1.1 MB deflated RGB DICOM: 8.1 GB, then screened"),
    Bomb("tiff_f64_rgba", lambda d, p: tiff_bomb(d / "f64_rgba.tif", width=9000, height=9000, payload=p),
         "6.4 MB float64 RGBA TIFF: 10.8 GB"),
    Bomb("png16_rgba", lambda d, p: png_bomb(d / "rgba16.png", width=12000, height=12000, bit_depth=16, colour_type=6, payload=p),
         "1.5 MB 16-bit RGBA PNG (OpenCV): 7.0 GB"),
    Bomb("png_13000sq", lambda d, p: png_bomb(d / "grey_13000.png", width=13000, height=13000, payload=p),
         "194 KB 13000^2 PNG: 6.2 GB"),
    Bomb("j2k_codestream", lambda d, p: j2k_dicom_bomb(d / "j2k_codestream.dcm"),
         "(extra) 64x64 DICOM whose JPEG 2000 codestream declares 65535^2"),
)
