"""Screen the same films on the CPU and on CUDA and check that the results agree.

    python scripts/check_cuda.py [--bundle DIR] [FILM ...]     (default film: the bundled demo)

Prints per film the largest probability difference, the low-BMD score on each device, whether the
decisions agree and the correlation of the two Grad-CAM maps; exits 0 when every film agrees
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("films", nargs="*", type=Path)
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import numpy as np
    import torch

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
        film = load_film(path)
        pc, pg = cpu.screen(film), gpu.screen(film)
        dp = max(abs(pc.probabilities[k] - pg.probabilities[k]) for k in pc.probabilities)
        corr = float("nan")
        if pc.cam is not None and pg.cam is not None:
            corr = float(np.corrcoef(pc.cam.ravel(), pg.cam.ravel())[0, 1])
        agree = dp <= TOL_P and pc.decision == pg.decision and (np.isnan(corr) or corr >= MIN_CAM_CORR)
        ok &= agree
        row = {"film": str(path), "max_abs_dp": dp, "low_bmd_cpu": pc.low_bmd_score, "low_bmd_cuda": pg.low_bmd_score,
               "decision_cpu": pc.decision, "decision_cuda": pg.decision, "cam_corr": corr,
               "ms_cpu": pc.timings_ms["model"], "ms_cuda": pg.timings_ms["model"], "agree": bool(agree)}
        rows.append(row)
        print(f"{path.name}: max|dp|={dp:.2e} low-BMD cpu {pc.low_bmd_score:.4f} cuda {pg.low_bmd_score:.4f} "
              f"decision {'same' if pc.decision == pg.decision else 'DIFFERENT'} cam corr {corr:.4f} "
              f"model ms cpu {pc.timings_ms['model']:.0f} cuda {pg.timings_ms['model']:.0f} -> {'OK' if agree else 'MISMATCH'}")
    if a.json_out:
        a.json_out.write_text(json.dumps(rows, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
