"""Presentation contexts we propose and accept, and DIMSE status codes in words."""

from __future__ import annotations

from typing import Any

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

# SOP classes (pynetdicom's sop_class module makes its names at run time, unseen by type checkers)
VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"

#: what we accept and ask for when films come to us: uncompressed first, then every compressed
#: syntax the viewer can decode (so a PACS never needs to transcode, and never loses quality doing so)
FILM_TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGLosslessSV1,
    JPEGLossless,
    JPEGLSLossless,
    JPEG2000Lossless,
    RLELossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
    JPEG2000,
]


def storage_scp_contexts() -> list[Any]:
    """Every storage SOP class, each with every transfer syntax (what a storage node accepts).

    The acceptor picks, of the syntaxes a sender proposes, the first in this order: explicit VR
    little endian first (what most senders can always do), lossless compression before lossy, so a
    sender that offers both is never asked to compress lossily."""
    from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_context

    order: list[str] = [str(ts) for ts in FILM_TRANSFER_SYNTAXES]
    order += [str(ts) for ts in ALL_TRANSFER_SYNTAXES if ts not in FILM_TRANSFER_SYNTAXES]
    return [build_context(str(cx.abstract_syntax), list(order)) for cx in AllStoragePresentationContexts]


def retrieve_storage_contexts(limit: int = 120) -> list[Any]:
    """Storage contexts requested in a C-GET association (at most `limit`: an association carries at
    most 128 contexts, one of them the C-GET itself). pynetdicom's 120 common storage classes."""
    from pynetdicom import StoragePresentationContexts, build_context

    syntaxes: list[str] = [str(ts) for ts in FILM_TRANSFER_SYNTAXES]
    return [build_context(str(cx.abstract_syntax), list(syntaxes)) for cx in StoragePresentationContexts[:limit]]


_GENERAL = {
    0x0000: "success",
    0x0107: "attribute list error",
    0x0116: "attribute value out of range",
    0x0122: "SOP class not supported",
    0x0124: "refused: not authorised",
    0x0210: "duplicate invocation",
    0x0211: "unrecognised operation",
    0x0212: "mistyped argument",
    0xA700: "refused: out of resources",
    0xA701: "refused: out of resources (unable to calculate the number of matches)",
    0xA702: "refused: out of resources (unable to perform sub-operations)",
    0xA801: "refused: move destination unknown",
    0xA900: "identifier does not match the SOP class",
    0xB000: "warning: some sub-operations failed or had warnings",
    0xB007: "warning: data set does not match the SOP class",
    0xFE00: "cancelled",
    0xFF00: "pending",
    0xFF01: "pending (some optional keys not supported)",
}


def status_text(code: int | None) -> str:
    if code is None:
        return "no response (timeout or connection lost)"
    text = _GENERAL.get(code)
    if text is None:
        if 0xA700 <= code <= 0xA7FF:
            text = "refused: out of resources"
        elif 0xA900 <= code <= 0xA9FF:
            text = "data set does not match the SOP class"
        elif 0xC000 <= code <= 0xCFFF:
            text = "failed: unable to process"
        else:
            text = "failure"
    return f"{text} (status 0x{code:04X})"
