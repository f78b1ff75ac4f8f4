"""Recognising osteo-desktop's own outputs, so they are never screened as if they were radiographs.

`osteo-screen --out` writes `<stem>_film.png`, `<stem>_overlay.png` and `<stem>.json`; with
`--dicom-sr/--dicom-sc` also `<stem>_SR.dcm` / `<stem>_SC.dcm`. Run again with `--out` = the source
folder, the overlay (a film with a heatmap burned in) would be screened and get "suspected". Names
alone prove nothing (a user may call a real film `knee_film.png`), so every output carries a marker:

* PNG: a `tEXt` chunk with keyword `osteo-desktop-output` (the kind: "film", "overlay"), right after
  the IHDR chunk, where `own_output_kind` finds it by reading a few hundred bytes;
* JSON: a top-level `"osteo_desktop_output"` field;
* DICOM SR / SC: Manufacturer "osteo-desktop" (what `reports.dicom_outputs` writes).
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

from .. import __version__

log = logging.getLogger(__name__)

PNG_KEYWORD = b"osteo-desktop-output"
JSON_KEY = "osteo_desktop_output"
DICOM_MANUFACTURER = "osteo-desktop"  # = reports.dicom_outputs.MANUFACTURER
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_SCAN_LIMIT = 4096  # our chunk comes right after IHDR (byte 33)
_OUTPUT_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.88.")  # SC, any SR


def png_marker_value(kind: str) -> str:
    return f"{kind}; osteo-desktop {__version__}"


def mark_png(png: bytes, kind: str) -> bytes:
    """`png` with our tEXt chunk inserted right after its IHDR chunk."""
    if not png.startswith(_PNG_MAGIC) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG with an IHDR chunk first")
    ihdr_end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    body = PNG_KEYWORD + b"\0" + png_marker_value(kind).encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def png_output_kind(head: bytes) -> str | None:
    """The kind in our tEXt chunk among the chunks before the image data, or None."""
    if not head.startswith(_PNG_MAGIC):
        return None
    i = 8
    while i + 8 <= len(head):
        length, ctype = struct.unpack(">I4s", head[i : i + 8])
        if ctype in (b"IDAT", b"IEND"):
            return None
        body = head[i + 8 : i + 8 + length]
        if ctype == b"tEXt" and body.startswith(PNG_KEYWORD + b"\0"):
            return body[len(PNG_KEYWORD) + 1 :].decode("latin-1", "replace").split(";")[0].strip() or "output"
        i += 12 + length
    return None


def json_marker() -> dict[str, Any]:
    return {"tool": "osteo-screen", "version": __version__}


def own_output_kind(path: str | os.PathLike[str]) -> str | None:
    """What osteo-desktop output this file is ("film", "overlay", "result JSON", "DICOM SC/SR"), or
    None for anything else (including unreadable files: the loader says what is wrong with them)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(_SCAN_LIMIT)
    except OSError:
        return None
    if head.startswith(_PNG_MAGIC):
        kind = png_output_kind(head)
        return f"{kind} picture" if kind else None
    if p.suffix.lower() == ".json" and head.lstrip()[:1] == b"{":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return "result JSON" if isinstance(data, dict) and JSON_KEY in data else None
    if len(head) >= 132 and head[128:132] == b"DICM" and is_output_name(p.name):
        # only files named like our outputs: reading every DICOM header here would be slow; a renamed
        # one is recognised once loaded (`dicom_output_kind(film.header)`)
        return dicom_output_kind_of_file(p)
    return None


def dicom_output_kind_of_file(p: Path) -> str | None:
    import pydicom

    try:
        ds = pydicom.dcmread(str(p), stop_before_pixels=True, specific_tags=["Manufacturer", "SOPClassUID"])
    except Exception:  # a damaged header: not ours to judge here
        return None
    return dicom_output_kind(ds)


def dicom_output_kind(ds: Any) -> str | None:
    """"DICOM secondary capture" / "DICOM structured report" when a header is one of ours."""
    if ds is None:
        return None
    try:
        manufacturer = str(ds.get("Manufacturer", "") or "").strip()
        sop = str(ds.get("SOPClassUID", "") or "").strip()
    except Exception:
        return None
    if manufacturer != DICOM_MANUFACTURER:
        return None
    if sop == _OUTPUT_SOP_CLASSES[0]:
        return "DICOM secondary capture"
    if sop.startswith(_OUTPUT_SOP_CLASSES[1]):
        return "DICOM structured report"
    return None


def is_output_name(name: str) -> bool:
    """Names osteo-screen gives its outputs (a cheap first filter; the marker decides)."""
    n = name.lower()
    return n.endswith(("_film.png", "_overlay.png", "_sr.dcm", "_sc.dcm")) or n.startswith("osteo-report_")
