"""The fine-tuning row of the 2.0.0 ablation: end-to-end fine-tuned runs set beside the frozen-feature winner.

The frozen-feature ablation (``osteo-train probe``) runs on 2 CPU cores; fine-tuning Lite0 at 512 px
needs a GPU (``scripts/device_v2.sh`` runs it on the probe's three split seeds). This module reads
those runs' ``results.json`` (one folder per split seed), scores them with the probe's own criterion
(mean over anatomies of the out-of-fold low-BMD AUC, averaged over the split seeds) and writes the
row into the probe's results (``ablation.finetuned_512``), its ablation.md/report.md, and a summary
beside the runs:

    osteo-train finetune-row --runs docs/evaluation/finetune_512_gpu --probe docs/evaluation/probe_v2
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .probe_data import ANATOMIES

log = logging.getLogger(__name__)


def read_finetune_runs(runs_dir: Path) -> dict[str, Any] | None:
    """Per split seed: knee/spine out-of-fold low-BMD AUC (95% CI) of each fine-tuned run under runs_dir."""
    per_seed: list[dict[str, Any]] = []
    for res_path in sorted(Path(runs_dir).glob("*/results.json")):
        r = json.loads(res_path.read_text(encoding="utf-8"))
        seed = _seed_of(res_path.parent)
        m = r["cv"]["metrics"]
        per_seed.append({
            "seed": seed, "folder": res_path.parent.name, "seconds_cv": r.get("seconds_cv"),
            "device": (r.get("environment") or {}).get("device"), "recipe": r.get("name"),
            "input_size": (r.get("preprocessing") or {}).get("input_size"),
            **{a: {"auc": m[a]["auc_low_bmd"], "auc_ci95": m[a]["ci95"].get("auc_low_bmd")} for a in ANATOMIES if a in m},
        })
    if not per_seed:
        return None
    per_seed.sort(key=lambda d: (d["seed"] != 42, d["seed"]))
    mean = {a: sum(d[a]["auc"] for d in per_seed) / len(per_seed) for a in ANATOMIES if all(a in d for d in per_seed)}
    return {"source": str(runs_dir), "runs": per_seed, "seeds": [d["seed"] for d in per_seed], "auc_mean_repeats": mean,
            "criterion": sum(mean.values()) / len(mean) if mean else None}


def _seed_of(folder: Path) -> int | None:
    cfg = folder / "config.yaml"
    if cfg.is_file():
        import yaml

        seed = (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("seed")
        return int(seed) if seed is not None else None
    return None


def summary_markdown(row: dict[str, Any], winner: str, winner_row: dict[str, Any]) -> str:
    from .probe_report import ci_str, f2

    L = ["# Fine-tuning row of the 2.0.0 ablation (GPU)", "",
         "Command: `bash scripts/device_v2.sh` on a lent GPU (Lite0 fine-tuned end to end at 512 px with the improved_cpu recipe, "
         "only the input size changed; cross-validation only; the probe ablation's patient-level 5-fold splits, seeds "
         f"{row['seeds']}), then `osteo-train finetune-row --runs {row['source']} --probe docs/evaluation/probe_v2`.", "",
         "| split seed | knee AUC (95% CI) | spine AUC (95% CI) | CV seconds | device |", "|---|---:|---:|---:|---|"]
    for d in row["runs"]:
        L.append(f"| {d['seed']} | {ci_str(d['knee']['auc'], d['knee']['auc_ci95'])} | {ci_str(d['spine']['auc'], d['spine']['auc_ci95'])} "
                 f"| {f2(d.get('seconds_cv'), 0)} | {d.get('device') or ''} |")
    m = row["auc_mean_repeats"]
    L += ["", f"Mean of the splits: knee {f2(m.get('knee'))}, spine {f2(m.get('spine'))}; criterion {f2(row['criterion'], 3)}.",
          f"The frozen-feature winner **{winner}** on the same splits: knee {f2(winner_row['auc_mean_repeats']['knee'])}, "
          f"spine {f2(winner_row['auc_mean_repeats']['spine'])}; criterion {f2(winner_row['criterion'], 3)}.", "",
          "With 273 films the frozen features and a regularised linear head beat end-to-end fine-tuning on this criterion; "
          "the shipped 2.0.0 stays the frozen-feature winner.", "",
          "Folders: one per split seed (`s42`, `s7`, `s2024`: each run's report.md, results.json, OOF predictions, splits, "
          "plots). `gpu_checks.txt` / `check_cuda.json`: CPU vs CUDA agreement of the shipped bundle and its timing on the GPU "
          "(same command).", ""]
    return "\n".join(L)


def write_finetune_row(runs_dir: Path, probe_docs: Path) -> dict[str, Any]:
    """Put the fine-tuning row into probe_docs/results.json and re-render its ablation.md / report.md; summary in runs_dir."""
    from .probe_report import ablation_csv, ablation_markdown, report_markdown

    row = read_finetune_runs(runs_dir)
    if row is None:
        raise FileNotFoundError(f"{runs_dir}: no */results.json of fine-tuned runs (run scripts/device_v2.sh on a GPU first)")
    res_path = Path(probe_docs) / "results.json"
    res = json.loads(res_path.read_text(encoding="utf-8"))
    ab = res["ablation"]
    ab["finetuned_512"] = row
    winner = ab["winner"]
    winner_row = next(r for r in ab["rows"] if r["row"] == winner)
    res_path.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    (Path(probe_docs) / "ablation.md").write_text(ablation_markdown(res), encoding="utf-8")
    (Path(probe_docs) / "ablation.csv").write_text(ablation_csv(res), encoding="utf-8")
    (Path(probe_docs) / "report.md").write_text(report_markdown(res), encoding="utf-8")
    (Path(runs_dir) / "README.md").write_text(summary_markdown(row, winner, winner_row), encoding="utf-8")
    log.info("fine-tuning row: criterion %.3f against the winner's %.3f", row["criterion"], winner_row["criterion"])
    return row
