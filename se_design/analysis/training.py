"""`se-design train`: the search's fast trainer run on one design, for one or more seeds,
kept as a checkpoint (the first seed's model) with its accuracies and their intervals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import torch

from se_design import progress
from se_design.analysis import intervals
from se_design.analysis.source import Splits, normalized
from se_design.build import build_model
from se_design.checkpoint import Checkpoint
from se_design.spec import Arch
from se_design.train import EVAL_BATCH, TrainConfig, _stats, train


@torch.no_grad()
def predictions(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predicted class per image, eval mode, in large batches of normalised images."""
    model.eval()
    return torch.cat([model(x[i:i + EVAL_BATCH]).argmax(1) for i in range(0, len(x), EVAL_BATCH)])


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (predictions(model, x) == y.to(x.device)).double().mean().item()


def summary(values: list[float], n_images: int) -> dict:
    """Mean and 95% interval: over seeds when there are several, else over the images."""
    if len(values) > 1:
        mean, half = intervals.over_seeds(values)
        # an accuracy lies in [0, 1]; the t interval of two seeds can reach past it
        low, high, over = max(0.0, mean - half), min(1.0, mean + half), "seeds (t)"
    else:
        mean = values[0]
        (low, high), over = intervals.over_images(mean, n_images), "images (Wilson)"
    return {"mean": mean, "ci95": [low, high], "interval_over": over, "per_seed": values,
            "images": n_images}


def train_checkpoint(arch: Arch, splits: Splits, cfg: TrainConfig, seeds: list[int],
                     device: str, data: dict, log: Callable[[str], None] = print,
                     keep: Callable[[Checkpoint], None] = lambda ckpt: None,
                     progress_log: Callable[[str], None] = print) -> Checkpoint:
    """Train `arch` once per seed (initial weights and batch order; the split stays fixed);
    the checkpoint keeps the first seed's model and every seed's accuracies. `keep` gets
    the checkpoint after every seed, so a long run stopped early keeps what it trained.
    `log` gets each seed's result, `progress_log` each epoch's line where no bar shows it."""
    mean, std = (v.flatten().tolist() for v in _stats(splits.fit.x))
    xv = normalized(splits.val, mean, std, device)
    xt = normalized(splits.test, mean, std, device) if splits.test is not None else None
    val, test, kept = [], [], None
    bar = progress.on_terminal()  # a bar drawn into a log is a blank line per seed
    for seed in seeds:
        torch.manual_seed(seed)  # initial weights
        model = build_model(arch)
        per_epoch = None if bar else (  # in a terminal the bar shows it
            lambda e, acc, seed=seed: progress_log(
                f"seed {seed} epoch {e}/{cfg.epochs}: held-out {acc:.4f}"))
        result = train(model, splits.fit, splits.val, TrainConfig(**asdict(cfg) | {"seed": seed}),
                       device, on_epoch=per_epoch, progress=bar)
        val.append(accuracy(model, xv, splits.val.y))
        test.append(accuracy(model, xt, splits.test.y) if xt is not None else None)
        log(f"seed {seed}: held-out {val[-1]:.4f}"
            + (f", test {test[-1]:.4f}" if xt is not None else "")
            + f" ({result.seconds:.0f} s, {result.images_per_s:.0f} images/s on {device})")
        kept = kept or {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        ckpt = _checkpoint(arch, kept, mean, std, splits, cfg, seeds[:len(val)], device, data,
                           val, test)
        ckpt.training["seeds_planned"] = len(seeds)
        keep(ckpt)
    return ckpt


def _checkpoint(arch, state, mean, std, splits, cfg, seeds, device, data, val, test):
    xt = splits.test
    training = {"data": data, "epochs": cfg.epochs, "seeds": seeds, "kept_seed": seeds[0],
                "config": asdict(cfg) | {"seed": seeds[0]}, "device": device,
                "images": {"train": len(splits.fit), "held_out": len(splits.val),
                           "test": len(splits.test) if xt is not None else None},
                "held_out_accuracy": summary(val, len(splits.val)),
                "test_accuracy": summary(test, len(splits.test)) if xt is not None else None}
    return Checkpoint(arch, state, mean, std, list(splits.fit.classes), training)
