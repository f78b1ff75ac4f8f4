"""``osteo-train``: train / ablation / audit / export / configs.

    osteo-train train CONFIG [--set train.epochs=10 ...] [--manifest M.csv ...] [--out RUN_DIR] [--device cpu|cuda|auto]
    osteo-train train --resume RUN_DIR
    osteo-train ablation [--out DIR] [--configs paper_cnn ...] [--set ...] [--resume]
    osteo-train audit MANIFEST... [--phash-threshold 20] [--out DIR]
    osteo-train export RUN_DIR [--out BUNDLE_DIR] [--name osteo-effnet] [--version 1.0.0] [--ablation-table ablation_table.md]
    osteo-train configs

CONFIG is a YAML path or the name of one in training/configs (paper_cnn, paper_cnn_aug,
paper_effnet, paper_effnet_aug, improved, improved_hires). Exit codes: 0 ok, 1 leakage / data
error, 2 usage / config error.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

from osteo_desktop.core.errors import OsteoError

from .errors import ConfigError, LeakageError, ManifestError

log = logging.getLogger("training")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("PIL", "matplotlib", "urllib3", "httpx", "huggingface_hub", "timm"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _data_overrides(args) -> list[str]:
    sets = list(args.set or [])
    if getattr(args, "manifest", None):
        sets.append("data.manifests=[" + ",".join(str(Path(m).resolve()) for m in args.manifest) + "]")
    return sets


def _default_out(name: str) -> Path:
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def cmd_train(args) -> int:
    from .config import load_config
    from .run import train_run

    if args.resume:
        res = train_run(None, Path(args.resume), device=args.device, allow_leaks=args.allow_leaks, resume=True)  # type: ignore[arg-type]
    else:
        if not args.config:
            raise ConfigError("train needs a CONFIG (or --resume RUN_DIR)")
        cfg = load_config(args.config, _data_overrides(args))
        out = Path(args.out) if args.out else _default_out(cfg["name"])
        res = train_run(cfg, out, device=args.device, allow_leaks=args.allow_leaks)
    _print_summary(res)
    return 0


def _print_summary(res: dict) -> None:
    cv = res.get("cv")
    print(f"run folder: {res['run_dir']}")
    if cv:
        m = cv["metrics"]["overall"]
        ci = m["ci95"].get("auc_low_bmd")
        print(f"out-of-fold: accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, low-BMD AUC {m['auc_low_bmd']:.3f}"
              + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else ""))
        op = cv["operating_point"]
        print(f"operating point: threshold {op['threshold']:.4f} -> sensitivity {op['sensitivity']:.3f}, "
              f"specificity {op['specificity']:.3f}; temperature {cv['temperature']:.3f}")
    if res.get("bundle"):
        print(f"bundle: {res['bundle']['path']} (sha256 {res['bundle']['sha256'][:12]})")
    print(f"report: {Path(res['run_dir']) / 'report.md'}")


def cmd_ablation(args) -> int:
    from .ablation import PAPER_CONFIGS, run_ablation

    out = Path(args.out) if args.out else _default_out("ablation")
    res = run_ablation(out, args.configs or PAPER_CONFIGS, _data_overrides(args), device=args.device,
                       allow_leaks=args.allow_leaks, resume=args.resume)
    print(res["table"])
    print(f"written: {out / 'ablation.md'}, {out / 'ablation.csv'}")
    return 0


def cmd_audit(args) -> int:
    from .audit import audit
    from .config import load_config
    from .data import ImageStore, load_dataset

    manifests = ",".join(str(Path(m).resolve()) for m in args.manifests)
    sets = [f"audit.phash_threshold={args.phash_threshold}", f"data.manifests=[{manifests}]"]
    cfg = load_config(None, sets)
    ds = load_dataset(cfg["data"])
    rep = audit(ds, ImageStore(None, cfg["data"]["decode_workers"]), args.phash_threshold, not args.no_flips)
    print(rep.to_markdown())
    if args.out:
        rep.write(Path(args.out))
        print(f"written: {Path(args.out) / 'audit.md'}, audit.json")
    return 0 if rep.ok else 1


def cmd_export(args) -> int:
    from .run import train_run

    run_dir = Path(args.run_dir)
    table = str(Path(args.ablation_table).resolve()) if args.ablation_table else None
    res = train_run(None, run_dir, device=args.device, allow_leaks=args.allow_leaks, resume=True,  # type: ignore[arg-type]
                    export_overrides={"final": {"fit": True},
                                      "export": {"name": args.name, "version": args.version, "ablation_table": table}})
    if args.out:
        dst = Path(args.out)
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(Path(res["bundle"]["path"]), dst)
        print(f"bundle copied to {dst}")
    _print_summary(res)
    return 0


def cmd_configs(_args) -> int:
    from .config import CONFIG_DIR, list_configs

    for name in list_configs():
        first = next((ln for ln in (CONFIG_DIR / f"{name}.yaml").read_text().splitlines() if ln.startswith("description:")), "")
        print(f"{name:20s} {first.replace('description:', '').strip().strip(chr(34))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="osteo-train", description="Train and evaluate osteo-desktop's bone-density screening model.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, data=True):
        sp.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
        sp.add_argument("--allow-leaks", action="store_true", help="run even if the leakage audit finds leaks (results will be optimistic)")
        if data:
            sp.add_argument("--set", action="append", metavar="KEY=VALUE",
                            help="override a config value, e.g. train.epochs=10 (repeatable)")
            sp.add_argument("--manifest", action="append", metavar="CSV", help="use these manifests instead of the config's (repeatable)")

    t = sub.add_parser("train", help="cross-validate a recipe, train the final model, export the bundle")
    t.add_argument("config", nargs="?", help="YAML path or a name in training/configs")
    t.add_argument("--out", help="run folder (default runs/NAME-TIMESTAMP)")
    t.add_argument("--resume", metavar="RUN_DIR", help="resume an interrupted run (uses its saved config)")
    common(t)
    t.set_defaults(func=cmd_train)

    a = sub.add_parser("ablation", help="the paper's four configurations with patient-level CV, and the table")
    a.add_argument("--out", help="folder for the runs and ablation.md/.csv")
    a.add_argument("--configs", nargs="+", help="configs to run (default: the paper's four)")
    a.add_argument("--resume", action="store_true", help="resume runs already started in --out")
    common(a)
    a.set_defaults(func=cmd_ablation)

    au = sub.add_parser("audit", help="leakage audit only (exit 1 when it finds a leak)")
    au.add_argument("manifests", nargs="+")
    au.add_argument("--phash-threshold", type=int, default=20, help="near-duplicate Hamming distance (of 256 bits)")
    au.add_argument("--no-flips", action="store_true", help="do not compare against mirrored images")
    au.add_argument("--out", help="write audit.md and audit.json here")
    au.set_defaults(func=cmd_audit)

    e = sub.add_parser("export", help="train the final model of a run if needed and write its bundle")
    e.add_argument("run_dir")
    e.add_argument("--out", help="copy the bundle folder here")
    e.add_argument("--name")
    e.add_argument("--version")
    e.add_argument("--ablation-table", help="ablation_table.md to include in the model card")
    common(e, data=False)
    e.set_defaults(func=cmd_export)

    c = sub.add_parser("configs", help="list the bundled configs")
    c.set_defaults(func=cmd_configs)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        log.error("%s", e)
        return 2
    except (LeakageError, ManifestError) as e:
        log.error("%s", e)
        return 1
    except OsteoError as e:
        log.error("%s", e)
        return 1
    except KeyboardInterrupt:
        log.error("interrupted; resume with --resume RUN_DIR")
        return 130


if __name__ == "__main__":
    sys.exit(main())
