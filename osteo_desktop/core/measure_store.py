"""Where a film's measurements are kept, so that they come back when the film is opened again.

* A DICOM film: a Grayscale Softcopy Presentation State (`core.presentation_state`) in the
  application's data folder, named after the film's SOP Instance UID, so it is found again wherever
  the film is opened from, and the film's own folder (often a PACS export or a CD) is never written
  to. "Save measurements as presentation state…" writes a copy where the user chooses (for a PACS).
* A PNG/JPEG/TIFF film: a sidecar JSON file beside the film, `<film name>.osteo-measurements.json`
  (the Weasis/RadiAnt habit), when the setting `beside_film` is on (the default) and the folder is
  writable; otherwise in the application's data folder, named after the film's full path.

A file that this program did not write is never replaced: the measurements then go to the data
folder and a note says why. Measurements removed down to nothing remove the program's own file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes, atomic_write_text
from .errors import OsteoError
from .film import Film, Window
from .measure import Calibration, MeasureError, Measurement
from .presentation_state import FilmMeasurements, PresentationStateError, build_gsps, is_ours, read_gsps

log = logging.getLogger(__name__)

FORMAT = "osteo-desktop measurements"
VERSION = 1
SIDECAR_SUFFIX = ".osteo-measurements.json"
_UID = re.compile(r"^[0-9][0-9.]{0,63}$")


class MeasureStoreError(OsteoError):
    """Measurements that could not be saved (the message names the file and what to do)."""


@dataclass
class Loaded:
    measurements: FilmMeasurements
    path: Path
    notes: list[str] = field(default_factory=list)


@dataclass
class Saved:
    path: Path | None  # None: nothing left to keep (the program's own file was removed)
    notes: list[str] = field(default_factory=list)


# -- the sidecar JSON ------------------------------------------------------------------------------
def to_json(film: Film, fm: FilmMeasurements) -> str:
    rows, cols = film.shape
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "film": {"name": film.path.name, "rows": rows, "cols": cols},
        "calibration": fm.calibration.to_dict() if fm.calibration is not None else None,
        "measurements": [m.to_dict() for m in fm.items],
    }
    return json.dumps(doc, indent=1) + "\n"


def json_is_ours(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def from_json(text: str, film: Film, path: Path) -> Loaded:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise MeasureStoreError(f"{path}: not a measurements file ({e}).") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise MeasureStoreError(f"{path}: not an osteo-desktop measurements file.")
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise MeasureStoreError(f"{path}: written by a newer osteo-desktop (format version {doc.get('version')!r}); update to read it.")
    info = doc.get("film") or {}
    if (info.get("rows"), info.get("cols")) != film.shape:
        raise MeasureStoreError(
            f"{path}: the measurements are for a {info.get('cols')} x {info.get('rows')} picture, but {film.display_name} "
            f"is {film.shape[1]} x {film.shape[0]}; they are not shown.")
    notes: list[str] = []
    fm = FilmMeasurements()
    for d in doc.get("measurements") or []:
        try:
            fm.items.append(Measurement.from_dict(d))
        except MeasureError as e:
            notes.append(f"{path.name}: a measurement was skipped ({e}).")
    if doc.get("calibration"):
        try:
            fm.calibration = Calibration.from_dict(doc["calibration"])
        except MeasureError as e:
            notes.append(f"{path.name}: the calibration was skipped ({e}).")
    return Loaded(fm, path, notes)


# -- the store ---------------------------------------------------------------------------------------
class MeasurementStore:
    def __init__(self, data_dir: str | Path, *, beside_film: bool = True):
        self.data_dir = Path(data_dir)
        self.beside_film = beside_film

    @staticmethod
    def uses_gsps(film: Film) -> bool:
        uid = film.ids.sop_instance_uid
        return film.is_dicom and film.header is not None and bool(_UID.match(uid)) and bool(film.ids.study_instance_uid)

    def gsps_path(self, film: Film) -> Path:
        return self.data_dir / "presentation-states" / f"{film.ids.sop_instance_uid}.dcm"

    @staticmethod
    def sidecar_path(film: Film) -> Path:
        return film.path.with_name(film.path.name + SIDECAR_SUFFIX)

    def app_json_path(self, film: Film) -> Path:
        try:
            where = str(film.path.resolve())
        except OSError:
            where = str(film.path.absolute())
        digest = hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return self.data_dir / "sidecars" / f"{digest}.json"

    def candidates(self, film: Film) -> list[Path]:
        """Where the film's measurements may be, the place they are saved to first."""
        if self.uses_gsps(film):
            return [self.gsps_path(film)]
        beside, app = self.sidecar_path(film), self.app_json_path(film)
        return [beside, app] if self.beside_film else [app, beside]

    # -- load --
    def load(self, film: Film) -> Loaded | None:
        """The film's saved measurements (the newest copy when there are two), or None when there are
        none. Unreadable files become notes; files of the right name that are not ours are left alone."""
        notes: list[str] = []
        found = [p for p in self.candidates(film) if p.is_file() and (p.suffix == ".dcm" or json_is_ours(p))]
        found.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for path in found:
            try:
                if path.suffix == ".dcm":
                    loaded = self._load_gsps(path, film)
                else:
                    loaded = from_json(path.read_text(encoding="utf-8"), film, path)
            except (OsteoError, OSError, UnicodeDecodeError) as e:
                notes.append(str(e))
                continue
            loaded.notes[:0] = notes
            log.info("measurements of %s read from %s", film.display_name, path.name)
            return loaded
        return Loaded(FilmMeasurements(), Path(), notes) if notes else None

    @staticmethod
    def _load_gsps(path: Path, film: Film) -> Loaded:
        import pydicom

        try:
            ds = pydicom.dcmread(str(path))
        except Exception as e:  # pydicom raises many kinds on a damaged file
            raise MeasureStoreError(f"{path}: the saved presentation state cannot be read ({type(e).__name__}); it is ignored.") from e
        try:
            fm, notes = read_gsps(ds, film)
        except PresentationStateError as e:
            raise MeasureStoreError(f"{path}: {e}") from e
        return Loaded(fm, path, notes)

    # -- save --
    def save(self, film: Film, fm: FilmMeasurements, *, window: Window | None = None) -> Saved:
        """Keep the film's measurements (or remove the program's file when there are none left)."""
        if fm.empty:
            return Saved(None, self._remove_own(film))
        if self.uses_gsps(film):
            path = self.gsps_path(film)
            self._write_gsps(path, film, fm, window)
            return Saved(path, [])
        notes: list[str] = []
        text = to_json(film, fm)
        for path in self.candidates(film):
            if path.exists() and not json_is_ours(path):
                notes.append(f"{path} was not written by osteo-desktop and is not replaced; the measurements are kept in "
                             f"{self.data_dir} instead.")
                continue
            try:
                atomic_write_text(path, text)
            except OSError as e:
                if path.parent == self.data_dir / "sidecars":
                    raise MeasureStoreError(f"{path}: the measurements could not be saved ({e.strerror or e}). "
                                            "Check the free space and permissions of that folder.") from e
                log.info("sidecar beside %s not writable (%s); using the data folder", film.display_name, e)
                continue
            return Saved(path, notes)
        raise MeasureStoreError(f"{film.display_name}: the measurements could not be saved anywhere. "
                                f"Check that {self.data_dir} is writable.")

    def export_gsps(self, film: Film, fm: FilmMeasurements, path: str | Path, *, window: Window | None = None) -> Path:
        """Write a presentation state where the user chose (never replacing an existing file)."""
        target = Path(path)
        if target.exists():
            raise MeasureStoreError(f"{target}: already exists; choose another name.")
        self._write_gsps(target, film, fm, window, overwrite=False)
        return target

    def _write_gsps(self, path: Path, film: Film, fm: FilmMeasurements, window: Window | None, overwrite: bool = True) -> None:
        import pydicom

        series = None
        if path.is_file():
            try:
                old = pydicom.dcmread(str(path), stop_before_pixels=True)
            except Exception:
                old = None
            if old is None or not is_ours(old):
                raise MeasureStoreError(f"{path}: exists and was not written by osteo-desktop; it is not replaced.")
            series = str(old.SeriesInstanceUID)  # revisions of one film's measurements stay in one series
        try:
            ds = build_gsps(film, fm, window=window, series_uid=series)
        except PresentationStateError as e:
            raise MeasureStoreError(str(e)) from e
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        try:
            atomic_write_bytes(path, buf.getvalue(), overwrite=overwrite)
        except FileExistsError as e:
            raise MeasureStoreError(f"{path}: already exists; choose another name.") from e
        except OSError as e:
            raise MeasureStoreError(f"{path}: the presentation state could not be written ({e.strerror or e}). "
                                    "Check the folder's permissions and free space.") from e
        log.info("measurements of %s saved as a presentation state", film.display_name)

    def _remove_own(self, film: Film) -> list[str]:
        notes = []
        for path in self.candidates(film):
            if not path.is_file():
                continue
            if path.suffix == ".dcm":
                import pydicom

                try:
                    own = is_ours(pydicom.dcmread(str(path), stop_before_pixels=True))
                except Exception:
                    own = False
            else:
                own = json_is_ours(path)
            if own:
                try:
                    path.unlink()
                except OSError as e:
                    notes.append(f"{path}: could not be removed ({e.strerror or e}).")
        return notes
