"""The one GPU job: the paper's ablation, improved candidates, and the shipped bundle, in ~8 minutes.

Run from the repository root (no install needed; needs torch, timm, scikit-learn, matplotlib, pyyaml,
opencv-headless, safetensors, tqdm; NOT pydicom):

    OUT=/some/dir bash training/gpu_job.sh                  # on the GPU machine
    python3 -m training.gpu_job --smoke --out /tmp/smoke     # CPU smoke test of the same path

Stages (each guarded by the time budget; the shipped bundle always gets its reserve):

a. the paper's four configurations, 5-fold patient-level CV, 5 epochs at 512 px (ablation table);
b. improved candidates (training/configs/improved.yaml, then improved_hires.yaml if time allows), CV only;
c. choose the recipe with the best out-of-fold low-BMD ROC-AUC among the transfer-learning runs,
   retrain it on all development data and export the bundle "osteo-effnet" 1.0.0.

Outputs in $OUT (at most 8 files come back): summary.md, job.log, reports.tar.gz (every run's
report, results.json, plots, OOF predictions, logs, the ablation table, the bundle's config and
card), osteo-effnet-bundle.tar.gz (the bundle folder; split into .partNN files if over 15 MB).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tarfile
import time
from pathlib import Path

log = logging.getLogger("training.gpu_job")

PAPER = ("paper_cnn", "paper_cnn_aug", "paper_effnet", "paper_effnet_aug")
CANDIDATES = ("improved", "improved_hires")
MAX_FILE = 15 * 1024 * 1024
REPORT_FILES = ("config.yaml", "train.log", "audit.md", "audit.json", "splits.csv", "metrics.csv", "oof_predictions.csv",
                "results.json", "report.md")


def _setup_logging(out: Path) -> None:
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for h in (logging.StreamHandler(sys.stderr), logging.FileHandler(out / "job.log", encoding="utf-8")):
        h.setFormatter(fmt)
        root.addHandler(h)
    for noisy in ("PIL", "matplotlib", "urllib3", "httpx", "huggingface_hub", "timm"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _tar_reports(work: Path, out: Path) -> None:
    tmp = out / "reports.tar.gz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        for p in sorted(work.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(work)
            keep = (p.name in REPORT_FILES or "plots" in rel.parts or p.name.startswith("ablation")
                    or p.name in ("summary.md", "summary.json")
                    or (rel.parts and "bundle" in rel.parts and p.name in ("config.json", "MODEL_CARD.md")))
            if keep:
                tar.add(p, arcname=str(Path("reports") / rel))
    os.replace(tmp, out / "reports.tar.gz")


def _tar_bundle(bundle_dir: Path, out: Path, name: str) -> list[str]:
    path = out / f"{name}-bundle.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(bundle_dir, arcname=name)
    if path.stat().st_size <= MAX_FILE:
        return [path.name]
    parts = []
    data = path.read_bytes()
    for i in range(0, len(data), MAX_FILE):
        part = out / f"{path.name}.part{i // MAX_FILE:02d}"
        part.write_bytes(data[i:i + MAX_FILE])
        parts.append(part.name)
    path.unlink()
    log.info("bundle archive split into %s (join with: cat %s.part* > %s)", parts, path.name, path.name)
    return parts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gpu_job")
    ap.add_argument("--out", default=os.environ.get("OUT", "out/gpu_job"))
    ap.add_argument("--data-root", default="./.device/data")
    ap.add_argument("--lite0", default="./.device/efficientnet-lite0.pth")
    ap.add_argument("--work", default=None, help="folder for the run folders (default: $OUT/../gpu_job_work or runs/gpu_job)")
    ap.add_argument("--budget-s", type=float, default=480.0, help="wall-clock budget for everything (default 8 min)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--smoke", action="store_true", help="CPU smoke: 2 folds, 1 epoch, 64 px, few images")
    ap.add_argument("--skip-hires", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _setup_logging(out)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no internet on the GPU box: never wait for hub retries
    os.environ.setdefault("OSTEO_OFFLINE", "1")
    if Path(args.lite0).is_file():
        os.environ["OSTEO_LITE0_PTH"] = str(Path(args.lite0).resolve())
    else:
        log.warning("%s not found; the Lite0 weights must come from the efficientnet-lite0 package", args.lite0)

    import torch

    from .ablation import write_ablation
    from .config import load_config
    from .data import ImageStore
    from .run import train_run

    work = Path(args.work) if args.work else Path("runs") / ("gpu_job_smoke" if args.smoke else "gpu_job")
    work.mkdir(parents=True, exist_ok=True)
    root = Path(args.data_root)
    manifests = [str((root / a / "manifest.csv").resolve()) for a in ("knee", "spine") if (root / a / "manifest.csv").is_file()]
    if not manifests:
        log.error("no manifests under %s/{knee,spine}/manifest.csv", root)
        return 1
    cuda = torch.cuda.is_available() and args.device != "cpu"
    log.info("gpu_job: torch %s, device %s%s, data %s, budget %.0f s", torch.__version__, "cuda" if cuda else "cpu",
             f" ({torch.cuda.get_device_name(0)})" if cuda else "", manifests, args.budget_s)
    common = ["data.manifests=[" + ",".join(manifests) + "]", f"data.decode_workers={min(16, os.cpu_count() or 2)}"]
    if args.smoke:
        common += ["cv.folds=2", "train.epochs=1", "preprocessing.input_size=[64,64]", "data.limit_per_class=3",
                   "cv.bootstrap=100", "train.batch_size=8", "train.early_stopping_patience=0"]
    store = ImageStore(None, min(16, os.cpu_count() or 2))
    summary: dict = {"stages": [], "device": "cuda" if cuda else "cpu", "smoke": args.smoke}

    def left() -> float:
        return args.budget_s - (time.time() - t0)

    def run(name: str, extra: list[str] = ()) -> dict | None:
        cfg = load_config(name, common + list(extra) + ["final.fit=false"])
        if args.smoke and name.startswith("improved"):
            cfg["train"]["epochs"] = 2
        ts = time.time()
        try:
            res = train_run(cfg, work / name, device=args.device, store=store, resume=(work / name / "config.yaml").is_file())
        except Exception:
            log.exception("run %s failed", name)
            summary["stages"].append({"run": name, "failed": True})
            return None
        summary["stages"].append({"run": name, "seconds": round(time.time() - ts, 1),
                                  "auc": res["cv"]["metrics"]["overall"]["auc_low_bmd"]})
        _tar_reports(work, out)
        return res

    # a. the paper's ablation
    results: dict[str, dict] = {}
    reserve_final = 45.0  # final fit + export of a paper-sized recipe, measured on an H200: well under this
    for name in PAPER:
        done_s = [st["seconds"] for st in summary["stages"] if "seconds" in st]
        est = 1.5 * max(done_s) if done_s else 40.0
        if left() < est + reserve_final:
            log.warning("skipping %s: estimated %.0f s, %.0f s left", name, est, left())
            results[name] = {"name": name, "skipped": True}
            continue
        r = run(name)
        results[name] = r if r else {"name": name, "skipped": True}
    write_ablation(work, [results[n] for n in PAPER])
    _tar_reports(work, out)

    # b. improved candidates; costs from the paper's augmented transfer run (median epoch + fixed overhead)
    ref = results.get("paper_effnet_aug") if (results.get("paper_effnet_aug") or {}).get("cv") else results.get("paper_effnet")
    med, overhead = 1.0, 40.0
    if ref and ref.get("cv"):
        med = float(ref["cv"].get("median_epoch_seconds") or med)
        epoch_total = sum(h["seconds"] for f in ref["cv"]["fold_details"] for h in f.get("history", []))
        overhead = max(10.0, float(ref.get("seconds_total") or 0) - epoch_total)
    summary["reference_costs"] = {"run": ref.get("name") if ref else None, "median_fold_epoch_s": med, "run_overhead_s": overhead}
    costs = {"improved": 1.2, "improved_hires": 2.6}
    for name in CANDIDATES:
        if name == "improved_hires" and args.skip_hires:
            continue
        cap = int(load_config(name, common)["train"]["epochs"]) if not args.smoke else 2
        est_cv = overhead + 5 * cap * 0.8 * med * costs[name]
        est_final = 25 + cap * 0.7 * med * costs[name] * 1.6
        if left() < est_cv + est_final + 30:
            log.warning("skipping %s: estimated CV %.0f s + final %.0f s, %.0f s left", name, est_cv, est_final, left())
            continue
        log.info("running %s: estimated CV %.0f s + final %.0f s, %.0f s left", name, est_cv, est_final, left())
        r = run(name)
        if r:
            results[name] = r

    # c. choose and ship
    pool = {n: r for n, r in results.items() if r and r.get("cv") and r["model"]["pretrained_source"] != "none"}
    if not pool:
        pool = {n: r for n, r in results.items() if r and r.get("cv")}
    if not pool:
        log.error("no completed run to ship")
        return 1
    chosen = max(pool, key=lambda n: pool[n]["cv"]["metrics"]["overall"]["auc_low_bmd"])
    log.info("chosen recipe: %s (out-of-fold low-BMD AUC %.3f; candidates %s)",
             chosen, pool[chosen]["cv"]["metrics"]["overall"]["auc_low_bmd"],
             {n: round(r["cv"]["metrics"]["overall"]["auc_low_bmd"], 3) for n, r in pool.items()})
    ch = pool[chosen]
    rec = ch["recipe"]
    if rec["select"] == "best":
        want = max(1, int(round(float(__import__("statistics").median(ch["cv"]["best_epochs"])))))
    else:
        want = int(rec["epochs"])
    fe_rate = float(ch["cv"].get("median_epoch_seconds") or 1.0)
    affordable = int((left() - 45) / max(1e-3, fe_rate * 1.6))
    final_over: dict = {"fit": True}
    if affordable < want:
        log.warning("final fit: %d epochs wanted but only ~%d fit in the time left; training %d", want, affordable, max(1, affordable))
        final_over["epochs"] = max(1, affordable)
        summary["final_epochs_cut"] = {"wanted": want, "trained": max(1, affordable)}
    final = train_run(None, work / chosen, device=args.device, store=store, resume=True,
                      export_overrides={"final": final_over,
                                        "export": {"name": "osteo-effnet", "version": "1.0.0",
                                                   "ablation_table": str((work / "ablation_table.md").resolve())}})
    bundle_dir = Path(final["bundle"]["path"])
    archives = _tar_bundle(bundle_dir, out, "osteo-effnet")
    summary.update({
        "chosen": chosen,
        "selection_rule": "highest out-of-fold low-BMD ROC-AUC among the transfer-learning runs (optimistic: selected on the same CV)",
        "bundle": final["bundle"],
        "bundle_archives": archives,
        "seconds_total": round(time.time() - t0, 1),
    })
    lines = ["# GPU job summary", "", f"Device: {final['environment'].get('gpu') or final['environment']['device']}; "
             f"total {summary['seconds_total']:.0f} s (budget {args.budget_s:.0f} s){' - SMOKE RUN' if args.smoke else ''}.", "",
             (work / "ablation_table.md").read_text(encoding="utf-8"), "",
             "## Candidates", "", "| run | seconds | out-of-fold low-BMD AUC |", "|---|---|---|"]
    for st in summary["stages"]:
        lines.append(f"| {st['run']} | {st.get('seconds', 'failed')} | {st.get('auc', float('nan')):.3f} |")
    lines += ["", f"Shipped: **{chosen}** retrained on all data for {final['final']['epochs']} epochs -> bundle osteo-effnet 1.0.0 "
              f"(`{final['bundle']['architecture']}`, sha256 {final['bundle']['sha256'][:16]}, "
              f"threshold {final['bundle']['threshold']:.4f}, temperature {final['bundle']['temperature']:.3f}); archives {archives}.",
              f"Selection rule: {summary['selection_rule']}.", ""]
    (work / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _tar_reports(work, out)
    log.info("done in %.0f s; outputs in %s: %s", time.time() - t0, out, sorted(p.name for p in out.iterdir()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
