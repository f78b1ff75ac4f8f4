"""Is this film a knee or spine radiograph? The model is validated only for those.

`anatomy_of(film)` says "knee", "spine" or None (unknown) from the DICOM tags (Body Part Examined,
then study/series descriptions). `anatomy_warnings(film)` flags films whose tags *say* they are
something else: another modality (CT, MR, US...) or another body part (chest, hand, hip...).
A body part contradicted by a description naming a knee or the spine gives no warning either.
Absent or vague tags (a PNG, EXTREMITY, LEG, free text we do not know) give no warning: knee films
are often tagged EXTREMITY or LEG, and a false alarm on every film would teach readers to ignore it.
"""

from __future__ import annotations

import re

from .film import Film

KNEE, SPINE = "knee", "spine"

#: Plain-radiography modalities (RG: radiographic imaging, DR: legacy vendor code, OT: other /
#: secondary capture, common for films digitised or exported from a PACS).
ACCEPTED_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "OT"})
MODALITY_NAMES = {
    "CT": "computed tomography",
    "MR": "magnetic resonance",
    "US": "ultrasound",
    "NM": "nuclear medicine",
    "PT": "PET",
    "XA": "angiography",
    "RF": "fluoroscopy",
    "MG": "mammography",
    "IO": "intra-oral dental radiograph",
    "PX": "panoramic dental radiograph",
    "DG": "diaphanography",
    "ES": "endoscopy",
    "XC": "photograph",
    "OP": "ophthalmic photograph",
    "SM": "slide microscopy",
    "SC": "secondary capture",
    "BMD": "bone densitometry (DXA)",
    "SR": "structured report",
    "DOC": "document",
}

# Body Part Examined, normalised to upper-case letters and digits only (DICOM CID 4031 defined terms
# and common vendor spellings).
_KNEE_PARTS = frozenset({"KNEE", "KNEES", "KNEEJOINT", "PATELLA", "BOTHKNEES", "KNIE", "GENOU", "RODILLA", "GINOCCHIO"})
_SPINE_PARTS = frozenset(
    {
        "SPINE", "CSPINE", "TSPINE", "LSPINE", "SSPINE", "LSSPINE", "CTSPINE", "TLSPINE", "WHOLESPINE",
        "CERVICALSPINE", "THORACICSPINE", "LUMBARSPINE", "LUMBOSACRALSPINE", "THORACOLUMBARSPINE",
        "SACRUM", "COCCYX", "VERTEBRA", "VERTEBRALCOLUMN", "LWS", "HWS", "BWS", "WIRBELSAEULE", "RACHIS",
        "COLUMNA",
    }
)
#: Parts that are neither knee nor spine (a warning). Anything not listed (EXTREMITY, LEG, LOWER LIMB,
#: FEMUR, OTHER, free text...) is left alone: it may well be a knee.
_OTHER_PARTS = frozenset(
    {
        "CHEST", "THORAX", "LUNG", "LUNGS", "HEART", "RIB", "RIBS", "STERNUM", "CLAVICLE", "SCAPULA",
        "SHOULDER", "ARM", "UPPERARM", "HUMERUS", "ELBOW", "FOREARM", "WRIST", "HAND", "FINGER",
        "THUMB", "UPPEREXTREMITY", "UPPERLIMB", "HIP", "HIPS", "PELVIS", "SIJOINT", "ABDOMEN", "KUB",
        "ANKLE", "FOOT", "HEEL", "CALCANEUS", "TOE", "SKULL", "HEAD", "BRAIN", "FACE", "SINUS",
        "SINUSES", "JAW", "MANDIBLE", "TMJ", "NECK", "BREAST", "TEETH", "TOOTH", "ORBIT", "NASALBONES",
    }
)

_WORDS = {
    KNEE: re.compile(r"\b(KNEES?|PATELLA|KNIE|GENOU|RODILLA)\b"),
    SPINE: re.compile(
        r"\b(SPINE|[CTLS]-?SPINE|LUMBAR|THORACIC SPINE|CERVICAL|VERTEBRA[EL]?|LWS|HWS|BWS|SACRUM|COCCYX|"
        r"WIRBELS[AÄ]ULE|RACHIS|COLUMNA)\b"
    ),
}


def _norm(value: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", value.upper())


def _part_anatomy(body_part: str) -> str | None:
    part = _norm(body_part)
    if part in _KNEE_PARTS:
        return KNEE
    if part in _SPINE_PARTS or part.endswith("SPINE"):
        return SPINE
    return None


def anatomy_of(film: Film) -> str | None:
    """"knee", "spine" or None (unknown), from Body Part Examined, then the descriptions."""
    found = _part_anatomy(film.ids.body_part)
    if found:
        return found
    text = f"{film.ids.series_description} {film.ids.study_description}".upper()
    hits = [name for name, rx in _WORDS.items() if rx.search(text)]
    return hits[0] if len(hits) == 1 else None


def other_body_part(film: Film) -> str:
    """The Body Part Examined when it names another anatomy (chest, hand...) and no description names a
    knee or the spine (a thoracic spine film tagged THORAX is still a spine film); else ""."""
    if _norm(film.ids.body_part) in _OTHER_PARTS and anatomy_of(film) is None:
        return film.ids.body_part.strip()
    return ""


def anatomy_warnings(film: Film) -> list[str]:
    """Warnings for a film whose DICOM tags say it is not a knee or spine radiograph."""
    out: list[str] = []
    name = film.display_name
    modality = film.ids.modality.strip().upper()
    if modality and modality not in ACCEPTED_MODALITIES:
        what = MODALITY_NAMES.get(modality, "not a plain radiograph")
        out.append(
            f"{name}: the DICOM modality is {modality} ({what}), not a plain radiograph (CR/DX). The "
            "screening result is not validated for it."
        )
    # Another body part, unless the descriptions name a knee or the spine (e.g. a thoracic spine
    # film tagged THORAX by the modality's default protocol).
    if _norm(film.ids.body_part) in _OTHER_PARTS and anatomy_of(film) is None:
        out.append(
            f"{name}: the body part examined is {film.ids.body_part.strip().upper()}, not a knee or the spine. "
            "The screening result is not validated for this anatomy."
        )
    return out
