"""Frozen-feature bundle (format 2) benchmark: what the guard and the distance add to one screening pass.

    ./dev.sh run python bench/bench_probe.py --bundle runs/bundle-2.0.0 [--film FILE] [--repeat 5] [--threads 2]

Prints, on the machine it runs on (median of --repeat after a warm-up, same run, so ratios are fair):
decode + render + preprocess of the film; the backbone's pooled features alone; the whole module
(guard + heads + Mahalanobis distance); the whole module with a backward pass to the Grad-CAM layer;
and the ratios: module / features (what the guard and the distance add; issue 9 asks <= 1.15) and
(decode + module forward/backward) / (decode + features forward/backward). Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timeit(fn, repeat: int) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--film", type=Path, default=REPO / "resources" / "demo" / "knee_demo.dcm")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch

    from osteo_desktop.core.bundle import read_bundle
    from osteo_desktop.core.display import render
    from osteo_desktop.core.loading import load_film
    from osteo_desktop.core.model import load_model
    from osteo_desktop.core.preprocessing import preprocess_image

    torch.set_num_threads(a.threads)
    b = read_bundle(a.bundle)
    m = load_model(b)
    if not hasattr(m, "features"):
        print(f"{a.bundle}: not a format-2 (osteo_pooled_linear) bundle")
        return 2
    cfg = b.config.preprocessing
    state: dict = {}

    def decode() -> None:
        state["x"] = torch.from_numpy(preprocess_image(render(load_film(a.film)), cfg)[0][None])

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

    t_f = timeit(fwd_features, a.repeat)
    t_m = timeit(fwd_module, a.repeat)
    t_fb = timeit(bwd_features, a.repeat)
    t_mb = timeit(bwd_module, a.repeat)
    print(f"bundle {b.config.name} {b.config.version} ({b.config.architecture}, input {list(cfg.input_size)}), film {a.film.name}, "
          f"{a.threads} threads")
    print(f"decode + render + preprocess   {t_decode:8.1f} ms")
    print(f"features forward               {t_f:8.1f} ms")
    print(f"module forward (guard+heads+d2) {t_m:7.1f} ms   ratio to features: {t_m / t_f:.3f}")
    print(f"features forward+backward      {t_fb:8.1f} ms")
    print(f"module forward+backward        {t_mb:8.1f} ms   ratio to features: {t_mb / t_fb:.3f}")
    print(f"(decode + module fwd/bwd) / (decode + features fwd/bwd) = {(t_decode + t_mb) / (t_decode + t_fb):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
