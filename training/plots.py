"""Plots of a run (matplotlib, Agg backend): ROC, confusion matrix, reliability diagram, training curves."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def write_plots(folder: Path, results: dict, y: np.ndarray, probs: np.ndarray, probs_raw: np.ndarray, score: np.ndarray,
                ages: np.ndarray, anat: np.ndarray, classes: Sequence[str], low_idx: Sequence[int], threshold: float,
                metrics_csv: Path) -> None:
    from sklearn.metrics import confusion_matrix, roc_curve

    from .metrics import sens_spec

    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    y_bin = np.isin(y, list(low_idx)).astype(int)
    cvm = results["cv"]["metrics"]

    # ROC: low BMD, overall and per anatomy, with the age-only baseline where ages are known
    fig, ax = plt.subplots(figsize=(6, 6))
    groups = [("overall", np.ones(len(y), bool))] + [(a, anat == a) for a in sorted(set(anat.tolist()))]
    for name, m in groups:
        if len(set(y_bin[m].tolist())) < 2:
            continue
        fpr, tpr, _ = roc_curve(y_bin[m], score[m])
        ax.plot(fpr, tpr, label=f"model, {name} (AUC {cvm[name]['auc_low_bmd']:.2f})", lw=2 if name == "overall" else 1)
    known = np.isfinite(ages)
    if known.sum() > 1 and len(set(y_bin[known].tolist())) > 1:
        fpr, tpr, _ = roc_curve(y_bin[known], ages[known])
        ab = next((v["age_baseline"] for v in cvm.values() if v.get("age_baseline")), None)
        ax.plot(fpr, tpr, "k--", lw=1, label=f"age only (AUC {ab['auc_age']:.2f})" if ab else "age only")
    sens, spec = sens_spec(y_bin, score, threshold)
    ax.plot([1 - spec], [sens], "ro", label=f"operating point (thr {threshold:.3f})")
    ax.plot([0, 1], [0, 1], color="0.8", lw=0.8)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(f"{results['name']}: low bone density vs normal (out-of-fold)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "roc.png", dpi=110)
    plt.close(fig)

    # confusion matrices
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.8))
    axes = np.atleast_1d(axes)
    for ax, (name, m) in zip(axes, groups, strict=True):
        cm = confusion_matrix(y[m], probs[m].argmax(1), labels=list(range(len(classes))))
        ax.imshow(cm, cmap="Blues")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="black")
        ax.set_xticks(range(len(classes)), [c[:6] for c in classes])
        ax.set_yticks(range(len(classes)), [c[:6] for c in classes])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(folder / "confusion.png", dpi=110)
    plt.close(fig)

    # reliability diagram of the low-BMD score, before / after temperature
    fig, ax = plt.subplots(figsize=(5.5, 5))
    edges = np.linspace(0, 1, 11)
    for name, p, style in (("before temperature", probs_raw, "s--"), (f"after (T={results['cv']['temperature']:.2f})", probs, "o-")):
        sc = p[:, list(low_idx)].sum(1)
        idx = np.clip(np.digitize(sc, edges[1:-1]), 0, 9)
        xs, ys = [], []
        for b in range(10):
            mm = idx == b
            if mm.sum() >= 3:
                xs.append(sc[mm].mean())
                ys.append(y_bin[mm].mean())
        ax.plot(xs, ys, style, label=name)
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8)
    ax.set_xlabel("predicted low-BMD probability")
    ax.set_ylabel("observed low-BMD fraction")
    ax.set_title("reliability (bins with >= 3 films)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "reliability.png", dpi=110)
    plt.close(fig)

    # training curves
    if metrics_csv.is_file():
        rows = list(csv.DictReader(open(metrics_csv, encoding="utf-8")))
        stages = sorted({r["stage"] for r in rows if r["stage"].startswith("fold")})
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for st in stages:
            rr = [r for r in rows if r["stage"] == st]
            ep = [int(r["epoch"]) for r in rr]
            line, = axes[0].plot(ep, [float(r["train_loss"]) for r in rr], label=f"{st} train")
            if rr and rr[0].get("val_loss"):
                axes[0].plot(ep, [float(r["val_loss"]) for r in rr], "--", color=line.get_color(), label=f"{st} inner val")
                axes[1].plot(ep, [float(r["val_auc_low_bmd"]) if r["val_auc_low_bmd"] not in ("", "nan") else np.nan for r in rr],
                             color=line.get_color(), label=st)
            else:
                axes[1].plot(ep, [float(r["train_acc"]) for r in rr], color=line.get_color(), label=f"{st} train acc")
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("loss")
        axes[0].legend(fontsize=7)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("inner-val low-BMD AUC / train accuracy")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / "curves.png", dpi=110)
        plt.close(fig)
