"""Finding films: files and folders (recursively) -> the list of files worth trying to load.

- Files given explicitly are kept as given (a bad one is reported by the loader, not silently dropped);
  a DICOMDIR given explicitly is replaced by the images it references.
- Folders are walked in sorted order (deterministic), skipping hidden files and folders and obvious
  non-images (.txt, .json, .pdf...). Files with an image extension are kept; files without an
  extension, or with an unknown one (DICOM files are often named by number or UID), are kept only
  if their content starts like DICOM, PNG, JPEG or TIFF.
- A folder holding a readable DICOMDIR contributes the image files the DICOMDIR references (in its
  patient/study/series order) instead of a walk of that folder; the DICOMDIR itself is never a film.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import FilmLoadError
from .loading import sniff_file
from .provenance import own_output_kind
from .text import escape_controls

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima", ".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff"})
NON_IMAGE_SUFFIXES = frozenset(
    {
        ".txt", ".json", ".csv", ".tsv", ".pdf", ".md", ".rst", ".html", ".htm", ".xml", ".log", ".ini",
        ".cfg", ".yaml", ".yml", ".toml", ".py", ".pyc", ".sh", ".bat", ".exe", ".dll", ".so", ".dylib",
        ".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".doc", ".docx", ".xls", ".xlsx",
        ".ppt", ".pptx", ".odt", ".rtf", ".db", ".sqlite", ".bak", ".tmp", ".lnk", ".url", ".inf",
        ".mp4", ".avi", ".mov", ".mp3", ".wav", ".svg", ".gif", ".ico", ".css", ".js", ".pt", ".pth",
        ".safetensors", ".onnx", ".npy", ".npz", ".pkl",
    }
)


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in ("thumbs.db", "desktop.ini", "__macosx")


def _is_dicomdir(path: Path) -> bool:
    return path.name.upper() == "DICOMDIR"


def is_probably_film(path: str | os.PathLike[str]) -> bool:
    """Whether a file is worth trying to load: image extension, or image content for unknown ones.

    Hidden files, DICOMDIRs, folders, unreadable files and known non-image types are not films.
    """
    p = Path(path)
    if _is_hidden(p.name) or _is_dicomdir(p) or not p.is_file():
        return False
    suffix = p.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return True
    if suffix in NON_IMAGE_SUFFIXES:
        return False
    try:
        return sniff_file(p) != ""
    except FilmLoadError:
        return False


def dicomdir_files(dicomdir: str | os.PathLike[str]) -> list[Path]:
    """Existing image files referenced by a DICOMDIR, in its order. Raises FilmLoadError if unreadable."""
    from .loading import DEFAULT_MAX_BYTES
    from .loading.dicom_read import read_dicom

    p = Path(dicomdir)
    try:
        ds = read_dicom(p, max_bytes=DEFAULT_MAX_BYTES)  # a deflated DICOMDIR inflates within the budget
        records = ds.DirectoryRecordSequence
    except Exception as e:
        raise FilmLoadError(f"{p}: the DICOMDIR cannot be read ({e}); the folder is searched file by file instead.") from e
    root = p.parent
    out: list[Path] = []
    for rec in records:
        file_id = rec.get("ReferencedFileID")
        if not file_id:
            continue
        rtype = str(rec.get("DirectoryRecordType", "")).upper()
        if rtype not in ("IMAGE", "PRIVATE", ""):  # SR documents, PDFs, presentation states...
            continue
        parts = [file_id] if isinstance(file_id, str) else [str(x) for x in file_id]
        target = _resolve_case_insensitive(root, parts)
        if target is None:
            log.warning("DICOMDIR %s references a missing file: %s", p.name, "/".join(parts))
            continue
        out.append(target)
    return out


def _resolve_case_insensitive(root: Path, parts: list[str]) -> Path | None:
    """Join DICOMDIR path components; CD-ROM (ISO 9660) names are upper case, copies often not."""
    exact = root.joinpath(*parts)
    if exact.is_file():
        return exact
    cur = root
    for part in parts:
        try:
            match = next((c for c in cur.iterdir() if c.name.upper() == part.upper()), None)
        except OSError:
            return None
        if match is None:
            return None
        cur = match
    return cur if cur.is_file() else None


def _walk(folder: Path) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        log.warning("cannot list folder %s: %s", folder, e)
        return
    dicomdir = next((e for e in entries if e.name.upper() == "DICOMDIR" and _is(Path(e.path), "file")), None)
    if dicomdir is not None:
        try:
            yield from dicomdir_files(Path(dicomdir.path))
            return
        except FilmLoadError as e:
            log.warning("%s", e)
    own = 0
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(path)
            elif entry.is_file() and is_probably_film(path):
                if own_output_kind(path) is not None:  # osteo-screen's own outputs (marked), never films
                    own += 1
                    continue
                yield path
        except OSError as e:
            log.warning("skipping %s: %s", escape_controls(entry.name), e)
    if own:
        log.info("%s: skipped %d of osteo-desktop's own output file(s)", escape_controls(folder), own)


def _is(p: Path, kind: str) -> bool:
    """`p.is_dir()` / `p.is_file()`, False where the OS refuses to say (permission, I/O error): such a
    path is kept as given and the loader names the problem for that file alone."""
    try:
        return p.is_dir() if kind == "dir" else p.is_file()
    except OSError:
        return False


def find_films(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given (a DICOMDIR expanded), folders searched recursively; no duplicates, stable order."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        try:
            key = p.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python < 3.13)
            key = p.absolute()
        if key not in seen:
            seen.add(key)
            out.append(p)

    for item in paths:
        p = Path(item)
        if _is(p, "dir"):
            for f in _walk(p):
                add(f)
        elif _is(p, "file") and _is_dicomdir(p):
            try:
                for f in dicomdir_files(p):
                    add(f)
            except FilmLoadError as e:
                log.warning("%s", e)
                for f in _walk(p.parent):
                    add(f)
        else:
            add(p)  # kept as given, even if missing: the loader says what is wrong with it
    return out
