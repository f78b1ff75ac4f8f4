"""Shared pieces of the report writers: the screened-film record, safe file writing, pseudonyms,
and identifier formatting.

Nothing here logs a patient name or birth date.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..anatomy import anatomy_of
from ..atomic import atomic_write_bytes
from ..errors import ReportError
from ..film import Film

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..inference import Prediction
    from .images import FilmPictures

log = logging.getLogger(__name__)

PSEUDONYM_PREFIX = "ANON-"
SALT_ENV = "OSTEO_PSEUDONYM_SALT_FILE"  # overrides where the per-installation salt lives
_SALT_FILE_NAME = "pseudonym.salt"


class ReportExistsError(ReportError, FileExistsError):
    """The output file exists and overwriting was not asked for (`force=True` / `--force`)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        super().__init__(f"{self.path} already exists; use --force to overwrite it.")

    def __str__(self) -> str:  # FileExistsError would otherwise format (errno, strerror)
        return str(self.args[0])


@dataclass
class ScreenedFilm:
    """One film of a batch and what screening it gave.

    `prediction` is None when the film could not be screened; `error` then says why (shown in the
    report). `anatomy` ("knee", "spine") may be given by the caller; None = detect with
    `core.anatomy.anatomy_of`.

    `pictures` (the report's pictures, or a callable that loads them) and `display_description`
    let a batch keep small thumbnails instead of full-resolution films until its reports are
    built (`reports.thumbnails.compact`); None = render them from `film` and `prediction`.
    """

    film: Film
    prediction: Prediction | None
    error: str = ""
    anatomy: str | None = None
    pictures: FilmPictures | Callable[[], FilmPictures] | None = None
    display_description: str = ""

    @property
    def screened(self) -> bool:
        return self.prediction is not None and self.prediction.screened


def clinic_header_lines(name: str, address: str) -> list[str]:
    """The clinic's name, then its address split into lines at ';' or new lines (the report header)."""
    lines = [name.strip()] if name.strip() else []
    lines += [part.strip() for part in address.replace("\n", ";").split(";") if part.strip()]
    return lines


# -- anatomy ---------------------------------------------------------------------------------------
def film_anatomy(item: ScreenedFilm) -> str | None:
    """The caller's anatomy if given, else what the screening decided (the picture check), else the
    tags (`core.anatomy.anatomy_of(film)`); None when unknown."""
    if item.anatomy:
        return item.anatomy
    pred = item.prediction
    if pred is not None and pred.eligibility.anatomy:
        return pred.eligibility.anatomy.replace("_", " ")
    try:
        return anatomy_of(item.film)
    except Exception as e:  # an anatomy guess must never stop a report
        log.warning("%s: anatomy could not be determined (%s)", item.film.display_name, e)
        return None


# -- writing files ---------------------------------------------------------------------------------
def write_new_file(path: str | os.PathLike[str], data: bytes, *, force: bool = False) -> Path:
    """Write `data` atomically (`core.atomic`); without `force` an existing file is never replaced.

    Raises `ReportExistsError` (the file exists, use --force) or `ReportError` (cannot write).
    """
    target = Path(path)
    try:
        return atomic_write_bytes(target, data, overwrite=force)
    except FileExistsError:
        raise ReportExistsError(target) from None
    except OSError as e:
        raise ReportError(f"{target}: cannot write ({e.strerror or e}). Check the folder and free space.") from e


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename_part(text: str, fallback: str = "unnamed", limit: int = 64) -> str:
    """Letters, digits, '.', '_' and '-' only; never empty, never hidden, at most `limit` chars."""
    s = _UNSAFE.sub("_", text).strip("._-")[:limit]
    return s or fallback


def unique_path(path: Path, taken: set[Path]) -> Path:
    """`path`, or `stem-2.suffix`, `stem-3.suffix`... the first not in `taken` (paths of this batch)."""
    candidate, n = path, 1
    while candidate in taken:
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    taken.add(candidate)
    return candidate


# -- pseudonyms ------------------------------------------------------------------------------------
def salt_file_path() -> Path:
    """Where the per-installation pseudonym salt lives ($OSTEO_PSEUDONYM_SALT_FILE overrides)."""
    env = os.environ.get(SALT_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.environ.get("APPDATA")
    root = Path(base) if base else Path.home() / ".config"
    return root / "osteo-desktop" / _SALT_FILE_NAME


def installation_salt() -> bytes:
    """This installation's secret salt, created (32 random bytes, owner-only) on first use."""
    path = salt_file_path()
    try:
        data = path.read_bytes().strip()
        if data:
            return data
    except FileNotFoundError:
        pass
    except OSError as e:
        raise ReportError(f"{path}: cannot read the pseudonym salt ({e.strerror or e}).") from e
    new = secrets.token_hex(32).encode("ascii")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    except OSError as e:
        raise ReportError(
            f"{path}: cannot create the pseudonym salt ({e.strerror or e}). "
            f"Set {SALT_ENV} to a writable file or pass a salt."
        ) from e
    with os.fdopen(fd, "wb") as f:
        f.write(new)
        f.flush()
        os.fsync(f.fileno())
    log.info("created a new pseudonym salt at %s", path)
    return new


def pseudonym(patient_key: str, salt: bytes | str | None = None) -> str:
    """Stable pseudonym: "ANON-" + first 10 hex digits of HMAC-SHA256(salt, patient key).

    The same key and salt always give the same pseudonym; without the salt it cannot be reversed
    or recomputed from a patient ID. `salt=None` uses the per-installation salt.
    """
    if salt is None:
        key = installation_salt()
    elif isinstance(salt, str):
        key = salt.encode("utf-8")
    else:
        key = bytes(salt)
    digest = hmac.new(key, patient_key.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:10].upper()


# -- formatting identifiers -------------------------------------------------------------------------
def format_person_name(value: object) -> str:
    """DICOM PN 'Family^Given^Middle^Prefix^Suffix' -> 'Family, Given Middle' (first non-empty group)."""
    text = str(value or "").strip()
    if not text:
        return ""
    groups = [g for g in text.split("=") if g.strip("^ ")]
    if not groups:
        return ""
    parts = [p.strip() for p in groups[0].split("^")] + [""] * 5
    family, given, middle, prefix, suffix = parts[:5]
    rest = " ".join(p for p in (prefix, given, middle, suffix) if p)
    name = f"{family}, {rest}" if family and rest else (family or rest)
    if len(groups) > 1:  # ideographic / phonetic representations
        name += " (" + "; ".join(g.replace("^", " ").strip() for g in groups[1:]) + ")"
    return name


def format_date(da: str) -> str:
    """DICOM DA 'YYYYMMDD' -> 'YYYY-MM-DD' (anything else is shown as stored)."""
    s = (da or "").strip()
    if len(s) == 8 and s.isdigit():
        return f"{s[:4]}-{s[4:6]}-{s[6:]}"
    return s


_AGE_UNITS = {"Y": "years", "M": "months", "W": "weeks", "D": "days"}


def format_age(age: str, *, cap_at_90: bool = False) -> str:
    """DICOM AS '063Y' -> '63 years'. `cap_at_90` (anonymised reports) shows '90 years or older'."""
    s = (age or "").strip().upper()
    if len(s) == 4 and s[:3].isdigit() and s[3] in _AGE_UNITS:
        n = int(s[:3])
        if cap_at_90 and s[3] == "Y" and n >= 90:
            return "90 years or older"
        return f"{n} {_AGE_UNITS[s[3]]}"
    return s


_SEX = {"F": "female", "M": "male", "O": "other"}


def format_sex(sex: str) -> str:
    s = (sex or "").strip()
    return _SEX.get(s.upper(), s)
