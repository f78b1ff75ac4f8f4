"""Engine benchmark: decode time per transfer syntax, model forward, forward + Grad-CAM, and
end-to-end `osteo-screen` time per film, on the machine it runs on. Prints numbers; not a test.

    ./dev.sh run python bench/bench_engine.py [--device cpu|cuda] [--bundle DIR] [--repeat 5]

The target: end-to-end per film within 1.5x of (decode + one forward/backward of the model), i.e.
prediction and heatmap share one pass and nothing else is slow. Every ratio is measured in the same
run against its own baseline, since these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SAMPLES = REPO.parent / "shared" / "dicom-samples"


def timeit(fn, repeat: int) -> float:
    """Median wall time of `repeat` calls after one warm-up, in ms."""
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bundle", type=Path, default=None, help="default: model_weights/, else a random 512 px B0 bundle")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--film", type=Path, default=REPO / "resources" / "demo" / "knee_demo.dcm")
    ap.add_argument("--batch", type=int, default=6, help="films per osteo-screen call in the batch measurement")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from osteo_desktop.core.logs import quiet_third_party_logs

    quiet_third_party_logs()
    import warnings

    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")

    import torch

    from osteo_desktop.core.bundle import default_bundle_dir, read_bundle
    from osteo_desktop.core.inference import Screener
    from osteo_desktop.core.loading import load_film
    from osteo_desktop.core.preprocessing import preprocess_film

    tmp = Path(tempfile.mkdtemp(prefix="osteo-bench-"))
    bundle_dir = a.bundle or default_bundle_dir()
    if bundle_dir is None:
        sys.path.insert(0, str(REPO))
        from tests.conftest import make_bundle

        bundle_dir = make_bundle(tmp / "bundle", input_size=(512, 512)).path
        print(f"(no installed bundle: using a random-weight efficientnet_b0 at 512 px in {bundle_dir})")
    bundle = read_bundle(bundle_dir)
    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}, device {a.device}")
    print(f"bundle: {bundle.config.name} {bundle.config.version} {bundle.config.architecture} {bundle.config.preprocessing.input_size}")

    print("\n== decode (load_film), median of", a.repeat, "==")
    print(f"{'file':58s} {'syntax':34s} {'size':>11s} {'ms':>8s}")
    for p in sorted(SAMPLES.rglob("*.dcm")):
        if p.name in {"966.dcm", "RG2_JPLY.dcm"}:
            continue
        try:
            film = load_film(p)
        except Exception as e:  # report, keep going
            print(f"{str(p.relative_to(SAMPLES)):58s} FAILED: {e}")
            continue
        ms = timeit(lambda p=p: load_film(p), max(1, a.repeat // 2))
        print(f"{str(p.relative_to(SAMPLES)):58s} {film.transfer_syntax[:34]:34s} {film.shape[0]:>5d}x{film.shape[1]:<5d} {ms:8.1f}")

    screener = Screener(bundle, device=a.device)
    film = load_film(a.film)
    x_np, _ = preprocess_film(film, bundle.config.preprocessing)
    model = screener._model
    x = torch.from_numpy(x_np[None]).to(screener.device)

    def sync():
        if screener.device.startswith("cuda"):
            torch.cuda.synchronize()

    def fwd():
        with torch.inference_mode():
            model(x)
        sync()

    def fwd_bwd():
        xx = x.clone().requires_grad_(False)
        out = model(xx)
        out[0, int(out.argmax())].backward()
        model.zero_grad(set_to_none=True)
        sync()

    # End to end in-process: what osteo-screen does per film (load, screen with CAM, write outputs),
    # with the model already loaded (per-film steady state).
    import shutil

    from osteo_desktop.cli import screen as cli
    from osteo_desktop.core import inference

    batch_dir = tmp / "batch"
    batch_dir.mkdir()
    batch = [shutil.copy(a.film, batch_dir / f"film{i}{a.film.suffix}") for i in range(a.batch)]
    common = ["--device", a.device, "--bundle", str(bundle.path), "-q"]
    args_one = cli.build_parser().parse_args([str(a.film), "--out", str(tmp / "out1"), *common])
    args_batch = cli.build_parser().parse_args([*map(str, batch), "--out", str(tmp / "outN"), *common])
    args_nowrite = cli.build_parser().parse_args([str(a.film), "--json", *common])

    def run_cli(args):
        orig = inference.Screener
        inference.Screener = lambda *k, **kw: screener
        try:
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                cli.screen_paths(args)
        finally:
            inference.Screener = orig

    # Interleaved rounds: each round times every step once, so drift from other load on a shared
    # machine hits all of them alike; medians over rounds.
    steps = {
        "decode": lambda: load_film(a.film),
        "preprocess": lambda: preprocess_film(film, bundle.config.preprocessing),
        "forward": fwd,
        "forward+backward": fwd_bwd,
        "screen+gradcam": lambda: screener.screen(film, gradcam=True),
        "e2e_json_only": lambda: run_cli(args_nowrite),
        "e2e_one_film_out": lambda: run_cli(args_one),
        "e2e_batch_out": lambda: run_cli(args_batch),
    }
    for f in steps.values():
        f()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(a.repeat):
        for k, f in steps.items():
            t = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t) * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n== model on {a.film.name} {film.shape}, median of {a.repeat} interleaved rounds ==")
    print(" | ".join(f"{k} {v:.1f} ms" for k, v in med.items() if not k.startswith("e2e")))
    baseline = med["decode"] + med["forward+backward"]
    per_film_batch = med["e2e_batch_out"] / a.batch
    print("\n== osteo-screen end to end per film, model loaded (steady state) ==")
    print(f"baseline decode + forward/backward: {baseline:.1f} ms")
    print(f"--json, no files:                      {med['e2e_json_only']:.1f} ms  ratio {med['e2e_json_only'] / baseline:.2f}")
    print(f"--out, one film (PNG+JSON written):    {med['e2e_one_film_out']:.1f} ms  ratio {med['e2e_one_film_out'] / baseline:.2f}")
    print(f"--out, batch of {a.batch} films, per film:    {per_film_batch:.1f} ms  ratio {per_film_batch / baseline:.2f} (target <= 1.5)")
    print(f"Grad-CAM pass vs plain forward: ratio {med['screen+gradcam'] / med['forward']:.2f}; "
          f"vs forward+backward: ratio {med['screen+gradcam'] / med['forward+backward']:.2f}")

    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "osteo_desktop.cli.screen", str(a.film), "--device", a.device,
                        "--bundle", str(bundle.path), "--json", "-q"], capture_output=True, text=True, cwd=REPO)
    cold = (time.perf_counter() - t) * 1000
    print(f"cold osteo-screen process on one film (imports + model load + screen): {cold:.0f} ms (exit {r.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
