"""`osteo-node`: a DICOM storage node (C-STORE and C-ECHO SCP) filing into the local study store.

    osteo-node [--aet OSTEO] [--port 11112] [--bind 127.0.0.1] [--store DIR]
               (--allow AET [--allow AET...] | --accept-any)
               [--screen [--bundle DIR] [--device auto|cpu|cuda] [--send-results AET@HOST:PORT]]
    osteo-node --check [--store DIR]

It listens on the loopback interface unless --bind says otherwise, and refuses calling AE titles
that are not allowed. Received instances are written atomically and indexed before they are
acknowledged. At start it makes the index agree with the files (after a crash or a kill). It runs
until interrupted (Ctrl+C, SIGTERM).

Exit status: 0 stopped normally (--check: store and index agree), 1 error (--check: differences
found and repaired), 2 bad usage, 3 no usable model bundle.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .. import __version__
from ..core.errors import BundleError, OsteoError

log = logging.getLogger("osteo_desktop.node")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUNDLE = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    from ..core.net import DEFAULT_PORT, LOOPBACK

    ap = argparse.ArgumentParser(
        prog="osteo-node",
        description="DICOM storage node: receives films by C-STORE into the local study store, optionally "
                    "screens each one as it arrives and sends the results back.",
        epilog="Exit status: 0 stopped normally; 1 error; 2 usage error; 3 no usable model bundle.",
    )
    ap.add_argument("--aet", default=None, help="our AE title (default: the saved settings', else OSTEO)")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    ap.add_argument("--bind", default=LOOPBACK,
                    help=f"address to listen on (default {LOOPBACK}: this computer only; 0.0.0.0 = every interface)")
    ap.add_argument("--store", type=Path, metavar="DIR", help="store folder (default: $OSTEO_STORE, else the user's data folder)")
    ap.add_argument("--allow", action="append", default=[], metavar="AET",
                    help="a calling AE title allowed to send (repeat for several)")
    ap.add_argument("--accept-any", action="store_true", help="accept every calling AE title (not recommended)")
    ap.add_argument("--screen", action="store_true", help="screen each new film as it arrives; results go into the store")
    ap.add_argument("--no-catch-up", action="store_true",
                    help="with --screen: do not screen the store's films that have no result yet at start")
    ap.add_argument("--send-results", metavar="AET@HOST:PORT",
                    help="with --screen: send each result's DICOM SR and Secondary Capture there by C-STORE")
    ap.add_argument("--bundle", type=Path, metavar="DIR", help="model bundle folder (default: the bundled model_weights/)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the model runs")
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                    help="CPU threads for the model (default: half the cores)")
    ap.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds (default 60)")
    ap.add_argument("--check", action="store_true", help="make the index agree with the files, report, and exit")
    ap.add_argument("-q", "--quiet", action="store_true", help="errors only")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging, including pynetdicom's")
    ap.add_argument("--version", action="version", version=f"osteo-node {__version__}")
    return ap


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _open_store(args: argparse.Namespace):
    from ..core.store import LocalStore, default_store_dir

    folder = args.store or default_store_dir()
    store = LocalStore(folder)
    report = store.reconcile()
    if not report.clean or report.temp_removed:
        log.warning("%s: index repaired: %d file(s) indexed, %d missing file(s) dropped from the index, %d identical "
                    "copies removed, %d unreadable, %d stale temporary file(s) removed", folder, len(report.indexed),
                    len(report.removed), len(report.redundant), len(report.unreadable), report.temp_removed)
    return store, report


def _load_screener(bundle, device: str, threads: int):  # a core.bundle.Bundle
    import torch

    from ..core.inference import Screener

    torch.set_num_threads(max(1, threads))
    screener = Screener(bundle, device=device)
    log.info("screening with model %s %s on %s", screener.model_info.name, screener.model_info.version, screener.device)
    return screener


def run(args: argparse.Namespace) -> int:
    from ..core.net import NetworkSettings, RemoteNode, StorageNode

    settings = NetworkSettings.load()
    aet = args.aet or settings.our_aet or "OSTEO"
    if args.check:
        store, report = _open_store(args)
        with store:
            print(f"{store.folder}: {store.count('instances')} instances in {store.count('studies')} studies; "
                  + ("index and files agree" if report.clean else
                     f"repaired: {len(report.indexed)} indexed, {len(report.removed)} dropped, "
                     f"{len(report.unreadable)} unreadable file(s) left alone"))
        return EXIT_OK if report.clean else EXIT_FAILED
    if not args.allow and not args.accept_any:
        log.error("say who may send: --allow AET (repeat for several) or --accept-any")
        return EXIT_USAGE
    if args.send_results and not args.screen:
        log.error("--send-results needs --screen")
        return EXIT_USAGE
    send_to = RemoteNode.parse(args.send_results) if args.send_results else None
    if not _is_loopback(args.bind):
        log.warning("listening on %s: other computers can connect. Only %s may send; DICOM traffic is not encrypted.",
                    args.bind, "any AE title" if args.accept_any else ", ".join(args.allow))
    store, _ = _open_store(args)
    autoscreen = None
    try:
        if args.screen:
            from ..core.bundle import read_bundle
            from .autoscreen import AutoScreener

            try:
                bundle = read_bundle(args.bundle)  # checked now (exit 3); the model loads in the worker thread
            except BundleError as e:
                log.error("%s", e)
                return EXIT_BUNDLE
            autoscreen = AutoScreener(store, lambda: _load_screener(bundle, args.device, args.threads), send_to=send_to,
                                      our_aet=aet, timeout=args.timeout)
            autoscreen.start()
            if not args.no_catch_up:
                n = autoscreen.catch_up()
                if n:
                    log.info("catching up: %d film(s) in the store without a result are queued for screening", n)
        on_stored = None
        if autoscreen is not None:
            screen = autoscreen

            def on_stored(stored, calling):
                screen.submit(stored.path, stored.header)

        node = StorageNode(store, aet=aet, bind=args.bind, port=args.port, allowed_aets=args.allow,
                           accept_any=args.accept_any, on_stored=on_stored, timeout=args.timeout)
        stop = threading.Event()

        def on_signal(signum, frame):
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        if hasattr(signal, "SIGTERM"):
            signal.signal(signal.SIGTERM, on_signal)
        node.start()
        host, port = node.address
        log.info("osteo-node %s listening on %s:%d, store %s; accepting %s", aet, host, port, store.folder,
                 "any calling AE title" if args.accept_any else "calling AE titles " + ", ".join(args.allow))
        try:
            while not stop.wait(0.5):
                pass
        finally:
            log.info("stopping: %d received, %d duplicates, %d associations refused", node.received, node.duplicates,
                     node.refused)
            node.stop()
        return EXIT_OK
    finally:
        if autoscreen is not None:
            autoscreen.stop()
        store.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .common import setup_logging

    setup_logging(args.verbose, args.quiet)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except OsteoError as e:
        log.error("%s", e)
        return EXIT_FAILED
    except Exception as e:
        log.error("internal error: %s: %s (run with -v for details)", type(e).__name__, e, exc_info=args.verbose)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
