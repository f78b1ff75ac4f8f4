"""What `osteo-screen --out DIR` writes, and the rules it writes by.

* The folder is checked before the model loads (`check_out_dir`): a file in its place, a folder
  that cannot be created or written to, is a usage error (exit 2) that says so.
* Per film: `<stem>_film.png` (the film as displayed), `<stem>_overlay.png` (with the heatmap and
  its colour bar) and `<stem>.json` (the film's row), and with `--dicom-sr/--dicom-sc` also
  `<stem>_SR.dcm` / `<stem>_SC.dcm`. A film's PNG/JSON files are written all or nothing
  (`core.atomic.atomic_write_group`): a full disk never leaves a PNG without its overlay and JSON.
* Nothing that exists is ever replaced without `--force` (any file, not only source films), and a
  source film of the run is never replaced, even with `--force`.
* Every PNG and JSON carries osteo-desktop's marker (`core.provenance`), so a later run never
  screens them as films.
* File names keep no control characters; with `--anonymize` they are `<pseudonym>_<n>` and the
  JSON names no file, patient or ID (`anonymise_record`): every file of the run is anonymised,
  not only the PDF.
* OS errors are said in words ("the disk is full", "the output folder is read-only").
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import OsteoError
from ..core.os_errors import describe_os_error
from ..core.text import escape_controls, strip_controls

log = logging.getLogger("osteo_desktop.cli")

# lossless; zlib level 1 with the UP filter encodes a radiograph ~2x faster than the defaults at a similar size
PNG_FAST = [16, 1, 19, 32]  # (IMWRITE_PNG_COMPRESSION, 1), (IMWRITE_PNG_FILTER, IMWRITE_PNG_FILTER_UP)
MAX_STEM = 96  # leaves room for "_overlay.png" and "_2" within any file system's name limit
_UNSAFE_IN_NAME = re.compile(r'[\\/:*?"<>|]+')  # path separators and what Windows refuses


class UsageError(OsteoError):
    """Bad command-line usage, found before the model loads (exit status 2)."""


class OutputExistsError(OsteoError):
    def __init__(self, path: Path):
        super().__init__(f"{escape_controls(path)} already exists; use --force to overwrite it.")


def resolved(p: Path) -> Path:
    """`p.resolve()`, or the absolute path where that fails (a symbolic link loop, no permission)."""
    try:
        return p.resolve()
    except (OSError, RuntimeError):
        return p.absolute()


def check_out_dir(out: Path) -> None:
    """Create `out` if needed and prove it writable; a UsageError says what is wrong."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {escape_controls(out)} is a file, not a folder; choose a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:
        raise UsageError(f"--out {escape_controls(out)}: a file stands in the path; choose another folder.") from e
    except OSError as e:
        raise UsageError(f"--out: {describe_os_error(e, out, 'create the folder')}") from e
    try:
        fd, probe = tempfile.mkstemp(prefix=".osteo-write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"--out: {describe_os_error(e, out, 'write into the folder')}") from e


def safe_stem(name: str) -> str:
    """A file name stem we may create: no control characters, path separators or leading dots."""
    s = _UNSAFE_IN_NAME.sub("_", strip_controls(name)).strip(" .")[:MAX_STEM].strip(" .")
    return s or "film"


def plain_stems(paths: list[Path]) -> dict[Path, str]:
    """Output stems per input; films with the same (cleaned) stem get _2, _3... in input order."""
    seen: dict[str, int] = {}
    stems: dict[Path, str] = {}
    for p in paths:
        base = safe_stem(p.stem if p.suffix else p.name)
        n = seen.get(base.casefold(), 0) + 1
        seen[base.casefold()] = n
        stems[p] = base if n == 1 else f"{base}_{n}"
    return stems


class Namer:
    """File stems for a run's outputs: the source's name, or with `anonymize` `<pseudonym>_<n>`."""

    def __init__(self, films: list[Path], *, anonymize: bool, salt: bytes | None):
        self.anonymize = anonymize
        self.salt = salt
        self._plain = plain_stems(films) if not anonymize else {}
        self._count: dict[str, int] = {}
        self._given: dict[Path, str] = {}

    def stem(self, path: Path, film: Any) -> str:
        if path in self._given:
            return self._given[path]
        if not self.anonymize:
            stem = self._plain[path]
        else:
            from ..core.reports.common import pseudonym

            key = film.patient_key if film is not None else f"file:{path}"
            alias = pseudonym(key, self.salt)
            n = self._count.get(alias, 0) + 1
            self._count[alias] = n
            stem = f"{alias}_{n}"
        self._given[path] = stem
        return stem


def path_scrubber(path: Path, film: Any, label: str) -> Callable[[str], str]:
    """Free text with the film's file name, patient name and IDs replaced (for anonymised outputs)."""
    if film is not None:
        from ..core.reports.anonymise import Scrubber

        class _Entry:
            def __init__(self) -> None:
                self.label, self.film = label, film

        return Scrubber([_Entry()], enabled=True)
    names = sorted({str(path), str(resolved(path)), path.name, path.stem} - {""}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for n in names:
            text = text.replace(n, label)
        return text

    return scrub


def anonymise_record(record: dict[str, Any], label: str, scrub: Callable[[str], str]) -> dict[str, Any]:
    """A film's JSON row without its source file name or any identifier in free text."""
    out = dict(record)
    out["file"] = label
    out["error"] = scrub(out.get("error") or "")
    out["warnings"] = [scrub(w) for w in out.get("warnings", [])]
    if "not_screened_reason" in out and out["not_screened_reason"]:
        out["not_screened_reason"] = scrub(out["not_screened_reason"])
    if out.get("outputs"):
        out["outputs"] = [Path(p).name for p in out["outputs"]]
    out["anonymised"] = True
    return out


class OutputWriter:
    """Writes one film's outputs into the --out folder (see the module docstring)."""

    def __init__(self, out_dir: Path, films: list[Path], *, force: bool, anonymize: bool, salt: bytes | None):
        self.out_dir = out_dir
        self.force = force
        self.anonymize = anonymize
        self.namer = Namer(films, anonymize=anonymize, salt=salt)
        self.sources = {resolved(p) for p in films}

    def stem(self, path: Path, film: Any) -> str:
        return self.namer.stem(path, film)

    def _checked(self, targets: list[Path]) -> None:
        for t in targets:
            if resolved(t) in self.sources:
                raise OsteoError(f"{escape_controls(t)}: output would overwrite a source film; choose another --out folder.")
            if not self.force and (t.exists() or t.is_symlink()):
                raise OutputExistsError(t)

    def write_film(self, path: Path, film: Any, prediction: Any, shown01: np.ndarray,
                   record: Callable[[list[str]], dict[str, Any]]) -> list[Path]:
        """Film PNG, overlay PNG and JSON of one screened film, all or nothing. `record(outputs)`
        gives the film's JSON row (with the list of its outputs)."""
        import cv2

        from ..core.display import to_uint8
        from ..core.overlay import blend, with_colorbar
        from ..core.provenance import JSON_KEY, json_marker, mark_png

        stem = self.stem(path, film)
        targets = {
            "film": self.out_dir / f"{stem}_film.png",
            "overlay": self.out_dir / f"{stem}_overlay.png",
            "json": self.out_dir / f"{stem}.json",
        }
        if not getattr(prediction, "screened", True):  # no heatmap, no overlay for a film that was not screened
            del targets["overlay"]
        self._checked(list(targets.values()))
        shown = to_uint8(shown01)
        # PNG encoding is the slowest part of the outputs; cv2 releases the GIL while it encodes, so the
        # film's PNG is encoded while the overlay is composed, and both encodes run side by side.
        data: dict[Path, bytes] = {}
        with ThreadPoolExecutor(max_workers=2) as pool:
            encodes = [("film", pool.submit(cv2.imencode, ".png", shown, PNG_FAST))]
            if "overlay" in targets:
                rgb = with_colorbar(blend(shown, prediction.cam), empty=prediction.cam is None)
                encodes.append(("overlay", pool.submit(cv2.imencode, ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), PNG_FAST)))
                del rgb
            for key, fut in encodes:
                ok, png = fut.result()
                if not ok:
                    raise OsteoError(f"{escape_controls(targets[key])}: could not encode the PNG.")
                data[targets[key]] = mark_png(png.tobytes(), key)
        del shown
        row = record([str(t) for t in targets.values()])
        if self.anonymize:
            row = anonymise_record(row, stem, path_scrubber(path, film, stem))
        row[JSON_KEY] = json_marker()
        data[targets["json"]] = (json.dumps(row, indent=2) + "\n").encode("utf-8")
        return self._commit(data)

    def write_dicom(self, path: Path, film: Any, prediction: Any, *, bundle: Any, sr: bool, sc: bool,
                    anatomy: str | None) -> list[Path]:
        """The film's DICOM SR and/or secondary capture (each on its own: one existing file does not
        stop the other)."""
        from ..core.reports import write_dicom_sc, write_dicom_sr

        stem = self.stem(path, film)
        written: list[Path] = []
        errors: list[str] = []
        for kind, wanted in (("SR", sr), ("SC", sc)):
            if not wanted:
                continue
            target = self.out_dir / f"{stem}_{kind}.dcm"
            try:
                self._checked([target])
                if kind == "SR":
                    written.append(write_dicom_sr(film, prediction, bundle, target, force=self.force, anatomy=anatomy))
                else:
                    written.append(write_dicom_sc(film, prediction, target, force=self.force))
            except OSError as e:
                errors.append(describe_os_error(e, target))
            except OsteoError as e:
                errors.append(str(e))
        if errors:
            raise OsteoError(" ".join(errors))
        return written

    def _commit(self, data: dict[Path, bytes]) -> list[Path]:
        from ..core.atomic import atomic_write_group

        try:
            return atomic_write_group(data, overwrite=self.force)
        except FileExistsError as e:
            raise OutputExistsError(Path(e.args[0]) if e.args else next(iter(data))) from e
        except OSError as e:
            raise OsteoError(describe_os_error(e, e.filename or self.out_dir)) from e
