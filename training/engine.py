"""Training / prediction loops (CPU, or CUDA with bf16 autocast), augmentation and checkpoints.

Augmentation acts on the displayed [0, 1] image (rotation, mirror, brightness, optional crop and
contrast) and is followed by THE preprocessing, `preprocess_image`. Per-sample randomness is drawn
from (seed, stage, epoch, index), so a run gives the same batches with any number of batch threads
and after a resume.

Checkpoints (resumable): ``last.safetensors`` (weights), ``last_optim.pt`` (optimizer state: plain
tensors and numbers, read back with ``torch.load(weights_only=True)``), ``last.json`` (epoch,
history, best epoch), and ``best.safetensors`` when selecting the best inner-validation epoch.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Sampler

from osteo_desktop.core.atomic import atomic_write_bytes, atomic_write_text
from osteo_desktop.core.preprocessing import PreprocessConfig, preprocess_image

from .errors import Interrupted
from .metrics import fast_auc, softmax

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# augmentation
# --------------------------------------------------------------------------------------------


def augment_image(img: np.ndarray, acfg: dict, rng: np.random.Generator) -> np.ndarray:
    """Random augmentation of a displayed [0, 1] grey image (returns a new float32 array)."""
    out = np.asarray(img, dtype=np.float32)
    h, w = out.shape
    crop = acfg.get("crop_scale")
    if crop:
        area = rng.uniform(float(crop[0]), float(crop[1]))
        s = math.sqrt(area)
        ch, cw = max(1, int(round(h * s))), max(1, int(round(w * s)))
        top = int(rng.integers(0, h - ch + 1))
        left = int(rng.integers(0, w - cw + 1))
        out = out[top:top + ch, left:left + cw]
        h, w = out.shape
    if acfg.get("hflip") and rng.random() < 0.5:
        out = out[:, ::-1]
    rot = float(acfg.get("rotation_deg") or 0.0)
    if rot > 0:
        angle = float(rng.uniform(-rot, rot))
        m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
        out = cv2.warpAffine(np.ascontiguousarray(out), m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    b = float(acfg.get("brightness") or 0.0)
    if b > 0:
        out = out * float(rng.uniform(1 - b, 1 + b))
    c = float(acfg.get("contrast") or 0.0)
    if c > 0:
        mean = float(out.mean())
        out = (out - mean) * float(rng.uniform(1 - c, 1 + c)) + mean
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


class AugmentedImages(torch.utils.data.Dataset):
    """Yields (preprocess_image(augment(image)), label, t_score) for keys (index, epoch_key)."""

    def __init__(self, images: Sequence[np.ndarray], labels: np.ndarray, tscores: np.ndarray, pcfg: PreprocessConfig,
                 acfg: dict, seed: int):
        self.images = list(images)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.tscores = np.asarray(tscores, dtype=np.float32)
        self.pcfg = pcfg
        self.acfg = acfg
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]):
        i, epoch_key = key
        rng = np.random.default_rng([self.seed, int(epoch_key), int(i)])
        img = augment_image(self.images[i], self.acfg, rng) if self.acfg.get("enabled", True) else self.images[i]
        x, _ = preprocess_image(img, self.pcfg)
        return torch.from_numpy(x), int(self.labels[i]), float(self.tscores[i])


class EpochSampler(Sampler):
    """Deterministic per-epoch order (or class-balanced draw with replacement); yields (index, epoch_key)."""

    def __init__(self, labels: np.ndarray, seed: int, balanced: bool = False):
        self.labels = np.asarray(labels)
        self.seed = int(seed)
        self.balanced = balanced
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.labels)
        if self.balanced:
            counts = np.bincount(self.labels)
            w = 1.0 / counts[self.labels]
            return rng.choice(n, size=n, replace=True, p=w / w.sum())
        return rng.permutation(n)

    def __iter__(self):
        key = self.seed * 100_003 + self.epoch
        return iter([(int(i), key) for i in self.order()])

    def __len__(self) -> int:
        return len(self.labels)


class ThreadedBatches:
    """Augmented batches made by a pool of threads in this process (cv2 and numpy release the GIL).

    No worker processes: forking a process that holds CUDA, OpenMP and OpenCV thread pools can
    deadlock (it did on the GPU box with DataLoader workers). Batches come out in sampler order and
    every sample's randomness is keyed by (seed, epoch, index), so results do not depend on the
    number of threads.
    """

    def __init__(self, ds: AugmentedImages, sampler: EpochSampler, batch_size: int, workers: int, prefetch: int | None = None):
        self.ds = ds
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.workers = int(workers)
        self.prefetch = prefetch or max(2, self.workers)

    def _make(self, keys: list[tuple[int, int]]):
        items = [self.ds[k] for k in keys]
        return (torch.stack([it[0] for it in items]), torch.tensor([it[1] for it in items], dtype=torch.int64),
                torch.tensor([it[2] for it in items], dtype=torch.float32))

    def __iter__(self):
        keys = list(iter(self.sampler))
        batches = [keys[i:i + self.batch_size] for i in range(0, len(keys), self.batch_size)]
        if self.workers <= 0:
            for b in batches:
                yield self._make(b)
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.workers, thread_name_prefix="augment") as ex:
            pending: deque = deque()
            it = iter(batches)
            for b in it:
                pending.append(ex.submit(self._make, b))
                if len(pending) >= self.prefetch:
                    break
            while pending:
                out = pending.popleft().result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(ex.submit(self._make, nxt))
                yield out


# --------------------------------------------------------------------------------------------
# model wrapper (optional T-score head)
# --------------------------------------------------------------------------------------------


class Net(nn.Module):
    """timm backbone (+ optional auxiliary T-score regression head on the pre-logit features).

    Only ``backbone``'s weights are exported: the bundle is a plain timm model the core can run.
    """

    def __init__(self, backbone: nn.Module, aux_tscore: bool = False):
        super().__init__()
        self.backbone = backbone
        self.aux_head: nn.Module | None = None
        if aux_tscore:
            clf = backbone.get_classifier()  # type: ignore[operator]  # timm API: nn.Module attrs type as Tensor|Module
            if not isinstance(clf, nn.Linear):
                raise ValueError("train.aux_tscore_weight needs a model whose classifier is a Linear layer")
            self.aux_head = nn.Linear(clf.in_features, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.aux_head is None:
            return self.backbone(x), None
        b = self.backbone
        pooled = b.forward_head(b.forward_features(x), pre_logits=True)  # type: ignore[operator]  # timm API, as above
        return b.get_classifier()(pooled), self.aux_head(pooled).squeeze(1)  # type: ignore[operator]  # timm API, as above


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------


def save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, save({k: v.detach().to("cpu").contiguous() for k, v in state.items()}))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path), device="cpu")


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


# --------------------------------------------------------------------------------------------
# trainer
# --------------------------------------------------------------------------------------------


@dataclass
class FitResult:
    epochs_run: int
    best_epoch: int  # 1-based epoch whose weights are kept
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


class Trainer:
    """Trains and evaluates models on one ImageStore-backed data set (images cached in memory)."""

    def __init__(self, cfg: dict, images: Sequence[np.ndarray], labels: np.ndarray, tscores: np.ndarray,
                 low_idx: Sequence[int], pcfg: PreprocessConfig, device: torch.device,
                 build_model: Callable[[], nn.Module], metrics_sink: Callable[[dict], None] | None = None):
        self.cfg = cfg
        self.tcfg = cfg["train"]
        self.acfg = cfg["augment"]
        self.images = list(images)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.tscores = np.asarray(tscores, dtype=np.float32)
        self.low_idx = list(low_idx)
        self.pcfg = pcfg
        self.device = device
        self.build_model = build_model
        self.metrics_sink = metrics_sink
        self.n_classes = len(cfg["data"]["classes"])
        cuda = device.type == "cuda"
        self.amp = cuda and str(self.tcfg.get("amp", "auto")) != "off"
        cl = self.tcfg.get("channels_last", "auto")
        self.channels_last = cuda if cl == "auto" else bool(cl)
        nw = self.tcfg.get("num_workers", "auto")
        self.num_workers = (min(14, max(0, (os.cpu_count() or 2) - 2)) if cuda else 0) if nw == "auto" else int(nw)
        if self.num_workers > 0:
            cv2.setNumThreads(1)  # parallelism comes from the batch threads
        self._eval_x: torch.Tensor | None = None
        # When every channel gets the same mean/std, preprocess_image's channels are identical copies:
        # make one (the same function with in_chans=1) and expand to the model's channels on the device.
        self.single_channel = pcfg.in_chans > 1 and len(set(pcfg.mean[:pcfg.in_chans])) == 1 and len(set(pcfg.std[:pcfg.in_chans])) == 1
        self.pcfg_data = replace(pcfg, in_chans=1, mean=(pcfg.mean[0],), std=(pcfg.std[0],)) if self.single_channel else pcfg
        self.stop_after_epochs: int | None = None  # test hook: raise Interrupted after this many epochs
        self._epochs_done_this_process = 0

    # -- data -------------------------------------------------------------------------------

    def eval_tensor(self) -> torch.Tensor:
        """All images preprocessed without augmentation, (N, C, H, W) float32, on the device when it fits."""
        if self._eval_x is None:
            x = torch.from_numpy(np.stack([preprocess_image(img, self.pcfg_data)[0] for img in self.images]))
            if self.device.type == "cuda":
                x = x.to(self.device)
            self._eval_x = x
        return self._eval_x

    def _batches(self, idx: np.ndarray, sampler: EpochSampler, loader: ThreadedBatches | None):
        bs = int(self.tcfg["batch_size"])
        if loader is not None:
            yield from loader
            return
        order = idx[sampler.order()]
        x_all = self.eval_tensor()
        for s in range(0, len(order), bs):
            b = order[s:s + bs]
            bt = torch.from_numpy(b)
            yield x_all[bt.to(x_all.device)], torch.from_numpy(self.labels[b]), torch.from_numpy(self.tscores[b])

    def _loader(self, idx: np.ndarray, sampler: EpochSampler, seed: int) -> ThreadedBatches | None:
        if not self.acfg.get("enabled", True):
            return None  # no augmentation: batches straight from the preprocessed tensor
        ds = AugmentedImages([self.images[i] for i in idx], self.labels[idx], self.tscores[idx], self.pcfg_data, self.acfg, seed)
        return ThreadedBatches(ds, sampler, int(self.tcfg["batch_size"]), self.num_workers)

    def to_model_input(self, x: torch.Tensor) -> torch.Tensor:
        """Batch from the data path -> device, the model's channels, memory format."""
        x = x.to(self.device, non_blocking=True)
        if self.single_channel:
            x = x.expand(-1, self.pcfg.in_chans, -1, -1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        elif self.single_channel:
            x = x.contiguous()
        return x

    # -- schedule / loss -----------------------------------------------------------------------

    def lr_at(self, step: int, total_steps: int, steps_per_epoch: int) -> float:
        base = float(self.tcfg["lr"])
        warm = int(self.tcfg.get("warmup_epochs") or 0) * steps_per_epoch
        if warm and step < warm:
            return base * (step + 1) / warm
        if self.tcfg["scheduler"] == "cosine":
            t = (step - warm) / max(1, total_steps - warm)
            return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        return base

    def _class_weights(self, idx: np.ndarray) -> torch.Tensor | None:
        if self.tcfg["class_weights"] != "balanced":
            return None
        counts = np.bincount(self.labels[idx], minlength=self.n_classes).astype(np.float64)
        w = np.where(counts > 0, len(idx) / (self.n_classes * np.maximum(counts, 1)), 0.0)
        return torch.tensor(w, dtype=torch.float32, device=self.device)

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        lr, wd = float(self.tcfg["lr"]), float(self.tcfg["weight_decay"])
        name = self.tcfg["optimizer"]
        if name == "adam":
            return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
        if name == "adamw":
            return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
        return torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd, momentum=0.9, nesterov=True)

    # -- fit -----------------------------------------------------------------------------------

    def new_net(self) -> Net:
        net = Net(self.build_model(), aux_tscore=float(self.tcfg.get("aux_tscore_weight") or 0) > 0)
        net.to(self.device)
        if self.channels_last:
            net.to(memory_format=torch.channels_last)
        return net

    def fit(self, stage: str, train_idx: np.ndarray, val_idx: np.ndarray, epochs: int, ckpt_dir: Path, seed: int,
            select: str = "last", patience: int = 0) -> tuple[Net, FitResult]:
        """Train on train_idx for up to `epochs`; keep the last or the best inner-validation epoch."""
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        net = self.new_net()
        opt = self._optimizer(net)
        sampler = EpochSampler(self.labels[train_idx], seed, balanced=self.tcfg["sampler"] == "balanced")
        loader = self._loader(train_idx, sampler, seed)
        cw = self._class_weights(train_idx)
        smoothing = float(self.tcfg.get("label_smoothing") or 0.0)
        aux_w = float(self.tcfg.get("aux_tscore_weight") or 0.0)
        bs = int(self.tcfg["batch_size"])
        steps_per_epoch = max(1, math.ceil(len(train_idx) / bs))
        total_steps = steps_per_epoch * epochs
        history: list[dict[str, Any]] = []
        start_epoch, best_epoch, best_score = 0, 0, math.inf
        best_state: dict[str, torch.Tensor] | None = None
        metric = self.tcfg.get("select_metric", "val_loss")
        state_path = ckpt_dir / "last.json"
        if state_path.is_file():  # resume
            st = json.loads(state_path.read_text(encoding="utf-8"))
            net.load_state_dict(load_weights(ckpt_dir / "last.safetensors"))
            opt.load_state_dict(torch.load(ckpt_dir / "last_optim.pt", map_location=self.device, weights_only=True))
            start_epoch, best_epoch, best_score = int(st["epoch"]), int(st["best_epoch"]), float(st["best_score"])
            history = list(st["history"])
            if select == "best" and (ckpt_dir / "best.safetensors").is_file():
                best_state = load_weights(ckpt_dir / "best.safetensors")
            log.info("%s: resuming after epoch %d", stage, start_epoch)
        t0 = time.time()
        step = start_epoch * steps_per_epoch
        stale = (start_epoch - best_epoch) if best_epoch else 0
        epoch = start_epoch
        for epoch in range(start_epoch, epochs):
            if patience and stale >= patience:
                log.info("%s: early stop after epoch %d (best %d)", stage, epoch, best_epoch)
                break
            te = time.time()
            sampler.set_epoch(epoch)
            torch.manual_seed(seed * 1000 + epoch)
            net.train()
            tot_loss, tot_n, tot_correct = 0.0, 0, 0
            for x, y, t in self._batches(train_idx, sampler, loader):
                lr = self.lr_at(step, total_steps, steps_per_epoch)
                for g in opt.param_groups:
                    g["lr"] = lr
                x = self.to_model_input(x)
                y = y.to(self.device, non_blocking=True)
                t = t.to(self.device, non_blocking=True)
                with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    logits, aux = net(x)
                loss = nn.functional.cross_entropy(logits.float(), y, weight=cw, label_smoothing=smoothing)
                if aux is not None and aux_w > 0:
                    known = torch.isfinite(t)
                    if known.any():
                        loss = loss + aux_w * nn.functional.smooth_l1_loss(aux.float()[known], t[known])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                n = int(y.shape[0])
                tot_loss += float(loss.detach()) * n
                tot_n += n
                tot_correct += int((logits.argmax(1) == y).sum())
            row: dict[str, Any] = {"stage": stage, "epoch": epoch + 1, "lr": opt.param_groups[0]["lr"],
                                   "train_loss": tot_loss / max(1, tot_n), "train_acc": tot_correct / max(1, tot_n)}
            if len(val_idx):
                vlog = self.predict_logits(net, val_idx)
                yv = self.labels[val_idx]
                p = softmax(vlog)
                row["val_loss"] = float(-np.mean(np.log(np.clip(p[np.arange(len(yv)), yv], 1e-12, None))))
                row["val_acc"] = float((p.argmax(1) == yv).mean())
                row["val_auc_low_bmd"] = fast_auc(np.isin(yv, self.low_idx), p[:, self.low_idx].sum(1))
                auc = row["val_auc_low_bmd"] if np.isfinite(row["val_auc_low_bmd"]) else 0.0
                score = row["val_loss"] if metric == "val_loss" else -auc
                if score < best_score - 1e-6:
                    best_score, best_epoch, stale = score, epoch + 1, 0
                    if select == "best":
                        best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
                        save_weights(best_state, ckpt_dir / "best.safetensors")
                else:
                    stale += 1
            row["seconds"] = round(time.time() - te, 3)
            history.append(row)
            if self.metrics_sink:
                self.metrics_sink(row)
            log.info("%s epoch %d/%d: %s", stage, epoch + 1, epochs,
                     ", ".join(f"{k}={v:.4f}" for k, v in row.items() if isinstance(v, float) and k != "lr"))
            every = int(self.tcfg.get("checkpoint_every") or 0)
            if (every and (epoch + 1) % every == 0) or epoch + 1 == epochs:
                self._checkpoint(net, opt, ckpt_dir, epoch + 1, best_epoch, best_score, history)
            self._epochs_done_this_process += 1
            if self.stop_after_epochs is not None and self._epochs_done_this_process >= self.stop_after_epochs:
                self._checkpoint(net, opt, ckpt_dir, epoch + 1, best_epoch, best_score, history)
                raise Interrupted(f"stopped after {self._epochs_done_this_process} epoch(s) (test hook)")
        epochs_run = len(history)
        if select == "best" and best_state is not None:
            net.load_state_dict(best_state)
            kept = best_epoch
        else:
            kept = epochs_run
        return net, FitResult(epochs_run, kept, history, time.time() - t0)

    def _checkpoint(self, net: Net, opt: torch.optim.Optimizer, d: Path, epoch: int, best_epoch: int, best_score: float,
                    history: list) -> None:
        save_weights(net.state_dict(), d / "last.safetensors")
        buf = io.BytesIO()
        torch.save(opt.state_dict(), buf)
        atomic_write_bytes(d / "last_optim.pt", buf.getvalue())
        write_json(d / "last.json", {"epoch": epoch, "best_epoch": best_epoch,
                                     "best_score": best_score if math.isfinite(best_score) else 1e30, "history": history})

    # -- predict ---------------------------------------------------------------------------------

    @torch.no_grad()
    def predict_logits(self, net: nn.Module, idx: np.ndarray, tta_hflip: bool | None = None) -> np.ndarray:
        tta = bool(self.tcfg.get("tta_hflip")) if tta_hflip is None else tta_hflip
        net.eval()
        x_all = self.eval_tensor()
        idx = np.asarray(idx)
        bs = max(1, min(len(idx), int(self.tcfg["batch_size"]) * 2))
        out = []
        for s in range(0, len(idx), bs):
            chunk = idx[s:s + bs]
            n = len(chunk)
            if n < bs and self.device.type == "cuda":  # constant batch shape on the GPU (no new kernels per size)
                chunk = np.concatenate([chunk, np.full(bs - n, chunk[-1])])
            b = torch.from_numpy(chunk).to(x_all.device)
            x = self.to_model_input(x_all[b])
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                lg = _logits(net, x).float()
                if tta:
                    lg = (lg + _logits(net, torch.flip(x, dims=[3])).float()) / 2
            out.append(lg[:n].cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_classes), dtype=np.float32)


def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = net(x)
    return out[0] if isinstance(out, tuple) else out
