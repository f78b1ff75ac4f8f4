"""DICOM films through pydicom 3 and its pixel-data plugins.

Pixels become float32 *modality values* (Rescale Slope/Intercept or the Modality LUT Sequence,
applied exactly once, here). Everything after that (VOI, inversion) is `core.display`'s job; this
module only reports what the file says: windows, VOI LUT, photometric interpretation, Presentation
LUT Shape; the tags become the film's fields in `loading.dicom_tags`.

The image size is checked from the header before any pixel is decoded, in pixels and against the
memory budget in bytes (`loading.budget`: frames, samples and bytes per sample included; deflated
data sets are inflated in steps, within the budget, by `loading.dicom_read`; a compressed frame's
own codestream header is checked too, by `loading.codestream`). The pixel data element itself is
read from disk only once the checks pass (`defer_size`). The file is only ever opened read-only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)

from ..errors import DecoderMissingError, FilmLoadError, FilmTooLargeError
from ..film import Film
from . import dicom_tags as tags
from .budget import DEFAULT_MAX_BYTES, MIB, check_decode_size
from .codestream import declared_size
from .common import check_dimensions, colour_to_grey, nominal_window
from .dicom_read import decode_size, read_dicom
from .dicom_tags import tag_float, tag_int, tag_str

log = logging.getLogger(__name__)

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009, 0xFFFCFFFC)  # + Data Set Trailing Padding
_DEFER_SIZE = 64 * 1024  # elements larger than this are read from disk only when used

_LIBJPEG = "pylibjpeg pylibjpeg-libjpeg"
_OPENJPEG = "pylibjpeg pylibjpeg-openjpeg"
#: pip packages that provide a decoder, by transfer syntax UID prefix/value.
_DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": f"{_LIBJPEG} (or pillow)",
    "1.2.840.10008.1.2.4.51": _LIBJPEG,
    "1.2.840.10008.1.2.4.57": _LIBJPEG,
    "1.2.840.10008.1.2.4.70": _LIBJPEG,
    "1.2.840.10008.1.2.4.80": f"pyjpegls (or {_LIBJPEG})",
    "1.2.840.10008.1.2.4.81": f"pyjpegls (or {_LIBJPEG})",
    "1.2.840.10008.1.2.4.90": _OPENJPEG,
    "1.2.840.10008.1.2.4.91": _OPENJPEG,
    "1.2.840.10008.1.2.4.201": _OPENJPEG,
    "1.2.840.10008.1.2.4.202": _OPENJPEG,
    "1.2.840.10008.1.2.4.203": _OPENJPEG,
    "1.2.840.10008.1.2.5": "pylibjpeg-rle (pydicom's own RLE decoder needs numpy only)",
}


def decoder_packages(uid: str) -> str:
    """The pip package(s) that decode a transfer syntax (for error messages)."""
    return _DECODER_PACKAGES.get(str(uid), "pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pyjpegls")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def load_dicom(path: Path, *, max_pixels: int, force: bool = False, max_bytes: int = DEFAULT_MAX_BYTES) -> Film:
    """Load a DICOM image file. `force` reads a data set written without the 128-byte preamble."""
    path = Path(path)
    name = path.name
    warnings: list[str] = []
    ds = _read_dataset(path, force, max_pixels, max_bytes)
    tsyntax = _transfer_syntax(ds, path)

    _drop_unreadable(ds, name, warnings, skip=_PIXEL_TAGS)  # a damaged tag must not make the film unreadable
    _require_image(path, ds)
    rows, cols = tag_int(ds, "Rows"), tag_int(ds, "Columns")
    _check_size(path, ds, max_pixels, max_bytes)
    frames = max(1, tag_int(ds, "NumberOfFrames", 1))
    if frames > 1:
        warnings.append(f"{name}: the file holds {frames} frames; only the first one is screened.")
    _check_pixel_element(path, ds, tsyntax, frames, max_bytes)

    raw, photometric = _decode_first_frame(path, ds, tsyntax)
    for tag in _PIXEL_TAGS:  # free the encoded bytes; the header keeps everything else
        if tag in ds:
            del ds[tag]

    if raw.ndim == 2:  # grey
        pixels = _modality_values(raw, ds, name, warnings)
        windows = tags.windows(ds, name, warnings)
        voi_lut = tags.voi_lut(ds, name, warnings)
    elif raw.ndim == 3:  # colour: RGB (pydicom already converted YBR) or an applied palette
        bits = _colour_bits(ds, raw)
        pixels = colour_to_grey(raw, float((1 << bits) - 1), name, warnings)
        windows, voi_lut = (nominal_window(bits),), None  # colour values are display values
    else:
        raise FilmLoadError(f"{path}: unexpected decoded pixel shape {raw.shape}; the file is not a 2-D image.")
    del raw
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        photometric = "MONOCHROME2"
    _drop_unreadable(ds, name, warnings)  # read any other deferred element now: `header` must not depend on the file later

    film = Film(
        path=path,
        pixels=pixels,
        photometric=photometric,
        presentation_lut_shape=tag_str(ds, "PresentationLUTShape").upper(),
        windows=windows,
        voi_lut=voi_lut,
        spacing=tags.spacing(ds, name, warnings),
        ids=tags.identifiers(ds),
        source_format="DICOM",
        transfer_syntax=tsyntax.name,
        bits_stored=tag_int(ds, "BitsStored", tag_int(ds, "BitsAllocated", 8)),
        frame_count=frames,
        warnings=warnings,
        header=ds,
    )
    log.debug(
        "loaded DICOM %s: %s, %dx%d, %s, %d warning(s)",
        name, tsyntax.name, cols, rows, film.photometric, len(warnings),
    )
    return film


# --------------------------------------------------------------------------------------------
# Reading and decoding
# --------------------------------------------------------------------------------------------


def _check_size(path: Path, ds: Dataset, max_pixels: int, max_bytes: int) -> None:
    """The declared decoded size against the memory budget, then Rows x Columns (empty, too small, pixel limit)."""
    check_decode_size(path, decode_size(ds), max_bytes)
    check_dimensions(path, tag_int(ds, "Rows"), tag_int(ds, "Columns"), max_pixels)


def _read_dataset(path: Path, force: bool, max_pixels: int = 1 << 62, max_bytes: int = DEFAULT_MAX_BYTES) -> Dataset:
    def check_header(header: Dataset) -> None:  # a deflated header, before the rest is inflated
        if "Rows" in header and "Columns" in header:
            _check_size(path, header, max_pixels, max_bytes)

    try:
        ds = read_dicom(path, force=force, defer_size=_DEFER_SIZE, max_bytes=max_bytes, check_header=check_header)
    except FilmLoadError:
        raise
    except InvalidDicomError as e:
        raise FilmLoadError(
            f"{path}: not a valid DICOM file ({e}). Check that it is a DICOM image; export it again "
            "from the PACS or the modality."
        ) from e
    except PermissionError as e:
        raise FilmLoadError(f"{path}: permission denied, the file cannot be read. Ask for read access.") from e
    except OSError as e:  # the file vanished, a symlink loop, an I/O error on the drive
        raise FilmLoadError(f"{path}: cannot be read ({e.strerror or e}). Check the drive or copy the file again.") from e
    except MemoryError as e:
        raise FilmLoadError(f"{path}: not enough memory to read the file. Close other films and retry.") from e
    except Exception as e:  # truncated headers surface as EOFError, struct.error, ValueError...
        raise FilmLoadError(
            f"{path}: the DICOM file is damaged or incomplete and cannot be read ({type(e).__name__}: {e}). "
            "Copy or export it again."
        ) from e
    if len(ds) == 0:
        raise FilmLoadError(
            f"{path}: no DICOM data elements could be read; the file is damaged or truncated. Copy or "
            "export it again."
        )
    return ds


def _transfer_syntax(ds: Dataset, path: Path) -> UID:
    meta = getattr(ds, "file_meta", None)
    try:
        uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    except Exception:  # an undecodable element in the file meta
        uid = None
    if isinstance(uid, str) and uid.strip():
        return UID(uid.strip())
    if uid:
        raise FilmLoadError(
            f"{path}: the transfer syntax "
            f"in the file meta information is unreadable ({str(uid)[:60]!r}); the file is damaged. Export it again."
        )
    # A data set without file meta information: the encoding it was read with says which one.
    implicit, little = ds.original_encoding
    uid = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian)
    if meta is not None:
        meta.TransferSyntaxUID = uid  # in memory only: the decoder needs it
    return uid


def _require_image(path: Path, ds: Dataset) -> None:
    sop = tag_str(ds, "SOPClassUID") or tag_str(getattr(ds, "file_meta", Dataset()), "MediaStorageSOPClassUID")
    if sop == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds:
        raise FilmLoadError(
            f"{path}: is a DICOMDIR (the index of a DICOM folder or CD), not an image. Open the folder "
            "that holds it instead."
        )
    if not any(k in ds for k in PIXEL_KEYWORDS):
        if "Rows" in ds and "Columns" in ds:
            raise FilmLoadError(
                f"{path}: the header describes a {tag_int(ds, 'Columns')}x{tag_int(ds, 'Rows')} image but the pixel "
                "data is missing or cut off: the file is truncated. Copy or export it again."
            )
        what = UID(sop).name if sop else "unknown kind"
        modality = tag_str(ds, "Modality")
        raise FilmLoadError(
            f"{path}: this DICOM file holds no image ({what}{', modality ' + modality if modality else ''}). "
            "Choose the radiograph itself (a CR or DX image)."
        )
    if "Rows" not in ds or "Columns" not in ds:
        raise FilmLoadError(f"{path}: the DICOM header has no image size (Rows/Columns); the file is damaged.")


def _check_pixel_element(path: Path, ds: Dataset, tsyntax: UID, frames: int, max_bytes: int) -> None:
    """The stored pixel data is read whole: its length, and a compressed first frame's own codestream
    header (what the decoder plugin will allocate), must fit the budget too."""
    tag = next((t for t in _PIXEL_TAGS[:3] if t in ds), None)
    if tag is None:
        return
    length = getattr(ds.get_item(tag, keep_deferred=True), "length", None)  # raw: neither read nor converted
    if isinstance(length, int) and length != 0xFFFFFFFF and length > max_bytes + MIB:
        raise FilmTooLargeError(
            f"{path}: the pixel data element holds {length / MIB:,.0f} MB, above the limit of "
            f"{max_bytes / MIB:,.0f} MB per film. Keep only the frame you need before opening."
        )
    try:
        encapsulated = tsyntax.is_encapsulated
    except ValueError:  # not a transfer syntax pydicom knows: the decoder lookup says so
        return
    if not encapsulated or tag != 0x7FE00010:
        return
    try:
        from pydicom.encaps import generate_frames

        first = next(generate_frames(ds.PixelData, number_of_frames=frames))
    except Exception as e:  # damaged encapsulation: the decoder says so in its own words
        log.debug("%s: first frame not extracted for the codestream check (%s)", path.name, e)
        return
    declared = declared_size(bytes(first[:1 << 16]))
    if declared is not None:
        check_decode_size(path, declared, max_bytes)


def _decode_first_frame(path: Path, ds: Dataset, tsyntax: UID) -> tuple[np.ndarray, str]:
    """Decode frame 0 only. Returns (array, photometric interpretation of the array)."""
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as e:
        raise DecoderMissingError(
            f"{path}: transfer syntax '{tsyntax.name}' ({tsyntax}) is not supported by any installed decoder. "
            "Convert the file to an uncompressed or JPEG/JPEG 2000 transfer syntax (e.g. dcmdjpeg, "
            "gdcmconv --raw) and open it again."
        ) from e
    if not decoder.is_available:
        raise DecoderMissingError(
            f"{path}: no decoder is installed for transfer syntax '{tsyntax.name}'. Install it with: "
            f"pip install {decoder_packages(tsyntax)}"
        )
    try:
        arr, meta = decoder.as_array(ds, index=0)
    except MemoryError as e:
        raise FilmLoadError(f"{path}: not enough memory to decode the image. Close other films and retry.") from e
    except Exception as e:  # each plugin raises its own kind (RuntimeError, ValueError, ...)
        reason = " ".join(str(e).split())
        raise FilmLoadError(
            f"{path}: the image data could not be decoded ({tsyntax.name}): {reason[:300]}. The file is "
            "probably damaged or truncated; export it again from the PACS or the modality."
        ) from e
    photometric = str(meta.get("photometric_interpretation", tag_str(ds, "PhotometricInterpretation"))).upper()
    if photometric == "PALETTE COLOR" and arr.ndim == 2:
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as e:
            raise FilmLoadError(f"{path}: the palette (colour lookup table) is invalid: {e}.") from e
        photometric = "RGB"
    return arr, photometric


def _colour_bits(ds: Dataset, rgb: np.ndarray) -> int:
    """Nominal depth of decoded colour values: the palette's entry size, else Bits Stored."""
    if tag_str(ds, "PhotometricInterpretation").upper() == "PALETTE COLOR":
        try:
            return 8 if int(ds.RedPaletteColorLookupTableDescriptor[2]) == 8 else 16
        except Exception:
            return 8 if rgb.dtype.itemsize == 1 else 16
    return max(1, min(tag_int(ds, "BitsStored", tag_int(ds, "BitsAllocated", 8)), 16))


def _modality_values(arr: np.ndarray, ds: Dataset, name: str, warnings: list[str]) -> np.ndarray:
    """Stored values -> float32 modality values, with one float32 copy of the decoded frame."""
    if ds.get("ModalityLUTSequence"):
        try:
            return np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
        except Exception as e:  # malformed LUT: better the stored values than no film
            warnings.append(f"{name}: the Modality LUT is invalid ({e}); stored pixel values are used instead.")
    out = arr.astype(np.float32)  # the one copy
    slope = tag_float(ds, "RescaleSlope", name, warnings)
    intercept = tag_float(ds, "RescaleIntercept", name, warnings)
    if slope is not None and slope == 0.0:
        warnings.append(f"{name}: Rescale Slope is 0; ignored (stored values are used).")
        slope = None
    if (slope is not None and slope != 1.0) or (intercept is not None and intercept != 0.0):
        _check_rescale_range(arr, slope if slope is not None else 1.0, intercept or 0.0, name, warnings)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # _check_rescale_range said so
        if slope is not None and slope != 1.0:
            out *= np.float32(slope)
        if intercept is not None and intercept != 0.0:
            out += np.float32(intercept)
    return out


_F32 = np.finfo(np.float32)


def _check_rescale_range(arr: np.ndarray, slope: float, intercept: float, name: str, warnings: list[str]) -> None:
    """The rescale computed in float64 on the stored extremes: say when float32 modality values
    overflow, or lose the differences between stored values (the picture check then refuses them)."""
    if not arr.size:
        return
    lo, hi = float(arr.min()), float(arr.max())
    ends = (slope * lo + intercept, slope * hi + intercept)
    if not all(np.isfinite(ends)) or max(abs(e) for e in ends) > float(_F32.max):
        warnings.append(
            f"{name}: Rescale Slope {slope:g} / Intercept {intercept:g} map the stored values beyond the "
            "range of floating-point numbers; the modality values are infinite."
        )
    elif hi > lo and abs(slope) * (hi - lo) <= max(max(abs(e) for e in ends) * float(_F32.eps), float(_F32.tiny)):
        warnings.append(
            f"{name}: Rescale Slope {slope:g} / Intercept {intercept:g} leave no measurable difference between "
            "the stored values; the picture is uniform."
        )


def _drop_unreadable(ds: Dataset, name: str, warnings: list[str], skip: tuple[int, ...] = (), depth: int = 0) -> None:
    """Convert every element now (reading deferred ones); an element pydicom cannot decode (unknown
    VR, bad length, broken sequence) is removed with a warning instead of failing later at random."""
    bad: list[Any] = []
    for tag in list(ds.keys()):
        if tag in skip:
            continue
        try:
            elem = ds[tag]
            if elem.VR == "SQ" and depth < 16:
                for item in elem.value:
                    _drop_unreadable(item, name, warnings, depth=depth + 1)
        except Exception as e:  # pydicom raises NotImplementedError, ValueError, KeyError, struct.error...
            log.debug("%s: element %s unreadable: %s", name, tag, e)
            bad.append(tag)
    for tag in bad:
        try:
            del ds[tag]
        except Exception:  # pragma: no cover - deleting a key that just failed to convert
            pass
    if bad:
        shown = ", ".join(f"({int(t) >> 16:04X},{int(t) & 0xFFFF:04X})" for t in bad[:5])
        warnings.append(f"{name}: {len(bad)} damaged DICOM element(s) ignored: {shown}{' ...' if len(bad) > 5 else ''}.")
