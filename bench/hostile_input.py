"""Hostile and heavy input, measured (issue 12's acceptance numbers). Not a test: it prints numbers.

    ./dev.sh run python bench/hostile_input.py                 # all three parts, shipped model, CPU
    ./dev.sh run python bench/hostile_input.py --part bombs    # or: batch, fuzz
    ./dev.sh run python bench/hostile_input.py --batch 120 --fuzz 1000 --device cpu --work /tmp/hostile

1. bombs: each decompression bomb of the issue, with its full payload (megabytes on disk that
   inflate to gigabytes), screened by `osteo-screen` in a process of its own: its peak RSS (the
   kernel's ru_maxrss, model included) and the message. Target: <= 1.5 GB each, a clear error.
   A legitimate film (the demo) and a large legitimate film just inside the budget are measured the
   same way for comparison.
2. batch: `osteo-screen --out --pdf --json` on N films of ~3 megapixels; the process's RSS is sampled
   as the rows stream out. Target: growth < 150 MB from a quarter of the way to the end.
3. fuzz: N seeded mutations of the seed films (tests/robustness/hostile.py) in one `osteo-screen
   --out --json` run with a hang timeout. Target: 0 tracebacks, 0 crashes, 0 hangs, every film a row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.robustness import hostile  # noqa: E402  (the same generators as the test suite)

warnings.simplefilter("ignore")  # pydicom complains about the odd values the mutations write on purpose

MB = 1 << 20
RSS_LIMIT_MB = 1536
GROWTH_LIMIT_MB = 150


def screen_cmd(*args: str, device: str) -> list[str]:
    return [sys.executable, "-m", "osteo_desktop.cli.screen", *args, "--device", device]


def run_measured(cmd: list[str], timeout: float, sample: bool = False,
                 on_line=None) -> tuple[int, float, str, str, list[tuple[float, int, float]]]:
    """Run `cmd`; (returncode, peak RSS MB from wait4, stdout, stderr, [(t, rows so far, RSS MB)])."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out_lines: list[str] = []
    err_chunks: list[str] = []
    samples: list[tuple[float, int, float]] = []
    t0 = time.perf_counter()

    def read_out() -> None:
        assert p.stdout is not None
        for line in p.stdout:
            out_lines.append(line)
            if on_line:
                on_line(line)

    def read_err() -> None:
        assert p.stderr is not None
        err_chunks.append(p.stderr.read())

    threads = [threading.Thread(target=read_out, daemon=True), threading.Thread(target=read_err, daemon=True)]
    for t in threads:
        t.start()
    deadline = t0 + timeout
    timed_out = False
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)  # wait4: this child's own peak RSS
        if pid:
            break
        if sample:
            samples.append((time.perf_counter() - t0, len(out_lines), _rss_mb(p.pid)))
        if time.perf_counter() > deadline:
            timed_out = True
            p.kill()
        time.sleep(0.25)
    rc = os.waitstatus_to_exitcode(status)
    p.returncode = rc  # reaped here; Popen must not wait for it again
    for t in threads:
        t.join(timeout=10)
    peak = usage.ru_maxrss / 1024
    if timed_out:
        rc = -9999
    return rc, peak, "".join(out_lines), "".join(err_chunks), samples


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# -- 1. bombs ------------------------------------------------------------------------------------------
def part_bombs(work: Path, device: str) -> bool:
    print("\n== 1. decompression bombs (full payload), peak RSS of osteo-screen with the model ==")
    folder = work / "bombs"
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[str, Path, str, list[str]]] = []
    for bomb in hostile.BOMBS:
        t = time.perf_counter()
        path = bomb.make(folder, "real")
        cases.append((bomb.name, path, f"{bomb.issue_text} (made in {time.perf_counter() - t:.0f} s)", []))
    cases.append(("demo film (legitimate)", REPO / "resources" / "demo" / "knee_demo.dcm", "for comparison", []))
    big = folder / "big_legit.dcm"
    side = _big_legit_film(big)
    cases.append((f"{side} x {side} 16-bit (legitimate, at the budget's edge)", big, "for comparison", []))
    cases.append(("the same with --out --pdf (PNGs, JSON, report)", big, "for comparison",
                  ["--out", str(folder / "out"), "--pdf", "--force"]))
    ok = True
    print(f"{'case':52} {'file':>9} {'peak RSS':>9}  rc  result")
    for name, path, note, extra in cases:
        rc, peak, out, err, _ = run_measured(screen_cmd(str(path), "--json", "-q", *extra, device=device), timeout=1800)
        row = json.loads(out.splitlines()[0]) if out.strip() else {}
        result = row.get("error") or row.get("decision") or err.strip().splitlines()[-1:] or "?"
        size = path.stat().st_size
        size_txt = f"{size / MB:.1f} MB" if size >= MB else f"{size / 1024:.0f} KB"
        is_bomb = not note.startswith("for comparison")
        if is_bomb:  # the acceptance: refused, with a clear error, within the memory limit
            good = peak <= RSS_LIMIT_MB and row.get("status") == "error" and "too large" in row.get("error", "")
            ok &= good
            verdict = "OK " if good else "BAD"
        else:  # legitimate films are measured for comparison only
            verdict = "ok " if rc == 0 else "BAD"
            ok &= rc == 0
        print(f"{name:52} {size_txt:>9} {peak:7.0f} MB {rc:3}  {verdict} {str(result)[:150]}")
        print(f"{'':52} issue: {note}")
    return ok


def _big_legit_film(path: Path) -> int:
    import numpy as np

    from osteo_desktop.core.loading import DEFAULT_MAX_BYTES

    side = int((DEFAULT_MAX_BYTES / 4) ** 0.5) - 8  # its float32 picture just inside the budget
    y = np.linspace(0, 1, side, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, side, dtype=np.float32)[None, :]
    arr = (4095 * (0.3 + 0.4 * np.sin(6 * x) * np.cos(4 * y) ** 2)).clip(0, 4095).astype(np.uint16)
    hostile.dicom_film(path, arr, BitsStored=12, HighBit=11)
    return side


# -- 2. batch ------------------------------------------------------------------------------------------
def part_batch(work: Path, device: str, n: int) -> bool:
    import numpy as np

    print(f"\n== 2. a {n}-film batch (~3 megapixels each; --out --pdf --json): RSS as the rows stream ==")
    folder = work / "batch"
    if folder.exists():
        shutil.rmtree(folder)
    src = folder / "distinct"
    films = folder / "films"
    src.mkdir(parents=True)
    films.mkdir()
    distinct = []
    for k in range(8):  # 8 distinct films, hard-linked to n names (each name is a film of its own)
        rng = np.random.default_rng(k)
        arr = hostile.ramp(2000, 1500) + rng.integers(0, 300, (2000, 1500))
        distinct.append(hostile.dicom_film(src / f"d{k}.dcm", arr.clip(0, 4095).astype(np.uint16),
                                           BitsStored=12, HighBit=11, PatientID=f"BATCH-{k}"))
    for i in range(n):
        os.link(distinct[i % len(distinct)], films / f"film_{i:04d}.dcm")
    out = folder / "out"
    rc, peak, stdout, err, samples = run_measured(
        screen_cmd(str(films), "--out", str(out), "--pdf", "--json", "-q", device=device), timeout=7200, sample=True)
    rows = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
    quarter = [s for s in samples if s[1] >= n // 4]
    at_quarter = quarter[0][2] if quarter else float("nan")
    end_rss = max((s[2] for s in samples if s[1] >= n), default=max((s[2] for s in samples), default=float("nan")))
    peak_after_quarter = max((s[2] for s in quarter), default=float("nan"))
    growth = peak_after_quarter - at_quarter
    print(f"films {n}, rows {len(rows)}, ok {sum(r['status'] == 'ok' for r in rows)}, exit {rc}, PDFs "
          f"{len(list(out.glob('*.pdf')))}")
    for frac in (0.1, 0.25, 0.5, 0.75, 1.0):
        hit = [s for s in samples if s[1] >= int(n * frac)]
        if hit:
            print(f"  after {int(n * frac):4d} rows: RSS {hit[0][2]:7.0f} MB  (t = {hit[0][0]:6.1f} s)")
    print(f"RSS at a quarter {at_quarter:.0f} MB, highest after it {peak_after_quarter:.0f} MB, at the end "
          f"{end_rss:.0f} MB: growth {growth:+.0f} MB (limit {GROWTH_LIMIT_MB}); peak RSS {peak:.0f} MB")
    return rc == 0 and len(rows) == n and growth < GROWTH_LIMIT_MB


# -- 3. fuzz -------------------------------------------------------------------------------------------
def part_fuzz(work: Path, device: str, n: int, seed: int) -> bool:
    print(f"\n== 3. {n} mutated films (seed {seed}) in one osteo-screen --out --json run ==")
    folder = work / "fuzz"
    if folder.exists():
        shutil.rmtree(folder)
    seeds = hostile.make_seeds(folder / "seeds")
    films = [m.path for m in hostile.mutants(seeds, folder / "films", n, seed=seed)]
    t = time.perf_counter()
    rc, peak, stdout, err, _ = run_measured(
        screen_cmd(str(folder / "films"), "--out", str(folder / "out"), "--json", "-q", device=device),
        timeout=max(3600, 10 * n))  # a hang, not a slow machine: 10 s per film is far beyond any film's need
    rows = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
    names = {Path(r["file"]).name for r in rows}
    missing = [p.name for p in films if p.name not in names]
    tracebacks = err.count("Traceback")
    unexpected = sum(("unexpected error" in (r.get("error") or "")) for r in rows) + err.count("internal error")
    crashed = rc not in (0, 1) and rc != -9999
    hung = rc == -9999
    status: dict[str, int] = {}
    for r in rows:
        status[r["status"]] = status.get(r["status"], 0) + 1
    print(f"films {n}, rows {len(rows)} ({status}), missing rows {len(missing)}, exit {rc}, "
          f"{time.perf_counter() - t:.0f} s, peak RSS {peak:.0f} MB")
    print(f"tracebacks {tracebacks}, unexpected/internal errors {unexpected}, crashes {int(crashed)}, hangs {int(hung)}")
    if missing:
        print("  no row for:", ", ".join(missing[:10]))
    return not (tracebacks or unexpected or crashed or hung or missing)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["all", "bombs", "batch", "fuzz"], default="all")
    ap.add_argument("--batch", type=int, default=120, help="films in the batch (default 120)")
    ap.add_argument("--fuzz", type=int, default=1000, help="mutated films (default 1000)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="osteo-hostile-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        if args.part in ("all", "bombs"):
            results["bombs"] = part_bombs(work, args.device)
        if args.part in ("all", "batch"):
            results["batch"] = part_batch(work, args.device, args.batch)
        if args.part in ("all", "fuzz"):
            results["fuzz"] = part_fuzz(work, args.device, args.fuzz, args.seed)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + ", ".join(f"{k}: {'PASS' if v else 'FAIL'}" for k, v in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
