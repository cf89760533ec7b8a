"""CLI commands `train`, `excitation` and `fold`; cli.py registers them with register(app)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from se_design.errors import UserError

out = Console()
if not out.is_terminal:
    out.width = 160
err = Console(stderr=True)

DATA = typer.Option(..., "--data", help="digits | cifar10:DIR | cifar100:DIR | folder:DIR | DIR (kind recognised from its files).")
DEVICE = typer.Option("auto", "--device", help="auto | cpu | cuda.")


def _interval(acc: dict | None, what: str) -> str:
    if acc is None:
        return f"{what}: the data has no test split"
    low, high = acc["ci95"]
    return (f"{what} {acc['mean']:.4f} (95% interval {low:.4f}-{high:.4f} over "
            f"{acc['interval_over']}, {len(acc['per_seed'])} seed(s), {acc['images']} images)")


def train(config: Path | None = typer.Option(None, "--config", "-c", help="Spec file (.yaml/.yml/.json)."),
          arch: str | None = typer.Option(None, "--arch", "-a", help="Zoo name; classes and resolution follow the data."),
          data: str = DATA,
          epochs: int = typer.Option(15, "--epochs", min=1),
          seeds: int = typer.Option(1, "--seeds", min=1, help="Train this many times (seeds --seed, --seed+1, ...); the checkpoint keeps the first."),
          seed: int = typer.Option(0, "--seed"),
          lr: float = typer.Option(0.2, "--lr", help="Peak learning rate (one-cycle)."),
          batch_size: int = typer.Option(128, "--batch-size", min=1),
          val_fraction: float = typer.Option(0.2, "--val-fraction", help="Share of the training images held out."),
          device: str = DEVICE,
          out_file: Path = typer.Option(..., "--out", help="Checkpoint to write (MODEL.pt).")):
    """Train a design with the search's fast trainer and keep it as a checkpoint."""
    from se_design import checkpoint
    from se_design.analysis import source
    from se_design.analysis.training import train_checkpoint
    from se_design.search.run import pick_device
    from se_design.spec import load_config
    from se_design.train import TrainConfig
    from se_design.zoo import get_arch

    if (arch is None) == (config is None):
        raise UserError("give either --arch NAME or --config FILE.")
    if out_file.suffix != ".pt":
        raise UserError(f"--out {str(out_file)!r} must end in .pt.")
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size)
    dev = pick_device(device)
    spec = load_config(config) if config else None  # a bad config fails before data loads
    splits = source.load(data, val_fraction, seed)
    if spec is None:
        size = splits.fit.x.shape[2]
        spec = get_arch(arch, num_classes=len(splits.fit.classes), resolution=size)
    source.check_fits(spec, splits.fit, f"--data {data}")
    out.print(f"training {spec.name} on {data}: {len(splits.fit)} images, {len(splits.val)} held "
              f"out, {epochs} epochs, seeds {seed}..{seed + seeds - 1}, {dev}", highlight=False)
    record = {"source": data, "val_fraction": val_fraction, "split_seed": seed}
    ckpt = train_checkpoint(spec, splits, cfg, list(range(seed, seed + seeds)), dev, record,
                            log=lambda line: out.print(line, highlight=False))
    checkpoint.save(ckpt, out_file)
    t = ckpt.training
    out.print(_interval(t["held_out_accuracy"], "held-out accuracy"), highlight=False)
    out.print(_interval(t["test_accuracy"], "test accuracy"), highlight=False)
    out.print(f"wrote {out_file} (the model of seed {seed})", highlight=False)


def register(app: typer.Typer, user_errors) -> None:
    for fn in (train,):
        app.command()(user_errors(fn))
