"""The image size a compressed DICOM frame declares in its own codestream header.

pydicom checks a decoded frame against Rows/Columns only *after* the plugin has decoded it, and the
plugins (libjpeg, openjpeg, charls) allocate what the codestream declares: a 64 x 64 DICOM header
can carry a JPEG 2000 codestream of 65535 x 65535. `declared_size` reads the codestream's own
header (JPEG SOFn, JPEG-LS SOF55, JPEG 2000 SIZ, also inside a JP2 box) without decoding, so the
loader can check it against the memory budget first. Unknown or damaged headers give None.
"""

from __future__ import annotations

import struct

from .budget import DecodeSize, bytes_per_sample

_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}  # + JPEG-LS SOF55
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RSTn: no length field


def declared_size(data: bytes) -> DecodeSize | None:
    """The size a JPEG / JPEG-LS / JPEG 2000 codestream (or JP2 file) declares, or None."""
    try:
        if data[:2] == b"\xff\xd8":
            return _jpeg(data)
        if data[:4] == b"\xff\x4f\xff\x51":
            return _j2k(data, 2)
        if data[4:8] == b"jP  ":
            return _jp2(data)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _jpeg(data: bytes) -> DecodeSize | None:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            i += 1  # tolerate stray bytes between segments
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI / SOS before any SOF: no size here
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF_MARKERS:
            precision = data[i + 4]
            rows, cols = struct.unpack(">HH", data[i + 5 : i + 9])
            comps = data[i + 9]
            return DecodeSize(rows=rows, cols=cols, samples=max(1, comps), bytes_per_sample=bytes_per_sample(precision))
        if length < 2:
            return None
        i += 2 + length
    return None


def _j2k(data: bytes, siz_at: int) -> DecodeSize | None:
    # SIZ: marker(2) Lsiz(2) Rsiz(2) Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz (4 each) Csiz(2) Ssiz...
    if data[siz_at : siz_at + 2] != b"\xff\x51":
        return None
    base = siz_at + 6
    xsiz, ysiz, xo, yo = struct.unpack(">IIII", data[base : base + 16])
    (csiz,) = struct.unpack(">H", data[base + 32 : base + 34])
    depth = max(((data[base + 34 + k] & 0x7F) + 1 for k in range(min(csiz, 16384))), default=8)
    # openjpeg decodes every component into 32-bit integers before pydicom gets the frame
    return DecodeSize(rows=max(0, ysiz - yo), cols=max(0, xsiz - xo), samples=max(1, csiz),
                      bytes_per_sample=max(bytes_per_sample(depth), 4))


def _jp2(data: bytes) -> DecodeSize | None:
    i, n = 0, len(data)
    while i + 8 <= n:
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        header = 8
        if length == 1:
            (length,) = struct.unpack(">Q", data[i + 8 : i + 16])
            header = 16
        if kind == b"jp2c":
            start = i + header
            if data[start : start + 4] == b"\xff\x4f\xff\x51":
                return _j2k(data, start + 2)
            return None
        if length == 0 or length < header:
            return None
        i += length
    return None
