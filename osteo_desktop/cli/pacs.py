"""`osteo-pacs`: talk to a PACS: echo, find, get, move, store.

    osteo-pacs echo  [--pacs AET@HOST:PORT] [--aet OURS] [--timeout S] [--json]
    osteo-pacs find  [--level study|series] [--patient-id ID] [--patient-name NAME] [--date RANGE]
                     [--modality MOD] [--accession NO] [--study-uid UID] [--limit N] [--json]
    osteo-pacs get   --study-uid UID [--series-uid UID] [--store DIR] [--json]
    osteo-pacs move  --study-uid UID [--series-uid UID] [--dest AET] [--json]
    osteo-pacs store FILE_OR_FOLDER... [--json]

--pacs defaults to the PACS saved in the viewer's PACS dialog (network.json in the user's settings
folder); --save stores the --pacs/--aet/--timeout given. With --json, find prints one JSON object per
match; the other commands print one JSON summary object.

Exit status: 0 success, 1 the operation failed (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.errors import OsteoError, PacsError, SubOperationsFailedError

log = logging.getLogger("osteo_desktop.pacs")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--pacs", metavar="AET@HOST:PORT", help="the PACS (default: the saved one)")
    common.add_argument("--aet", help="our AE title (default: the saved one, else OSTEO)")
    common.add_argument("--timeout", type=float, help="network timeout in seconds (default: the saved one, else 30)")
    common.add_argument("--save", action="store_true", help="save --pacs, --aet and --timeout as the defaults")
    common.add_argument("--json", action="store_true", help="JSON output for scripts")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress, errors only")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging, including pynetdicom's")

    ap = argparse.ArgumentParser(prog="osteo-pacs", description="Query and retrieve from a PACS (DICOM C-ECHO, C-FIND, "
                                 "C-GET, C-MOVE, C-STORE).", epilog="Exit status: 0 success; 1 failed; 2 usage error.")
    ap.add_argument("--version", action="version", version=f"osteo-pacs {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("echo", parents=[common], help="C-ECHO: is the PACS there, and does it accept us?")

    f = sub.add_parser("find", parents=[common], help="C-FIND studies or series")
    f.add_argument("--level", choices=["study", "series"], default="study")
    f.add_argument("--patient-id", default="")
    f.add_argument("--patient-name", default="", help="DICOM wildcards allowed: 'DOE^*'")
    f.add_argument("--date", default="", help="study date or range: 20240131, 20240101-20241231, 2024-01-01..2024-12-31, "
                   "20240101- or -20241231")
    f.add_argument("--modality", default="", help="e.g. DX, CR")
    f.add_argument("--accession", default="")
    f.add_argument("--study-uid", default="", help="series level: the series of this study")
    f.add_argument("--limit", type=int, default=None, help="at most N matches")

    for name, helptext in (("get", "C-GET a study or series into the local store"),
                           ("move", "C-MOVE a study or series to a storage node (osteo-node)")):
        p = sub.add_parser(name, parents=[common], help=helptext)
        p.add_argument("--study-uid", required=True)
        p.add_argument("--series-uid", default=None)
        if name == "get":
            p.add_argument("--store", type=Path, metavar="DIR", help="store folder (default: the user's store)")
        else:
            p.add_argument("--dest", help="destination AE title (default: our AE title, i.e. our osteo-node)")

    s = sub.add_parser("store", parents=[common], help="C-STORE DICOM files to the PACS")
    s.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_FOLDER")
    return ap


class Progress:
    """One line on stderr, rewritten in place on a terminal; nothing with --quiet or --json."""

    def __init__(self, enabled: bool, every_s: float = 2.0):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.every_s = every_s  # without a terminal: a log line at most this often (and the last one)
        self._last = ""
        self._last_t = 0.0

    def __call__(self, done: int, total: int | None, message: str) -> None:
        if not self.enabled or message == self._last:
            return
        self._last = message
        if self.tty:
            sys.stderr.write("\r" + message + " " * 8)
            sys.stderr.flush()
            return
        now = time.monotonic()
        if now - self._last_t >= self.every_s or (total is not None and done >= total):
            self._last_t = now
            log.info("%s", message)

    def close(self) -> None:
        if self.enabled and self.tty and self._last:
            sys.stderr.write("\n")


def _emit(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    if args.json:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    elif not args.quiet:
        print(text)


def _client(args: argparse.Namespace):
    from ..core.net import NetworkSettings, PacsClient, RemoteNode

    settings = NetworkSettings.load()
    pacs = args.pacs or settings.pacs
    if not pacs:
        raise _Usage("no PACS given: use --pacs AET@HOST:PORT (add --save to keep it), or configure one in the viewer.")
    remote = RemoteNode.parse(pacs)
    aet = args.aet or settings.our_aet or "OSTEO"
    timeout = args.timeout if args.timeout is not None else settings.timeout_s
    if args.save:
        settings.pacs, settings.our_aet, settings.timeout_s = str(remote), aet, timeout
        log.info("settings saved to %s", settings.save())
    return PacsClient(remote, our_aet=aet, timeout=timeout), settings


class _Usage(Exception):
    pass


def _table(matches: list[Any]) -> str:
    if not matches:
        return "no matches"
    lines = []
    for m in matches:
        d = m.to_dict()
        base = f"{d['patient_id'] or '-':<14} {d['study_date'] or '-':<8} {('/'.join(d['modalities']) or '-'):<8} " \
               f"{d['accession'] or '-':<12} {d['study_description'][:30]:<30} {d['study_uid']}"
        if m.level == "SERIES":
            base += f"\n    series {d['series_number'] or '-'} {d['modality'] or '-'} {d['series_description'][:30]} " \
                    f"({d['n_instances'] if d['n_instances'] is not None else '?'} instances) {d['series_uid']}"
        lines.append(base)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..core.net import FindQuery

    client, settings = _client(args)
    progress = Progress(enabled=not (args.quiet or args.json))
    if args.command == "echo":
        ms = client.echo()
        _emit(args, {"pacs": str(client.remote), "our_aet": client.our_aet, "ok": True, "ms": round(ms, 1)},
              f"{client.remote}: C-ECHO ok ({ms:.0f} ms)")
        return EXIT_OK
    if args.command == "find":
        q = FindQuery(level=args.level.upper(), patient_id=args.patient_id, patient_name=args.patient_name,
                      date=args.date, modality=args.modality, accession=args.accession, study_uid=args.study_uid)
        matches = client.find(q, limit=args.limit)
        if args.json:
            for m in matches:
                sys.stdout.write(json.dumps(m.to_dict()) + "\n")
            sys.stdout.flush()
        elif not args.quiet:
            print(_table(matches))
        log.info("%d match(es)", len(matches))
        return EXIT_OK
    if args.command == "store":
        from ..core.discovery import find_films

        files = find_films(args.paths)
        if not files:
            raise _Usage("no files to send")
        result = client.send(files, progress=progress)
        progress.close()
        for what, why in result.failed:
            log.error("%s: %s", what, why)
        _emit(args, {"pacs": str(client.remote), "sent": len(result.sent), "failed": [
            {"file": w, "error": e} for w, e in result.failed]},
              f"{client.remote}: {len(result.sent)} sent, {len(result.failed)} failed")
        return EXIT_OK if not result.failed else EXIT_FAILED
    if args.command in ("get", "move"):
        return _retrieve(args, client, settings, progress)
    raise _Usage(f"unknown command {args.command}")


def _retrieve(args: argparse.Namespace, client: Any, settings: Any, progress: Progress) -> int:
    from ..core.store import LocalStore, default_store_dir

    store_dir = getattr(args, "store", None) or (Path(settings.store_dir) if settings.store_dir else default_store_dir())
    store = LocalStore(store_dir) if args.command == "get" else None
    status = EXIT_OK
    error = ""
    try:
        try:
            if args.command == "get":
                assert store is not None
                result = client.get(store, study_uid=args.study_uid, series_uid=args.series_uid, progress=progress)
            else:
                dest = args.dest or client.our_aet
                result = client.move(dest, study_uid=args.study_uid, series_uid=args.series_uid, progress=progress)
        except SubOperationsFailedError as e:
            result, error, status = e.result, str(e), EXIT_FAILED
        progress.close()
        if result is None:
            raise PacsError(error)
        obj = {"pacs": str(client.remote), "study_uid": args.study_uid, "series_uid": args.series_uid,
               **result.to_dict()}
        if args.command == "get":
            obj["store"] = str(store_dir)
        else:
            obj["destination"] = args.dest or client.our_aet
        if store is not None:
            store.audit("retrieve", study_uid=args.study_uid, target=str(client.remote),
                        outcome="failed" if error else "ok",
                        details={"operation": result.operation, "completed": result.completed, "failed": result.failed})
        if error:
            log.error("%s", error)
        where = f"into {store_dir}" if args.command == "get" else f"to {obj['destination']}"
        new = len(result.stored) - result.duplicates
        _emit(args, obj, f"{result.operation} {where}: {result.completed} completed, {result.failed} failed, "
                         f"{result.warning} warnings" + (f" ({new} new, {result.duplicates} already stored)"
                                                         if args.command == "get" else "")
                         + f" in {result.seconds:.1f} s")
        if result.completed + result.failed + result.warning == 0:
            log.warning("nothing matched study %s%s on %s", args.study_uid,
                        f" series {args.series_uid}" if args.series_uid else "", client.remote)
        return status
    finally:
        if store is not None:
            store.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .common import setup_logging

    setup_logging(args.verbose, args.quiet)
    try:
        return run(args)
    except _Usage as e:
        log.error("%s", e)
        return EXIT_USAGE
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except OsteoError as e:
        log.error("%s", e)
        return EXIT_FAILED
    except Exception as e:
        log.error("internal error: %s: %s (run with -v for details)", type(e).__name__, e, exc_info=args.verbose)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
