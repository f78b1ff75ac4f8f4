"""A report export as data, and the part of it that runs where the model is (no Qt).

The viewer gathers what it has (`ExportJob`: the patient's films, those still in memory, their
results) and hands the job to the screening engine, in order with the screening requests;
`run_export` reads again the films that left the viewer's memory, screens those without a result
(with Grad-CAM, for the report's heatmaps) and writes the files. `export_outcome` maps what
happened to one message for the viewer. The job travels to the screening process by pickle: its
`cancel` event does not (each process has its own, set by a "cancel export" message there).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PDF, DICOM = "pdf", "dicom"


# -- what a job carries ---------------------------------------------------------------------------
@dataclass
class ExportFilm:
    """One film of the export: its path, and the film / result when the GUI has them in memory."""

    path: str
    film: Any = None  # core.film.Film, or None: read again in the worker
    prediction: Any = None  # core.inference.Prediction, or None: screened in the worker


@dataclass
class ExportJob:
    kind: str  # PDF or DICOM
    films: list[ExportFilm]
    out: Path  # the PDF file, or the folder for DICOM outputs
    page_size: str = "A4"
    anonymize: bool = False
    force: bool = False
    sr: bool = True
    sc: bool = False
    clinic: tuple[str, ...] = ()  # the clinic's name and address for the PDF header
    clinical: Any = None  # core.clinical.ClinicalInputs a user entered for this patient, or None
    jid: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["cancel"] = self.cancel.is_set()  # an Event cannot be pickled: its state travels
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        cancelled = bool(state.pop("cancel", False))
        self.__dict__.update(state)
        self.cancel = threading.Event()
        if cancelled:
            self.cancel.set()

    def without_files_in_memory(self) -> ExportJob:
        """A copy to send to another process: films that are files on disk are read there again
        (a big film's pixels need not travel, and a decoder that crashes on it crashes there)."""
        from dataclasses import replace

        films = [replace(f, film=None) if f.film is not None and Path(f.path).is_file() else f for f in self.films]
        return replace(self, films=films)


class ExportCancelled(Exception):
    pass


def _current_inputs(pred: Any, film: Any, entered: Any) -> bool:
    """Whether a result was screened with the clinical inputs that hold now (file tags + user entries)."""
    from .clinical import clinical_from_film

    used = getattr(pred, "clinical", None)
    if used is None or not getattr(pred, "screened", True):
        return True
    now = clinical_from_film(film).override(entered)
    return (used.age, used.sex, used.weight) == (now.age, now.sex, now.weight)


def run_export(
    job: ExportJob,
    screener: Any,
    *,
    recent: Callable[[str], Any] | None = None,
    no_model_reason: str = "no model is loaded",
    progress: Callable[[str], None] | None = None,
    on_screened: Callable[[str, Any], None] | None = None,
) -> tuple[list[Path], list[str]]:
    """Gather, screen what is missing, write. Returns (paths written, notes for the user).

    Runs where the model is (the screening process, or a worker thread). Raises ExportCancelled when `job.cancel` is set before the
    files are written, and core errors (ReportError, ReportExistsError...) as they come.
    """
    from .errors import OsteoError
    from .inference import Cancelled
    from .reports import ScreenedFilm, write_dicom_outputs, write_report_for_patient

    def say(text: str) -> None:
        if progress is not None:
            progress(text)

    def check() -> None:
        if job.cancel.is_set():
            raise ExportCancelled()

    items: list[ScreenedFilm] = []
    notes: list[str] = []
    missing = [f for f in job.films if f.prediction is None and (recent is None or recent(f.path) is None)]
    k = 0
    for ef in job.films:
        check()
        name = Path(ef.path).name
        film = ef.film
        if film is None:
            say(f"Reading {name} again…")
            try:
                from .loading import load_film

                film = load_film(Path(ef.path))
            except OsteoError as e:
                notes.append(f"{name} could not be read again and is not in the report ({e}).")
                continue
        pred, error = ef.prediction, ""
        if pred is None and recent is not None:
            pred = recent(ef.path)
        if pred is not None and not _current_inputs(pred, film, job.clinical):
            pred = None  # screened before the user entered age/sex: screen again with them
        if pred is None:
            if screener is None:
                error = f"not screened: {no_model_reason}"
            else:
                k += 1
                say(f"Screening {name} for the report ({k} of {len(missing)})…")
                try:
                    pred = screener.screen(film, gradcam=True, should_cancel=job.cancel.is_set, clinical=job.clinical)
                except Cancelled:
                    raise ExportCancelled() from None
                except OsteoError as e:
                    error = str(e)
                except Exception as e:  # one film must not stop the report
                    log.exception("screening for the report failed")
                    error = f"screening failed unexpectedly ({type(e).__name__}: {e})"
                else:
                    if on_screened is not None:
                        on_screened(ef.path, pred)
            if pred is None:
                notes.append(f"{name}: {error}")
        items.append(ScreenedFilm(film, pred, error))
    check()
    if not items:
        from .errors import ReportError

        raise ReportError("none of the films could be read: nothing to report")
    bundle = getattr(screener, "bundle", None)
    if job.kind == PDF:
        say("Writing the PDF report…")
        path = write_report_for_patient(items, job.out, bundle=bundle, anonymize=job.anonymize, force=job.force,
                                        page_size=job.page_size, clinic=job.clinic)
        return [path], notes
    say("Writing the DICOM files…")
    if not any(it.prediction is not None for it in items):
        from .errors import ReportError

        raise ReportError("the film is not screened, so there is nothing to write as DICOM SR / SC"
                          + (f" ({items[0].error})" if items[0].error else ""))
    return write_dicom_outputs(items, job.out, bundle=bundle, sr=job.sr, sc=job.sc, force=job.force), notes


# message kinds of an export's end
EXPORT_DONE, EXPORT_FAILED, EXPORT_CANCELLED = "export_done", "export_failed", "export_cancelled"


def export_outcome(
    job: ExportJob,
    screener: Any,
    *,
    recent: Callable[[str], Any] | None = None,
    no_model_reason: str = "no model is loaded",
    progress: Callable[[str], None] | None = None,
    on_screened: Callable[[str, Any], None] | None = None,
) -> tuple[str, Any]:
    """`run_export`, with what happened as (EXPORT_DONE, (paths, notes)), (EXPORT_FAILED, message)
    or (EXPORT_CANCELLED, None). Never raises: the worker must live on."""
    from .errors import ReportError
    from .reports import ReportExistsError

    try:
        paths, notes = run_export(job, screener, recent=recent, no_model_reason=no_model_reason, progress=progress,
                                  on_screened=on_screened)
    except ExportCancelled:
        return EXPORT_CANCELLED, None
    except ReportExistsError as e:
        return EXPORT_FAILED, (f"{e.path} already exists, so nothing was written. "
                               "Export again and choose Replace to overwrite it.")
    except ReportError as e:
        return EXPORT_FAILED, f"The export failed: {e}"
    except Exception as e:
        log.exception("report export failed")
        return EXPORT_FAILED, f"The export failed unexpectedly ({type(e).__name__}: {e})."
    return EXPORT_DONE, (paths, notes)
