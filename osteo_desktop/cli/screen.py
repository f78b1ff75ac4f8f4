"""`osteo-screen`: screen radiographs from the command line (no window, no Qt).

    osteo-screen PATH... [--out DIR] [--json] [--device auto|cpu|cuda|mps] [--bundle DIR]
                 [--pdf [--anonymize] [--page-size A4|Letter]] [--dicom-sr] [--dicom-sc] [--force]
                 [--store DIR] [--threads N]

The model uses at most (cores - 1) CPU threads, at least 1 (`core.threads`, the viewer's rule too);
`--threads N` overrides it.

Exit status: 0 every film screened, 1 at least one film failed (the others are still processed),
2 bad usage or nothing to screen, 3 no usable model bundle.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import INTENDED_USE, __version__
from ..core.errors import BundleError, OsteoError, ReportError
from ..core.os_errors import describe_os_error
from ..core.text import escape_controls
from .outputs import OutputWriter, UsageError, check_out_dir
from .report_spool import ReportSpool

log = logging.getLogger("osteo_desktop.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUNDLE = 0, 1, 2, 3


@dataclass
class FilmOutcome:
    path: Path
    film: Any = None
    prediction: Any = None
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and self.prediction is not None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "file": str(self.path),
            "status": "ok" if self.ok else "error",
            "error": self.error,
            "decision": None,
            "not_screened_reason": None,
            "eligibility": None,
            "probabilities": None,
            "low_bmd_score": None,
            "score_basis": None,
            "threshold": None,
            "model": None,
            "device": None,
            "warnings": list(self.warnings),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if self.film is not None:
            from ..core.anatomy import anatomy_of

            ids = self.film.ids
            d["image"] = {
                "rows": self.film.shape[0],
                "cols": self.film.shape[1],
                "format": self.film.source_format,
                "transfer_syntax": self.film.transfer_syntax,
                "modality": ids.modality,
                "body_part": ids.body_part,
                "view": ids.view_position,
                "laterality": ids.laterality,
                "anatomy": anatomy_of(self.film),
                "pixel_spacing_source": self.film.spacing.source.value,
            }
        if self.prediction is not None:
            p = self.prediction.to_dict()
            for k, v in p.items():
                if k not in ("warnings", "timings_ms", "intended_use"):
                    d[k] = v
        if self.outputs:
            d["outputs"] = list(self.outputs)
        d["intended_use"] = INTENDED_USE
        return d

    def record_for(self, outputs: list[str]) -> dict[str, Any]:
        """The film's JSON row as its own JSON file holds it (with the files written for it)."""
        d = self.to_dict()
        d["outputs"] = list(outputs)
        return d

    def release(self) -> None:
        """Drop the film's pixels and heatmap once it has been reported: a batch streams, memory stays flat."""
        self.film = None
        self.prediction = None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="osteo-screen",
        description="Screen knee and spine radiographs for low bone density. " + INTENDED_USE,
        epilog="Exit status: 0 all films screened; 1 some failed; 2 usage error; 3 no usable model bundle.",
    )
    ap.add_argument("paths", nargs="+", metavar="PATH", help="DICOM/PNG/JPEG/TIFF files or folders (recursed)")
    ap.add_argument("--out", type=Path, metavar="DIR", help="write <stem>_film.png, <stem>_overlay.png and <stem>.json per film")
    ap.add_argument("--json", action="store_true", help="print one JSON object per film on stdout")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                    help="where the model runs (default auto: CUDA when usable, else the CPU; mps only when asked)")
    ap.add_argument("--bundle", type=Path, metavar="DIR", help="model bundle folder (default: the bundled model_weights/)")
    ap.add_argument("--no-gradcam", action="store_true", help="skip the Grad-CAM heatmap")
    ap.add_argument("--clinical", type=Path, metavar="FILE.csv",
                    help="age, sex and weight per film (columns file,age,sex[,weight]; 'file' is a film's name or "
                         "path); they override the DICOM tags and are reported as such")
    ap.add_argument("--pdf", action="store_true", help="with --out: one PDF screening report per patient")
    ap.add_argument("--anonymize", action="store_true",
                    help="with --out: every file written (PNG, JSON, PDF) without name, birth date, IDs or source file "
                         "names; a stable pseudonym stands in (the terminal still names the files)")
    ap.add_argument("--page-size", default="A4", choices=["A4", "Letter"], help="PDF page size")
    ap.add_argument("--clinic-name", metavar="TEXT", default="", help="clinic name printed at the top of each PDF report")
    ap.add_argument("--clinic-address", metavar="TEXT", default="",
                    help="clinic address printed under its name (use ';' or a new line between lines)")
    ap.add_argument("--dicom-sr", action="store_true", help="with --out: a DICOM Structured Report per film")
    ap.add_argument("--dicom-sc", action="store_true", help="with --out: a DICOM Secondary Capture with the heatmap per film")
    ap.add_argument("--force", action="store_true",
                    help="overwrite existing files in --out (never a source film); without it nothing is replaced")
    ap.add_argument("--store", type=Path, metavar="DIR",
                    help="record each result (and a copy of each DICOM film) and each report in the local study store DIR")
    ap.add_argument("--threads", type=_thread_count, metavar="N", default=None,
                    help="CPU threads for the model (default: the number of cores minus one, at least 1; "
                         "0 means the default; at most the number of cores)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bar, errors only")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging (and tracebacks for internal errors)")
    ap.add_argument("--version", action="version", version=f"osteo-screen {__version__}")
    return ap


def _thread_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 (automatic) or more")
    return n


def _result_line(p) -> str:
    """One line per film for the terminal: the decision in words, and the numbers behind it."""
    if not p.screened:
        return p.decision_text
    probs = ", ".join(f"{k} {v:.2f}" for k, v in p.probabilities.items())
    basis = "image + age/sex" if p.score_basis == "combined" else "image"
    return (f"{p.decision_text} ({p.eligibility.anatomy or 'unknown anatomy'}; score {p.low_bmd_score:.2f} "
            f"({basis}) vs threshold {p.threshold:.2f}; {probs})")


def _usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options alone (exit 2 before anything loads), or None."""
    if (args.pdf or args.dicom_sr or args.dicom_sc) and not args.out:
        return "--pdf, --dicom-sr and --dicom-sc need --out DIR"
    if args.anonymize and (args.dicom_sr or args.dicom_sc):
        return ("--anonymize cannot be combined with --dicom-sr/--dicom-sc: DICOM SR/SC objects belong to the source "
                "study and keep its patient identity. Run them separately, without --anonymize.")
    if args.anonymize and not args.out:
        return "--anonymize needs --out DIR (it anonymises every file the run writes there)"
    return None


def screen_paths(args: argparse.Namespace) -> int:
    from ..core.discovery import find_films

    problem = _usage_problem(args)
    if problem:
        log.error("%s", problem)
        return EXIT_USAGE
    films = find_films(args.paths)
    if not films:
        log.error("no films found in %s", " ".join(map(str, args.paths)))
        return EXIT_USAGE
    out_dir: Path | None = args.out
    salt: bytes | None = None
    clinical_table = None
    try:
        if out_dir is not None:
            check_out_dir(out_dir)  # a file in its place, read-only, cannot be created: before the model loads
        if args.anonymize:
            from ..core.reports import installation_salt

            salt = installation_salt()
        if args.clinical is not None:
            from ..core.clinical import read_clinical_csv

            clinical_table = read_clinical_csv(args.clinical)
    except (UsageError, ReportError, OsteoError) as e:
        log.error("%s", e)
        return EXIT_USAGE

    from ..core.threads import apply_thread_budget, describe_budget, screening_threads

    threads = apply_thread_budget(screening_threads(args.threads))  # before torch starts its pools
    log.debug("model threads: %s", describe_budget(args.threads))
    from ..core.inference import Screener

    try:
        screener = Screener(args.bundle, device=args.device)
    except BundleError as e:
        log.error("%s", e)
        return EXIT_BUNDLE
    log.info("model %s %s on %s (%d CPU thread%s)", screener.model_info.name, screener.model_info.version,
             screener.device, threads, "" if threads == 1 else "s")

    recorder = None
    if args.store is not None:  # a StoreError (locked, damaged) stops here, before any screening
        from .store_results import ResultRecorder

        recorder = ResultRecorder(args.store)
    writer = None
    if out_dir is not None:
        writer = OutputWriter(out_dir, films, force=args.force, anonymize=args.anonymize, salt=salt)
    spool = ReportSpool() if args.pdf else None
    try:
        failed = _screen_all(args, films, screener, writer, spool, recorder, clinical_table)
        if spool is not None and out_dir is not None:
            from ..core.reports import clinic_header_lines

            errors = spool.write(out_dir, bundle=screener.bundle, anonymize=args.anonymize, force=args.force,
                                 page_size=args.page_size, clinic=clinic_header_lines(args.clinic_name, args.clinic_address),
                                 on_written=lambda p: _report_written(p, recorder, screener))
            for message in errors:
                log.error("%s", message)
            failed = failed or bool(errors)
    finally:
        if spool is not None:
            spool.close()
        if recorder is not None:
            recorder.close()
    return EXIT_FAILED if failed else EXIT_OK


def _report_written(path: Path, recorder: Any, screener: Any) -> None:
    log.info("report written: %s", path)
    if recorder is not None:
        recorder.exported("pdf", path, screener.model_info)


def _screen_all(args: argparse.Namespace, films: list[Path], screener: Any, writer: OutputWriter | None,
                spool: ReportSpool | None, recorder: Any, clinical_table: Any) -> bool:
    """Screen every film, streaming each result out; True when at least one film failed.

    A two-stage pipeline: while film i's outputs are encoded and written in the writer thread, film
    i+1 is decoded and screened. Results are reported in input order, one film behind. Nothing of a
    film is kept once it is reported (a requested PDF keeps a small stand-in: `ReportSpool`).
    """
    from ..core.display import render
    from ..core.loading import load_film
    from ..core.provenance import dicom_output_kind, own_output_kind

    dicom = args.dicom_sr or args.dicom_sc
    failed = False
    bar = None
    if len(films) > 1 and not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(films), unit="film", file=sys.stderr, desc="screening")

    def record_error(outcome: FilmOutcome, e: BaseException) -> None:
        if isinstance(e, OsteoError):
            outcome.error = str(e)
        elif isinstance(e, MemoryError):
            outcome.error = f"{escape_controls(outcome.path)}: not enough memory to screen this film."
        elif isinstance(e, OSError):  # the machine said no (disk full, read-only...): not a bug
            outcome.error = describe_os_error(e, e.filename or outcome.path)
        else:  # never a traceback for one bad film; the others go on
            outcome.error = (f"{escape_controls(outcome.path)}: unexpected error ({type(e).__name__}: {e}). "
                             "Run with -v and report it.")
        log.error("%s", outcome.error, exc_info=args.verbose and not isinstance(e, (OsteoError, OSError)))

    def write_job(outcome: FilmOutcome, shown01, t0: float) -> None:
        """The film's files (and its report stand-in), in the writer thread."""
        assert writer is not None
        t = time.perf_counter()
        try:
            paths = writer.write_film(outcome.path, outcome.film, outcome.prediction, shown01, record=outcome.record_for)
            outcome.outputs += [str(p) for p in paths]
            if dicom:
                from ..core.anatomy import anatomy_of

                for p in writer.write_dicom(outcome.path, outcome.film, outcome.prediction, bundle=screener.bundle,
                                            sr=args.dicom_sr, sc=args.dicom_sc and outcome.prediction.screened,
                                            anatomy=anatomy_of(outcome.film)):
                    outcome.outputs.append(str(p))
                    log.info("DICOM written: %s", p)
                    if recorder is not None:
                        recorder.exported("dicom", p, screener.model_info)
        finally:
            if spool is not None:
                spool.add(outcome.film, outcome.prediction, outcome.error, shown=shown01)
            outcome.timings_ms["write"] = (time.perf_counter() - t) * 1000
            outcome.timings_ms["total"] = (time.perf_counter() - t0) * 1000  # this film's own work

    def finish(outcome: FilmOutcome, t0: float, write: Future | None) -> None:
        """Wait for the film's outputs, report it (JSON line, message, progress), then let it go."""
        nonlocal failed
        if write is not None:
            try:
                write.result()
            except Exception as e:
                record_error(outcome, e)
        elif spool is not None and outcome.film is not None:  # loaded, no result: the report lists it
            spool.add(outcome.film, outcome.prediction, outcome.error)
        outcome.timings_ms.setdefault("total", (time.perf_counter() - t0) * 1000)
        if recorder is not None:
            recorder.record(outcome)
        for w in outcome.warnings:
            log.warning("%s", w)
        if args.json:
            sys.stdout.write(json.dumps(outcome.to_dict()) + "\n")
            sys.stdout.flush()
        elif outcome.ok and not args.quiet:
            msg = escape_controls(f"{outcome.path}: {_result_line(outcome.prediction)}")
            (bar.write(msg, file=sys.stdout) if bar else print(msg))
        failed = failed or not outcome.ok
        outcome.release()
        if bar:
            bar.update(1)

    pending: tuple[FilmOutcome, float, Future | None] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="osteo-writer") as pool:
        for path in films:
            outcome = FilmOutcome(path)
            t0 = time.perf_counter()
            write: Future | None = None
            try:
                kind = own_output_kind(path)
                if kind is not None:
                    raise OsteoError(f"{escape_controls(path)}: is osteo-desktop's own {kind} (it carries the tool's "
                                     "output marker), not a radiograph; it is not screened.")
                t = time.perf_counter()
                outcome.film = load_film(path)
                outcome.timings_ms["load"] = (time.perf_counter() - t) * 1000
                outcome.warnings += outcome.film.warnings
                kind = dicom_output_kind(outcome.film.header)
                if kind is not None:
                    raise OsteoError(f"{escape_controls(path)}: is osteo-desktop's own {kind}, not a radiograph; "
                                     "it is not screened.")
                shown01 = render(outcome.film) if writer is not None else None  # reused for the PNGs
                entered = clinical_table.lookup(path) if clinical_table is not None else None
                pred = screener.screen(outcome.film, gradcam=not args.no_gradcam, display=shown01, clinical=entered)
                outcome.prediction = pred
                outcome.warnings += [w for w in pred.warnings if w not in outcome.warnings]
                outcome.timings_ms.update({f"screen_{k}": v for k, v in pred.timings_ms.items()})
                if writer is not None:
                    write = pool.submit(write_job, outcome, shown01, t0)
                del shown01
            except Exception as e:
                record_error(outcome, e)
            if write is None:
                outcome.timings_ms["total"] = (time.perf_counter() - t0) * 1000
            if pending is not None:
                finish(*pending)
            pending = (outcome, t0, write)
        if pending is not None:
            finish(*pending)
    if bar:
        bar.close()
    return failed


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else (logging.ERROR if args.quiet else logging.INFO),
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,  # this is the process entry point: our format on stderr, whatever was set before
    )
    from ..core.logs import escape_log_messages

    escape_log_messages("%(levelname)s: %(message)s")  # a file name's newline or ANSI escape stays visible text
    if not args.verbose:
        # pydicom logs every decoder's traceback and non-conformance notes; our own messages say
        # what failed and what to do, so keep its chatter for -v.
        from ..core.logs import quiet_third_party_logs

        quiet_third_party_logs()
        warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")
    try:
        return screen_paths(args)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except OsteoError as e:
        log.error("%s", e)
        return EXIT_FAILED
    except OSError as e:  # the machine said no (e.g. the --out drive vanished): say so, not "internal error"
        log.error("%s", describe_os_error(e, e.filename))
        return EXIT_FAILED
    except Exception as e:
        log.error("internal error: %s: %s (run with -v for details)", type(e).__name__, e, exc_info=args.verbose)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
