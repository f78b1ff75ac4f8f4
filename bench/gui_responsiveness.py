"""GUI responsiveness benchmark: does the viewer stay responsive while it loads the model, screens,
lists a folder and writes a report? Prints numbers; not a test.

    ./dev.sh run python bench/gui_responsiveness.py [--film F] [--bundle DIR] [--device cpu] [--repeat 3]
                                                    [--folder-films 100] [--only SECTION...]

1. Cold launch (a subprocess, as a user starts it): `osteo-desktop FILM --bundle B --device cpu
   --exit-after-result` with OSTEO_GUI_STATS set. Reports the time from process launch to the visible
   window (target < 1.5 s), whether torch was ever imported in the viewer's process (must be no: the
   model runs in the screening process), the time to the first result, and the longest GUI
   event-loop stall per phase, measured by a 5 ms QTimer (target < 50 ms while the model loads and
   while a film is screened).
2. Warm screening (in this process, the screening process behind it): the same film screened
   `--repeat` more times with the model loaded, longest stall during each; and the cost of one live
   window/level re-render on the film.
3. A busy core: the film screened with one core kept busy by another process, against the idle
   machine, in one run (target ratio <= 1.6), with the thread budget (cores - 1) and, for comparison,
   with one thread per core (the old behaviour).
4. A folder of `--folder-films` JPEG 2000 films (made in a temporary folder from one encoded film):
   time to the first film on display, to the whole list (target < 2 s), to every thumbnail; the
   longest stall meanwhile; and, for comparison, what decoding one film whole costs (the old way
   decoded every film to list it).
5. PDF report export (File > Export PDF report…, dialogs skipped): time to write the report in the
   screening process, and the longest GUI stall meanwhile (phase "exporting"; same target).
6. Closing the window while a film is screened: time until the screening process is gone.

Without --bundle it uses the installed bundle (model_weights/ or $OSTEO_BUNDLE), else a random-weight
efficientnet_b0 at 512 px (the shipped input size), so the compute matches the real model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STALL_TARGET_MS = 50.0
WINDOW_TARGET_S = 1.5
BUSY_RATIO_TARGET = 1.6
LIST_TARGET_S = 2.0
FOLDER_FILMS = 100
SECTIONS = ("cold", "warm", "busy", "folder", "pdf", "close")
_TEMP_DIRS: list[Path] = []  # removed when the run ends (the JPEG 2000 folder alone is ~400 MB)


def _temp_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _TEMP_DIRS.append(path)
    return path


def _bundle_dir(arg: Path | None, tmp: Path) -> Path:
    from osteo_desktop.core.bundle import default_bundle_dir

    found = arg or default_bundle_dir()
    if found is not None:
        return Path(found)
    from tests.conftest import make_bundle

    path = make_bundle(tmp / "bundle", input_size=(512, 512)).path
    print(f"(no installed bundle: using a random-weight efficientnet_b0 at 512 px in {path})")
    return path


def _print_stacks(stall_stacks: list, include: str = "", limit: int = 3) -> None:
    """Where the GUI thread was during the longest stalls (OSTEO_GUI_STALL_STACKS), for phases
    containing `include`, and which other threads were running Python then."""
    shown = 0
    for ms, where in stall_stacks:
        phase = where.splitlines()[0]
        if "exiting" in phase or include not in phase or shown >= limit:
            continue
        shown += 1
        last = [line.strip() for line in where.strip().splitlines() if line.strip().startswith("File")][-2:]
        print(f"  GUI thread during a {ms:.0f} ms stall {phase}: " + " <- ".join(reversed(last)))


def _stacks_of(stats) -> list:
    return sorted(((ms, where) for where, ms in stats.meter.stall_stacks.items()), reverse=True)


def _verdict(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


def cold_launch(film: Path, bundle: Path, device: str, tmp: Path) -> int:
    stats_path = tmp / "gui_stats.json"
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["OSTEO_GUI_STATS"] = str(stats_path)
    env["OSTEO_GUI_STALL_STACKS"] = "1"  # where the GUI thread was during long stalls
    env["XDG_CONFIG_HOME"] = str(tmp / "config")  # leave the user's settings alone
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "osteo_desktop.gui.app", str(film), "--bundle", str(bundle), "--device", device,
           "--exit-after-result", "--screenshot", str(tmp / "bench_shot.png")]
    t_launch = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    t_exit = time.time()
    print(f"\n== cold launch: {' '.join(cmd[2:4])} … (QT_QPA_PLATFORM={env.get('QT_QPA_PLATFORM', 'native')}) ==")
    if proc.returncode != 0 or not stats_path.is_file():
        print(f"FAILED (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return 1
    data = json.loads(stats_path.read_text())
    marks, info, gaps = data["marks"], data["info"], data["max_gap_ms"]
    win_s = marks["window_shown"] - t_launch
    print(f"launch -> visible window      {win_s:7.2f} s   (target < {WINDOW_TARGET_S} s: {_verdict(win_s < WINDOW_TARGET_S)})")
    print(f"torch imported before window  {'YES' if info['torch_before_window'] else 'no':>7s}     (must be no)")
    torch_ever = data.get("torch_loaded_at_exit")
    print(f"torch in the viewer's process {'YES' if torch_ever else 'no':>7s}     (must be no: the model runs in the "
          "screening process)")
    for key, label in (("model_ready", "launch -> model loaded"), ("first_result", "launch -> first result")):
        if key in marks:
            print(f"{label:29s} {marks[key] - t_launch:7.2f} s")
    print(f"launch -> process exit        {t_exit - t_launch:7.2f} s")
    print("longest event-loop stall by phase (5 ms timer):")
    for phase in sorted(gaps):
        n = data["ticks"].get(phase, 0)
        watched = "screening" in phase or "model-loading" in phase
        flag = f"  (target < {STALL_TARGET_MS:.0f} ms: {_verdict(gaps[phase] < STALL_TARGET_MS)})" if watched else ""
        print(f"  {phase:28s} {gaps[phase]:7.1f} ms over {n} ticks{flag}")
    longest = sorted(data.get("long_gaps", []), key=lambda g: -g[1])[:6]
    if longest:
        print("longest stalls (seconds after launch: ms, phase):",
              ", ".join(f"{t - t_launch:.2f} s: {g:.0f} ms {ph}" for t, g, ph in sorted(longest)))
    _print_stacks(data.get("stall_stacks", []), limit=4)
    return 0


def _wait(cond, timeout_s: float = 600.0) -> bool:
    """Run the event loop until `cond()` is true (or the timeout); returns cond()."""
    from PySide6.QtCore import QEventLoop, QTimer

    if cond():
        return True
    loop = QEventLoop()
    t = QTimer()
    t.timeout.connect(lambda: loop.quit() if cond() else None)
    t.start(5)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    t.stop()
    return bool(cond())


def warm_screening(film: Path, bundle: Path, device: str, repeat: int, sections: set[str],
                   folder_films: int = FOLDER_FILMS) -> int:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from osteo_desktop.gui.main_window import MainWindow
    from osteo_desktop.gui.stats import Stats
    from osteo_desktop.gui.theme import apply_dark_theme

    print(f"\n== warm screening from this process ({repeat} runs, model loaded in the screening process) ==")
    os.environ.setdefault("OSTEO_GUI_STALL_STACKS", "1")  # where the GUI thread was during long stalls
    app = QApplication.instance() or QApplication([sys.argv[0]])
    apply_dark_theme(app)
    stats = Stats(os.devnull)
    settings = QSettings(os.devnull, QSettings.Format.IniFormat)
    w = MainWindow(settings, bundle=str(bundle), device=device, auto_screen=True, persist_settings=False, stats=stats)
    w.resize(1440, 900)
    w.show()
    outcome: list[str] = []
    w.screening_done.connect(lambda *a: outcome.append("ok"))
    w.screening_failed.connect(lambda path, msg: outcome.append(msg))
    w.film_failed.connect(lambda path, msg: outcome.append(msg))

    def wait_outcome(timeout_s: float = 600) -> str:
        loop = QEventLoop()
        t = QTimer()
        t.timeout.connect(lambda: loop.quit() if outcome else None)
        t.start(20)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        t.stop()
        return outcome.pop(0) if outcome else "timeout"

    stats.meter.start()
    w.start_background()
    w.open_paths([film], remember=False)
    first = wait_outcome()
    if first != "ok":
        print(f"FAILED: {first}")
        w.close()
        return 1
    rc = 0
    _wait(lambda: False, 1.0)  # let the first film's thumbnail and paint settle
    stats.meter.max_gap_ms.clear()
    stats.meter.enter("doing-nothing")
    _wait(lambda: False, 3.0)
    stats.meter.leave("doing-nothing")
    floor = stats.meter.max_gap_ms.get("doing-nothing", 0.0)
    print(f"noise floor: longest stall    {floor:7.1f} ms   while the viewer does nothing for 3 s (other programs and "
          "the operating system's scheduling)")
    gaps, times = [], []
    for _ in range(repeat):
        w.session.forget_results()  # force a new screening of the same film
        stats.meter.max_gap_ms.clear()
        stats.meter.stall_stacks.clear()
        t = time.perf_counter()
        w.screen_current()
        res = wait_outcome()
        times.append((time.perf_counter() - t) * 1000)
        if res != "ok":
            print(f"FAILED: {res}")
            rc = 1
            break
        gaps.append(stats.meter.max_gap_ms.get("screening", 0.0))
    if gaps:
        worst = max(gaps)
        print(f"screening time                median {statistics.median(times):7.0f} ms")
        print(f"longest stall while screening {worst:7.1f} ms   (runs: {', '.join(f'{g:.0f}' for g in gaps)}; "
              f"target < {STALL_TARGET_MS:.0f} ms: {_verdict(worst < STALL_TARGET_MS)})")
    lf = w.current
    if lf is not None:
        from osteo_desktop.core.film import Window

        base = w.view.display_window or (lf.presets[0] if lf.presets else Window(0.5, 1.0))
        ts = []
        for i in range(10):
            t = time.perf_counter()
            w.view.set_window(Window(base.center + i, base.width + 2 * i, "manual"))
            w.view.repaint()
            ts.append((time.perf_counter() - t) * 1000)
        rows, cols = lf.film.shape
        print(f"window/level re-render+paint  median {statistics.median(ts):7.1f} ms on a {cols}x{rows} film "
              f"({'lookup table' if lf.renderer.uses_lut else 'direct'})")
    if "busy" in sections:
        rc |= busy_core(film, bundle, device, repeat)
    if "pdf" in sections:
        rc |= pdf_export(w, stats, wait_outcome, outcome)
    if "folder" in sections:
        rc |= folder_listing(w, stats, folder_films)
    if "close" in sections:
        rc |= close_time(w)
    stats.meter.stop()
    w.close()
    return rc


def busy_core(film: Path, bundle: Path, device: str, repeat: int) -> int:
    """Screening time with one core kept busy by another process, against the idle machine."""
    from osteo_desktop.core.loading import load_film
    from osteo_desktop.core.threads import available_cores, screening_threads
    from osteo_desktop.gui import screening as scr

    cores = available_cores()
    print(f"\n== a busy core: {repeat} screenings idle, then {repeat} with one core kept busy by another process "
          f"({cores} cores) ==")
    the_film = load_film(film)
    rc = 0
    for label, threads in (("thread budget", screening_threads()), ("one thread per core", cores)):
        c = scr.ScreeningController(str(bundle), device, threads=threads)
        done: dict[int, str] = {}
        c.finished.connect(lambda rid, pred, done=done: done.__setitem__(rid, "ok"))
        c.failed.connect(lambda rid, msg, done=done: done.__setitem__(rid, msg))
        c.start()
        if not _wait(lambda c=c: c.model_state in (scr.READY, scr.NO_MODEL, scr.MODEL_ERROR)) or c.model_state != scr.READY:
            print(f"FAILED: the model did not load ({c.model_message})")
            c.shutdown()
            return 1

        def timed(n: int, c=c, done=done) -> list[float]:
            out = []
            for _ in range(n):
                t = time.perf_counter()
                rid = c.request(the_film)
                _wait(lambda rid=rid: rid in done)
                if done.get(rid) != "ok":
                    raise RuntimeError(done.get(rid, "timeout"))
                out.append((time.perf_counter() - t) * 1000)
            return out

        try:
            timed(1)  # the engine reads and caches the film
            idle = statistics.median(timed(repeat))
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                time.sleep(0.5)
                busy = statistics.median(timed(repeat))
            finally:
                hog.kill()
                hog.wait()
        except RuntimeError as e:
            print(f"FAILED: {e}")
            rc = 1
        else:
            ratio = busy / idle
            target = f"target <= {BUSY_RATIO_TARGET}: {_verdict(ratio <= BUSY_RATIO_TARGET)}" if label == "thread budget" \
                else "for comparison"
            print(f"{label:20s} {threads} thread(s): idle {idle:6.0f} ms, one core busy {busy:6.0f} ms, "
                  f"ratio {ratio:4.2f}   ({target})")
        c.shutdown()
    return rc


def _j2k_folder(folder: Path, n: int) -> tuple[Path, float]:
    """`n` JPEG 2000 (lossless) DICOM films of 2500 x 2000 12-bit pixels, 10 patients: one film is
    encoded, the others are copies with their own identifiers. Returns (folder, encode seconds)."""
    import numpy as np
    import pydicom
    from pydicom.uid import JPEG2000Lossless, generate_uid

    from tests.gui.conftest import write_dicom

    folder.mkdir(parents=True, exist_ok=True)
    src = write_dicom(folder.parent / "source.dcm", rows=2500, cols=2000, seed=3)
    t = time.perf_counter()
    ds = pydicom.dcmread(src)
    rng = np.random.default_rng(0)
    px = ds.pixel_array.astype(np.int32) + rng.integers(0, 60, (2500, 2000))  # detector noise: a realistic size
    ds.PixelData = np.clip(px, 0, 4095).astype(np.uint16).tobytes()
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    encode_s = time.perf_counter() - t
    src.unlink()
    studies = {}
    for i in range(n):
        pid = f"BENCH-{i % 10:02d}"
        ds.PatientID, ds.PatientName = pid, f"Bench^Patient{i % 10}"
        ds.StudyInstanceUID = studies.setdefault(pid, generate_uid())
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(str(folder / f"film_{i:03d}.dcm"), enforce_file_format=True)
    return folder, encode_s


def folder_listing(w, stats, n: int) -> int:
    """Open a folder of `n` JPEG 2000 films: list, first film, thumbnails; stalls meanwhile."""
    from osteo_desktop.core.loading import load_film
    from osteo_desktop.core.loading.thumbnail import make_thumbnail

    tmp = _temp_dir("osteo-gui-bench-j2k-")
    folder, encode_s = _j2k_folder(tmp / "films", n)
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
    print(f"\n== a folder of {n} JPEG 2000 films (2500 x 2000, 12-bit, lossless; {size_mb:.0f} MB; one encoded "
          f"in {encode_s:.1f} s) ==")
    files = sorted(folder.iterdir())
    t = time.perf_counter()
    load_film(files[-1])
    whole_s = time.perf_counter() - t
    t = time.perf_counter()
    make_thumbnail(files[-2])
    thumb_s = time.perf_counter() - t
    keys = [str(p) for p in files]
    before = set(w.browser.paths())
    _wait(lambda: False, 0.3)  # the comparisons above blocked this thread: let the meter book that gap first
    stats.meter.max_gap_ms.clear()
    stats.meter.stall_stacks.clear()
    stats.meter.enter("listing")
    t0 = time.perf_counter()
    w.open_paths([folder], remember=False)
    marks: dict[str, float] = {}

    def check() -> bool:
        now = time.perf_counter() - t0
        if "first" not in marks and w.session.current_key in keys:
            marks["first"] = now
        listed = set(w.browser.paths()) - before
        if "listed" not in marks and len(listed) >= n:
            marks["listed"] = now
        if "thumbs" not in marks and all(w.browser.has_thumbnail(k) for k in keys):
            marks["thumbs"] = now
        return len(marks) == 3

    _wait(check, 600)
    stats.meter.leave("listing")
    gap = max((v for k, v in stats.meter.max_gap_ms.items() if "listing" in k), default=0.0)
    if len(marks) < 3:
        print(f"FAILED: only {sorted(marks)} within 600 s")
        return 1
    print(f"first film on display          {marks['first']:7.2f} s")
    print(f"all {n} films listed           {marks['listed']:7.2f} s   (target < {LIST_TARGET_S:.0f} s: "
          f"{_verdict(marks['listed'] < LIST_TARGET_S)})")
    print(f"all thumbnails drawn           {marks['thumbs']:7.2f} s   (one thumbnail at reduced resolution: "
          f"{thumb_s * 1000:.0f} ms)")
    print(f"decoding one film whole        {whole_s:7.2f} s   (listing by decoding every film: ~{whole_s * n:.0f} s)")
    print(f"longest stall while listing    {gap:7.1f} ms   (target < {STALL_TARGET_MS:.0f} ms: {_verdict(gap < STALL_TARGET_MS)})")
    _print_stacks(_stacks_of(stats), "listing")
    return 0


def close_time(w) -> int:
    """Close the window while a film is being screened: how long until the screening process is gone."""
    print("\n== closing the window while a film is screened ==")
    c = w.controller
    engine = c.engine
    if engine is None or w.current is None:
        print("(skipped: no screening process or no film)")
        return 0
    pid = engine.pid
    w.session.forget_results()
    started = []
    c.progress.connect(lambda *a: started.append(1))
    w.screen_current()
    _wait(lambda: bool(started), 60)
    t = time.perf_counter()
    w.close()
    ms = (time.perf_counter() - t) * 1000
    try:
        os.kill(pid, 0)
        gone = False
    except ProcessLookupError:
        gone = True
    except OSError:
        gone = True
    print(f"close() with a screening in flight {ms:5.0f} ms; screening process gone: {'yes' if gone else 'NO'} "
          f"(target: exit within 1 s: {_verdict(ms < 1000 and gone)})")
    return 0 if gone else 1


def pdf_export(w, stats, wait_outcome, outcome: list) -> int:
    """One PDF report of the film's patient, written in the worker as the menu action does."""
    if w.current is None:
        return 0
    out = _temp_dir("osteo-gui-bench-pdf-") / "report.pdf"
    os.environ.setdefault("OSTEO_PSEUDONYM_SALT_FILE", str(out.parent / "salt"))
    w.export_finished.connect(lambda *a: outcome.append("ok"))
    w.export_failed.connect(lambda jid, msg: outcome.append(msg))
    # the menu action has the worker import the PDF writer while its dialog is open: do the same,
    # and give it the time a user takes to answer the dialog
    w.controller.preload_reports()
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(2000, loop.quit)
    loop.exec()
    outcome.clear()
    stats.meter.max_gap_ms.clear()
    stats.meter.stall_stacks.clear()
    t = time.perf_counter()
    if w.export_pdf(out, page_size="A4", anonymize=False, force=False) is None:
        print("FAILED: the export did not start")
        return 1
    res = wait_outcome()
    ms = (time.perf_counter() - t) * 1000
    if res != "ok":
        print(f"FAILED: {res}")
        return 1
    gap = stats.meter.max_gap_ms.get("exporting", 0.0)
    print(f"PDF report export             {ms:7.0f} ms ({out.stat().st_size // 1024} KiB)")
    print(f"longest stall while exporting {gap:7.1f} ms   (target < {STALL_TARGET_MS:.0f} ms: {_verdict(gap < STALL_TARGET_MS)})")
    _print_stacks(_stacks_of(stats), "exporting")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--film", type=Path, default=REPO / "resources" / "demo" / "knee_demo.dcm")
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--folder-films", type=int, default=FOLDER_FILMS, help="JPEG 2000 films in the listed folder")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="run only these sections")
    a, _unknown = ap.parse_known_args()  # run_all.py passes every benchmark the same arguments
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not a.film.is_file():
        print(f"film not found: {a.film}")
        return 2
    tmp = _temp_dir("osteo-gui-bench-")
    bundle = _bundle_dir(a.bundle, tmp)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"film: {a.film.name}   bundle: {bundle}   device: {a.device}   cpus: {os.cpu_count()}   "
          f"load average before: {load[0]:.1f} (other programs on this machine skew every number)")
    sections = set(a.only)
    try:
        rc = cold_launch(a.film, bundle, a.device, tmp) if "cold" in sections else 0
        if sections - {"cold"}:
            rc |= warm_screening(a.film, bundle, a.device, a.repeat, sections, a.folder_films)
    finally:
        for path in _TEMP_DIRS:
            shutil.rmtree(path, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
