"""Frozen-feature bundle (format 2) benchmark: what the guard and the distance add to one screening pass.

    ./dev.sh run python bench/bench_probe.py --bundle model_weights [--film FILE] [--repeat 5] [--threads 2] [--device cpu|cuda]

Prints, on the machine it runs on (median of --repeat after a warm-up, same run, so ratios are fair):
decode + render + preprocess of the film; the backbone's pooled features alone; the whole module
(guard + heads + Mahalanobis distance); the whole module with a backward pass to the Grad-CAM layer;
and the ratios: module / features (what the guard and the distance add; issue 9 asks <= 1.15) and
(decode + module forward/backward) / (decode + features forward/backward); and the whole screening of the film
(Screener.screen after load_film: picture check, guard, distance, scores, Grad-CAM) against decode plus one
forward/backward of the plain backbone at the bundle's input size (issue 10 asks <= 1.5). Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timeit(fn, repeat: int, sync=lambda: None) -> float:
    fn()
    sync()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--film", type=Path, default=REPO / "resources" / "demo" / "knee_demo.dcm")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    a = ap.parse_args()
    import torch

    from osteo_desktop.core.bundle import read_bundle
    from osteo_desktop.core.display import render
    from osteo_desktop.core.inference import Screener
    from osteo_desktop.core.loading import load_film
    from osteo_desktop.core.model import load_model
    from osteo_desktop.core.preprocessing import preprocess_image

    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    b = read_bundle(a.bundle)
    m = load_model(b).to(dev)
    if not hasattr(m, "features"):
        print(f"{a.bundle}: not a format-2 (osteo_pooled_linear) bundle")
        return 2
    cfg = b.config.preprocessing
    state: dict = {}

    def decode() -> None:
        state["x"] = torch.from_numpy(preprocess_image(render(load_film(a.film)), cfg)[0][None]).to(dev)

    t_decode = timeit(decode, a.repeat)
    x = state["x"]
    cam_layer = m.get_submodule(b.config.gradcam_layer or "backbone.bn2")
    acts: list = []
    cam_layer.register_forward_hook(lambda mod, i, o: acts.append(o))

    def fwd_features() -> None:
        with torch.inference_mode():
            m.features(x)

    def fwd_module() -> None:
        with torch.inference_mode():
            m(x)

    def bwd_features() -> None:
        acts.clear()
        f = m.features(x)
        f[0].sum().backward()

    def bwd_module() -> None:
        acts.clear()
        out = m(x)
        out[0, len(m.guard_classes)].backward()

    def bwd_plain() -> None:  # one pass of the plain backbone over the whole input, to its Grad-CAM layer
        m.backbone.forward_features(x).sum().backward()

    t_f = timeit(fwd_features, a.repeat, sync)
    t_m = timeit(fwd_module, a.repeat, sync)
    t_fb = timeit(bwd_features, a.repeat, sync)
    t_mb = timeit(bwd_module, a.repeat, sync)
    t_pb = timeit(bwd_plain, a.repeat, sync)
    screener = Screener(b, device=a.device)
    t_s = timeit(lambda: screener.screen(load_film(a.film)), a.repeat, sync)
    print(f"bundle {b.config.name} {b.config.version} ({b.config.architecture}, input {list(cfg.input_size)}), film {a.film.name}, "
          f"{a.threads} threads, device {dev}")
    print(f"decode + render + preprocess   {t_decode:8.1f} ms")
    print(f"features forward               {t_f:8.1f} ms")
    print(f"module forward (guard+heads+d2) {t_m:7.1f} ms   ratio to features: {t_m / t_f:.3f}")
    print(f"features forward+backward      {t_fb:8.1f} ms")
    print(f"module forward+backward        {t_mb:8.1f} ms   ratio to features: {t_mb / t_fb:.3f}")
    print(f"(decode + module fwd/bwd) / (decode + features fwd/bwd) = {(t_decode + t_mb) / (t_decode + t_fb):.3f}")
    print(f"plain backbone fwd+bwd at the input size {t_pb:8.1f} ms")
    print(f"whole screening (load + Screener.screen) {t_s:8.1f} ms   "
          f"ratio to decode + plain fwd/bwd: {t_s / (t_decode + t_pb):.3f}  (issue 10: <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
