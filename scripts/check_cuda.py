"""Screen the same films on the CPU and on CUDA and check that the results agree.

    python scripts/check_cuda.py [--bundle DIR] [FILM ...]     (default film: the bundled demo)

Prints per film the largest difference of any probability (classes, scores, the input guard's classes),
whether the decisions and the anatomy agree and the correlation of the two Grad-CAM maps; exits 0 when every film agrees
(max |dp| <= 0.01, same decision, CAM correlation >= 0.95), 1 when one does not, 2 without CUDA.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TOL_P, MIN_CAM_CORR = 0.01, 0.95


def _differences(pc, pg) -> dict[str, float]:
    """|CPU - CUDA| of every probability the two results carry: classes, scores, the guard's classes."""
    out: dict[str, float] = {}
    if pc.probabilities and pg.probabilities:
        out.update({f"p_{k}": abs(pc.probabilities[k] - pg.probabilities[k]) for k in pc.probabilities})
    if pc.scores is not None and pg.scores is not None:
        for k in ("image", "clinical", "combined"):
            a, b = getattr(pc.scores, k), getattr(pg.scores, k)
            if a is not None and b is not None:
                out[f"score_{k}"] = abs(a - b)
    gc, gg = pc.eligibility.guard, pg.eligibility.guard
    if gc is not None and gg is not None:
        out.update({f"guard_{c}": abs(x - y) for c, x, y in zip(gc.classes, gc.probabilities, gg.probabilities, strict=True)})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("films", nargs="*", type=Path)
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import numpy as np
    import torch

    from osteo_desktop.core.errors import OsteoError
    from osteo_desktop.core.inference import Screener
    from osteo_desktop.core.loading import load_film

    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to compare")
        return 2
    films = a.films or [REPO / "resources" / "demo" / "knee_demo.dcm"]
    cpu = Screener(a.bundle, device="cpu")
    gpu = Screener(a.bundle, device="cuda")
    print(f"torch {torch.__version__}, GPU {torch.cuda.get_device_name(0)}, bundle {cpu.bundle.config.name} {cpu.bundle.config.version}")
    ok, rows = True, []
    for path in films:
        try:
            film = load_film(path)
        except OsteoError as e:  # a film this installation cannot read: say so, go on with the others
            print(f"{path.name}: not read ({e})")
            rows.append({"film": str(path), "error": str(e), "agree": False})
            ok = False
            continue
        pc, pg = cpu.screen(film), gpu.screen(film)
        diffs = _differences(pc, pg)
        dp = max(diffs.values(), default=0.0)
        corr = float("nan")
        if pc.cam is not None and pg.cam is not None:
            corr = float(np.corrcoef(pc.cam.ravel(), pg.cam.ravel())[0, 1])
        same = pc.decision == pg.decision and pc.eligibility.anatomy == pg.eligibility.anatomy
        agree = dp <= TOL_P and same and (np.isnan(corr) or corr >= MIN_CAM_CORR)
        ok &= agree
        row = {"film": str(path), "decision": str(pc.decision), "max_abs_diff": dp, "diffs": diffs,
               "low_bmd_cpu": pc.low_bmd_score, "low_bmd_cuda": pg.low_bmd_score,
               "decision_cpu": str(pc.decision), "decision_cuda": str(pg.decision), "cam_corr": corr,
               "ms_cpu": pc.timings_ms.get("model"), "ms_cuda": pg.timings_ms.get("model"), "agree": bool(agree)}
        rows.append(row)
        print(f"{path.name}: {pc.decision} / {pg.decision}; max|diff|={dp:.2e} ({max(diffs, key=diffs.get) if diffs else '-'}) "
              f"cam corr {corr:.4f} model ms cpu {pc.timings_ms.get('model', float('nan')):.0f} "
              f"cuda {pg.timings_ms.get('model', float('nan')):.0f} -> {'OK' if agree else 'MISMATCH'}")
    if a.json_out:
        a.json_out.write_text(json.dumps(rows, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
