"""``osteo-train``: train / ablation / audit / export / configs.

    osteo-train train CONFIG [--set train.epochs=10 ...] [--manifest M.csv ...] [--out RUN_DIR] [--device cpu|cuda|auto]
    osteo-train train --resume RUN_DIR
    osteo-train ablation [--out DIR] [--configs paper_cnn ...] [--set ...] [--resume]
    osteo-train audit MANIFEST... [--phash-threshold 20] [--out DIR]
    osteo-train export RUN_DIR [--out BUNDLE_DIR] [--name osteo-effnet] [--version 1.0.0] [--ablation-table ablation_table.md]
    osteo-train configs
    osteo-train probe [--data-root ../shared/data] [--cache runs/embcache] [--out runs/probe-v2] [--bundle-out DIR] [--docs DIR]
    osteo-train embed [--data-root ../shared/data] [--cache runs/embcache]

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
        res = train_run(None, Path(args.resume), device=args.device, allow_leaks=args.allow_leaks, resume=True)
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
    res = train_run(None, run_dir, device=args.device, allow_leaks=args.allow_leaks, resume=True,
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


def _probe_options(args):
    from .probe_run import ProbeOptions

    seeds = tuple(args.seeds) if args.seeds else None
    opt = ProbeOptions(data_root=Path(args.data_root), cache_dir=Path(args.cache),
                       out_dir=Path(getattr(args, "out", None) or "runs/probe-v2"),
                       threads=args.threads, command="osteo-train " + " ".join(sys.argv[1:]))
    if seeds:
        opt.seeds = seeds
    if getattr(args, "only", None):
        from .probe_ablation import default_grid

        grid = {f.name: f for f in default_grid()}
        unknown = [n for n in args.only if n not in grid]
        if unknown:
            raise ConfigError(f"unknown feature set(s) {unknown}; the grid has {list(grid)}")
        opt.grid = [grid[n] for n in args.only]
    return opt


def cmd_probe(args) -> int:
    from .probe_run import run_probe

    opt = _probe_options(args)
    opt.bundle_out = None if args.no_bundle else Path(args.bundle_out)
    opt.docs_out = Path(args.docs) if args.docs else None
    opt.n_boot = args.bootstrap
    opt.version = args.version
    if args.finetune_results:
        opt.finetune_results = Path(args.finetune_results)
    res = run_probe(opt)
    ab = res["ablation"]
    print(f"winner: {ab['winner']} (fold ensemble {ab['fold_ensemble']['used']}); optimism nested {ab['optimism']['optimism_nested']:.3f}, "
          f"Tibshirani {ab['optimism']['optimism_tibshirani']:.3f}")
    for a, sc in res["scores"].items():
        line = ", ".join(f"{k} AUC {sc[k]['auc']:.3f} ({sc[k]['auc_ci95'][0]:.3f}-{sc[k]['auc_ci95'][1]:.3f})"
                         for k in ("clinical", "image", "combined") if k in sc and sc[k].get("auc_ci95"))
        print(f"{a}: {line}")
    acc = res["guard"]["acceptance"]
    print(f"guard: other not screened {acc['other_not_screened']['value']:.3f}, "
          f"knee/spine screened {acc['screenable_screened']['value']:.3f}")
    if res.get("bundle"):
        print(f"bundle: {res['bundle']['path']} (sha256 {res['bundle']['sha256']})")
    print(f"report: {opt.out_dir / 'report.md'}" + (f"; docs: {opt.docs_out}" if opt.docs_out else ""))
    return 0


def cmd_finetune_row(args) -> int:
    from .finetune_row import write_finetune_row

    row = write_finetune_row(Path(args.runs), Path(args.probe))
    m = row["auc_mean_repeats"]
    print(f"fine-tuning row ({len(row['runs'])} split(s) {row['seeds']}): knee {m.get('knee', float('nan')):.3f}, "
          f"spine {m.get('spine', float('nan')):.3f}, criterion {row['criterion']:.3f}; written into {args.probe}, {args.runs}/README.md")
    return 0


def cmd_embed(args) -> int:
    from .embeddings import EmbeddingCache, Job
    from .probe_ablation import default_grid, jobs_for
    from .probe_data import load_screening, read_other

    opt = _probe_options(args)
    ds = load_screening(opt.data_root)
    cache = EmbeddingCache(opt.cache_dir, opt.threads)
    st = cache.compute([s.path for s in ds.samples], jobs_for(opt.grid))
    if args.other:
        other = [p for p, _, _ in read_other(opt.data_root / "other" / "manifest.csv")]
        fs = next((f for f in default_grid() if f.name == args.other), None)
        if fs is None:
            raise ConfigError(f"unknown feature set {args.other!r}")
        st = cache.compute(other, [Job(fs.start, fs.size, fs.view_keys(), fs.architecture)])
    print(f"embedding cache {opt.cache_dir}: {st.computed} film(s) computed, {st.reused} reused, "
          f"{len(st.failed)} unreadable, {st.seconds:.0f} s")
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

    def probe_common(sp):
        sp.add_argument("--data-root", default="../shared/data", help="folder with knee/, spine/ and other/ (each with manifest.csv)")
        sp.add_argument("--cache", default="runs/embcache", help="embedding cache folder (reused between runs)")
        sp.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
        sp.add_argument("--seeds", type=int, nargs="+", help="CV split seeds of the ablation (default 42 7 2024; 42 is primary)")
        sp.add_argument("--only", nargs="+", metavar="FEATURE_SET", help="a subset of the ablation grid (names as in ablation.md)")

    pr = sub.add_parser("probe", help="frozen-feature model: ablation, three scores, guard, bundle format 2 (osteo-effnet 2.0.0)")
    probe_common(pr)
    pr.add_argument("--out", default="runs/probe-v2", help="run folder (results.json, report.md, ablation.md/.csv, OOF predictions)")
    pr.add_argument("--bundle-out", default="runs/bundle-2.0.0", help="where to write the bundle")
    pr.add_argument("--no-bundle", action="store_true", help="evaluate only")
    pr.add_argument("--docs", help="also copy the reports (no images) here, e.g. docs/evaluation/probe_v2")
    pr.add_argument("--bootstrap", type=int, default=2000, help="patient-bootstrap resamples for the CIs")
    pr.add_argument("--version", default="2.0.0")
    pr.add_argument("--finetune-results", default="docs/evaluation/improved_cpu/results.json",
                    help="results.json of the fine-tuned 1.1.0 run, quoted as the fine-tuning row")
    pr.set_defaults(func=cmd_probe)

    em = sub.add_parser("embed", help="fill the embedding cache for the ablation grid only")
    probe_common(em)
    em.add_argument("--other", metavar="FEATURE_SET", help="also the other/ films for this feature set (e.g. L0-512)")
    em.set_defaults(func=cmd_embed)

    fr = sub.add_parser("finetune-row", help="put the GPU fine-tuning runs (scripts/device_v2.sh) into the probe's ablation")
    fr.add_argument("--runs", default="docs/evaluation/finetune_512_gpu", help="one folder per split seed, each with results.json")
    fr.add_argument("--probe", default="docs/evaluation/probe_v2", help="the probe's report folder (results.json, ablation.md)")
    fr.set_defaults(func=cmd_finetune_row)

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
