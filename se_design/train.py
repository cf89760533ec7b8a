"""Fast, reproducible short training for ranking candidate designs.

The data live on the device as one normalised tensor; each batch is shuffled, cropped and
flipped there with tensor ops, so there is no DataLoader and no per-image Python work.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from se_design.build import init_gates
from se_design.data import Dataset
from se_design.errors import UserError
from se_design.progress import bar as progress_bar
from se_design.train_config import Diverged, TrainConfig

EVAL_BATCH = 1024


@dataclass
class TrainResult:
    val_acc: float  # after the last epoch
    history: list[tuple[int, float, float]]  # (epoch from 1, mean train loss, val acc)
    epochs_run: int
    images_per_s: float  # training steps only, evaluation excluded
    seconds: float  # everything, evaluation included


def augment(x: torch.Tensor, padding: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random crop of the zero-padded batch (zero is the mean after normalisation) and random
    horizontal flip, per image but vectorised: two gathers and a select."""
    n, c, h, w = x.shape
    if padding:
        dy, dx = torch.randint(0, 2 * padding + 1, (2, n, 1, 1, 1), generator=gen,
                               device=x.device)
        x = F.pad(x, (padding,) * 4)
        rows = (dy + torch.arange(h, device=x.device).view(1, 1, h, 1)).expand(n, c, h, x.shape[3])
        x = x.gather(2, rows)
        x = x.gather(3, (dx + torch.arange(w, device=x.device)).expand(n, c, h, w))
    if flip:
        mask = torch.rand(n, 1, 1, 1, generator=gen, device=x.device) < 0.5
        x = torch.where(mask, x.flip(3), x)
    return x


def train(model: nn.Module, train: Dataset, val: Dataset, cfg: TrainConfig,
          device: str = "cpu", on_epoch: Callable[[int, float], None] | None = None,
          progress: bool = True) -> TrainResult:
    """Train `model` in place and evaluate it on `val` after each epoch; on_epoch(epoch, acc)
    may raise (e.g. optuna.TrialPruned) to stop, and its exception propagates unchanged.
    Raises Diverged when a loss is not finite. CPU runs are bit-reproducible for a seed."""
    if not len(train) or not len(val):
        raise UserError("training and validation sets must both hold images.")
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)  # dropout and anything else drawing from the global RNG
    gen = torch.Generator(device).manual_seed(cfg.seed)
    cuda = torch.device(device).type == "cuda"
    if cfg.gate_init is not None:
        init_gates(model, cfg.gate_init)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.to(device, memory_format=fmt)
    step_fn = torch.compile(model) if cfg.compile else model
    autocast = (lambda: torch.autocast("cuda", torch.bfloat16)) if cuda else contextlib.nullcontext

    mean, std = _stats(train.x)
    xs, ys = _to_device(train, mean, std, device), train.y.to(device)
    xv, yv = _to_device(val, mean, std, device), val.y.to(device)
    bs = min(cfg.batch_size, len(train))
    steps = len(train) // bs  # the partial last batch is dropped: constant shapes, steady BN
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)
    sched = _schedule(opt, cfg, steps * cfg.epochs)

    history, train_seconds = [], 0.0
    with progress_bar(progress) as bar:
        task = bar.add_task("training", total=steps * cfg.epochs)
        for epoch in range(1, cfg.epochs + 1):
            t = time.perf_counter()
            model.train()
            perm = torch.randperm(len(train), generator=gen, device=device)
            losses = torch.empty(steps, device=device)
            for i in range(steps):
                idx = perm[i * bs:(i + 1) * bs]
                x = augment(xs[idx], cfg.crop_padding, cfg.flip, gen).contiguous(memory_format=fmt)
                with autocast():
                    out = step_fn(x)
                loss = F.cross_entropy(out.float(), ys[idx], label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses[i] = loss.detach()  # checked once per epoch: no per-step device sync
                bar.advance(task)
            _check_finite(losses, epoch)
            train_seconds += time.perf_counter() - t
            acc = evaluate(model, xv, yv, fmt, autocast)
            history.append((epoch, losses.mean().item(), acc))
            bar.update(task, description=f"epoch {epoch}/{cfg.epochs} val acc {acc:.3f}")
            if on_epoch is not None:
                on_epoch(epoch, acc)
    return TrainResult(val_acc=history[-1][2], history=history, epochs_run=len(history),
                       images_per_s=steps * bs * len(history) / train_seconds,
                       seconds=time.perf_counter() - start)


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images, shaped (1, C, 1, 1), from each channel's
    histogram of the 256 values: exact, and no float copy of the whole set."""
    counts = torch.stack([torch.bincount(x[:, c].flatten(), minlength=256)
                          for c in range(x.shape[1])]).double()
    values = torch.arange(256, dtype=torch.float64)
    mean = counts @ values / counts.sum(1)
    var = counts @ values**2 / counts.sum(1) - mean**2
    std = var.clamp_min(0).sqrt().clamp_min(1e-3)  # constant channels stay finite
    return mean.float().view(1, -1, 1, 1), std.float().view(1, -1, 1, 1)


def _to_device(ds: Dataset, mean: torch.Tensor, std: torch.Tensor, device: str) -> torch.Tensor:
    return ds.x.to(device).float().sub_(mean.to(device)).div_(std.to(device))


def _schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    if cfg.schedule == "onecycle":  # momentum stays cfg.momentum rather than cycling
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total_steps,
                                                   cycle_momentum=False)
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)


def _check_finite(losses: torch.Tensor, epoch: int) -> None:
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        step = int(bad[0]) + 1
        raise Diverged(f"the training loss became {losses[step - 1].item()} at epoch {epoch}, "
                       f"step {step}.")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, fmt: torch.memory_format,
             autocast: Callable) -> float:
    """Top-1 accuracy in eval mode over large batches of already normalised images."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for i in range(0, len(x), EVAL_BATCH):
        with autocast():
            out = model(x[i:i + EVAL_BATCH].contiguous(memory_format=fmt))
        correct += (out.argmax(1) == y[i:i + EVAL_BATCH]).sum()
    return correct.item() / len(x)

