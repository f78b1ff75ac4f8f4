"""`osteo-screen --pdf`: what the run keeps per film for the PDF reports, and writing them at the end.

A patient's films can be anywhere in a batch, so the reports are written once it is screened. Per
film the spool keeps a compact stand-in (`core.reports.thumbnails.compact`: identifiers, the
result without its heatmap, the report's pictures spilled as small PNGs into a private temporary
folder), never the full-resolution film, so memory stays flat however many films the batch holds.
One patient's failure never stops the other patients' reports.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import OsteoError, ReportError
from ..core.text import escape_controls

log = logging.getLogger("osteo_desktop.cli")


class ReportSpool:
    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="osteo-report-thumbs-")  # owner-only (0700)
        self.folder = Path(self._tmp.name)
        self.items: list[Any] = []

    def add(self, film: Any, prediction: Any, error: str, shown: Any = None) -> None:
        """Keep what a report needs of one film (call while its full-resolution arrays still exist)."""
        from ..core.reports import ScreenedFilm
        from ..core.reports.thumbnails import compact

        item = ScreenedFilm(film, prediction, error)
        try:
            self.items.append(compact(item, spill_dir=self.folder, shown=shown))
        except (OSError, MemoryError) as e:  # no room for the thumbnail: the report lists the film without it
            log.warning("%s: no picture for the report (%s)", escape_controls(film.display_name), e)
            self.items.append(compact(item, pictures=False))

    def write(self, out_dir: Path, *, bundle: Any, anonymize: bool, force: bool, page_size: str,
              on_written: Callable[[Path], None], clinic: Sequence[str] = ()) -> list[str]:
        """One PDF per patient; returns the failures (one line each)."""
        from ..core import reports

        errors: list[ReportError] = []
        try:
            written = reports.write_patient_reports(self.items, out_dir, bundle=bundle, anonymize=anonymize,
                                                    force=force, page_size=page_size, clinic=clinic, errors=errors)
        except OsteoError as e:  # e.g. the pseudonym salt cannot be created: no report at all
            return [str(e)]
        for p in written:
            on_written(p)
        return [str(e) for e in errors]

    def close(self) -> None:
        self.items.clear()
        self._tmp.cleanup()
