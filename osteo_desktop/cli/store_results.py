"""`osteo-screen --store DIR`: record each film's result (and a copy of each DICOM film) in the local
study store, and every PDF / SR / SC written, in the store's audit trail."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..core.errors import StoreError

log = logging.getLogger("osteo_desktop.cli")

SOURCE = "osteo-screen"


class ResultRecorder:
    def __init__(self, folder: Path):
        from ..core.store import LocalStore

        self.store = LocalStore(folder)

    def record(self, outcome: Any) -> None:
        """One film's outcome (a FilmOutcome): the JSON row it prints, linked to the film's UIDs."""
        film = outcome.film
        ids = film.ids if film is not None else None
        if film is not None and film.is_dicom:
            try:
                self.store.add_file(outcome.path, source=SOURCE)
            except StoreError as e:  # e.g. a DICOM file without UIDs: the result is still recorded
                log.warning("%s: not added to the store: %s", outcome.path, e)
        self.store.record_result(
            outcome.to_dict(),
            sop_uid=ids.sop_instance_uid if ids else "",
            series_uid=ids.series_instance_uid if ids else "",
            study_uid=ids.study_instance_uid if ids else "",
            patient_id=ids.patient_id if ids else "",
            source=SOURCE,
        )

    def exported(self, kind: str, path: Path, model: Any) -> None:
        """A report written: kind "pdf", or "dicom" (an SR or a secondary capture, told apart by SOP class)."""
        self.store.audit_export(path, kind=kind, model=model, details={"source": SOURCE})

    def close(self) -> None:
        self.store.close()
