"""CLI commands `train`, `excitation` and `fold`; cli.py registers them with register(app)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from se_design.errors import UserError
from se_design.options import DEVICE_HELP, flag

out = Console()

DATA = typer.Option(..., "--data", help="digits | cifar10:DIR | cifar100:DIR | folder:DIR | DIR (kind recognised from its files).")
DEVICE = typer.Option("auto", "--device", help=DEVICE_HELP)


def _interval(acc: dict | None, what: str) -> str:
    if acc is None:
        return f"{what}: the data has no test split"
    low, high = acc["ci95"]
    return (f"{what} {acc['mean']:.4f} (95% interval {low:.4f}-{high:.4f} over "
            f"{acc['interval_over']}, {len(acc['per_seed'])} seed(s), {acc['images']} images)")


def train(config: Path | None = typer.Option(None, "--config", "-c", help="Spec file (.yaml/.yml/.json)."),
          arch: str | None = typer.Option(None, "--arch", "-a", help="Zoo name; classes and resolution follow the data."),
          data: str = DATA,
          epochs: int = typer.Option(15, "--epochs", min=1, help="Training epochs."),
          seeds: int = typer.Option(1, "--seeds", min=1, help="Train this many times (seeds --seed, --seed+1, ...); the checkpoint keeps the first."),
          seed: int = typer.Option(0, "--seed", help="Training seed; also draws the held-out split."),
          lr: float = typer.Option(0.2, "--lr", help="Peak learning rate (one-cycle)."),
          batch_size: int = typer.Option(128, "--batch-size", min=1, help="Images per training step."),
          val_fraction: float = typer.Option(0.2, "--val-fraction", help="Share of the training images held out."),
          device: str = DEVICE,
          out_file: Path = typer.Option(..., "--out", help="Checkpoint to write (MODEL.pt).")):
    """Train a design with the search's fast trainer and keep it as a checkpoint."""
    from se_design import checkpoint
    from se_design.analysis import source
    from se_design.analysis.training import train_checkpoint
    from se_design.device import pick_device
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
                            log=lambda line: out.print(line, highlight=False),
                            keep=lambda c: checkpoint.save(c, out_file))
    t = ckpt.training
    out.print(_interval(t["held_out_accuracy"], "held-out accuracy"), highlight=False)
    out.print(_interval(t["test_accuracy"], "test accuracy"), highlight=False)
    out.print(f"wrote {out_file} (the model of seed {seed})", highlight=False)


CHECKPOINT = typer.Option(..., "--checkpoint", help="MODEL.pt written by se-design train.")
SOURCE = typer.Option(None, "--data", help="As for train.", show_default="the data the checkpoint was trained on")


def _open(checkpoint: Path, data: str | None, device: str):
    """(checkpoint, its model on the device, the data's splits, --data, device)."""
    from se_design import checkpoint as ckpts
    from se_design.analysis import source
    from se_design.device import pick_device

    ckpt = ckpts.load(checkpoint)
    record = ckpt.training.get("data", {})
    data = data or record.get("source")
    if data is None:
        raise UserError(f"'{checkpoint}' does not record its data: give --data.")
    splits = source.load(data, record.get("val_fraction", 0.2), record.get("split_seed", 0))
    dev = pick_device(device)
    return ckpt, ckpt.model().to(dev), splits, data, dev


def _images(ckpt, ds, data: str, dev: str):
    """The split's images normalised as in training, after checking they fit the model."""
    from se_design.analysis import source

    source.check_fits(ckpt.arch, ds, f"--data {data}")
    source.check_classes(ckpt.classes, ds, f"--data {data}")
    return source.normalized(ds, ckpt.mean, ckpt.std, dev)


def excitation(checkpoint: Path = CHECKPOINT, data: str | None = SOURCE,
               split: str = typer.Option("val", "--split", help="val (held out of training) | test."),
               blocks: str | None = typer.Option(None, "--blocks", help="Blocks to plot, e.g. stage1.0,stage3.2.", show_default="the first of each stage and the last"),
               device: str = DEVICE,
               as_json: bool = flag("--json", "Machine-readable output (with per-class means)."),
               out_dir: Path | None = typer.Option(None, "--out-dir", help="Write excitation.json and the PNGs here.")):
    """Per SE block: mean excitation per class and channel, saturation, class-specificity."""
    import json

    from se_design.analysis import plots, render
    from se_design.analysis.excitation import collect
    from se_design.edit import check_paths
    from se_design.files import write_text

    if split not in ("val", "test"):
        raise UserError(f"--split must be val or test, not {split!r}.")
    ckpt, model, splits, data, dev = _open(checkpoint, data, device)
    ds = splits.val if split == "val" else splits.test
    if ds is None:
        raise UserError(f"--data {data} has no test split; use --split val.")
    y = ds.y
    stats, preds = collect(model, ckpt.arch, _images(ckpt, ds, data, dev), y)
    chosen = blocks.split(",") if blocks else plots.default_blocks(stats)
    check_paths(ckpt.arch, chosen)
    acc = (preds.cpu() == y).double().mean().item()
    report = render.excitation_dict(ckpt, stats, split, len(y), acc)
    if out_dir:
        write_text(out_dir / "excitation.json", json.dumps(report, indent=1) + "\n", "report")
        written = [plots.classes_grid(stats, chosen, ckpt.classes, out_dir / "excitation_classes.png",
                                      f"{ckpt.arch.name}, {split} split, {len(y)} images"),
                   plots.summary(stats, out_dir / "excitation_summary.png",
                                 f"{ckpt.arch.name}, {split} split, {len(y)} images")]
    if as_json:
        print(json.dumps(report, indent=1))
        return
    out.print(render.excitation_table(stats, f"{ckpt.arch.name}: {split} split, {len(y)} images, accuracy {acc:.4f}"))
    if out_dir:
        out.print("wrote " + ", ".join(map(str, [out_dir / "excitation.json", *written])), highlight=False)


def fold(checkpoint: Path = CHECKPOINT, data: str | None = SOURCE,
         blocks: str | None = typer.Option(None, "--blocks", help="Fold exactly these blocks, in this order.", show_default="the ranking's weakest first"),
         steps: int | None = typer.Option(None, "--steps", min=1, help="Fold at most this many.", show_default="every foldable SE block"),
         max_drop: float = typer.Option(1.0, "--max-drop", help="Accuracy points the exported design may lose."),
         convention: str = typer.Option("fvcore", "--convention", help="fvcore | paper, for FLOPs saved."),
         device: str = DEVICE,
         export: Path | None = typer.Option(None, "--export", help="Write the spec without the chosen SE blocks (.yaml/.json)."),
         as_json: bool = flag("--json", "Machine-readable output.")):
    """Fold the weakest SE blocks into constant scales, measure accuracy without retraining."""
    import json

    from se_design.analysis import advice, render
    from se_design.analysis.excitation import collect
    from se_design.analysis.fold import why_not
    from se_design.edit import check_paths
    from se_design.spec import save_config

    # means and ranking from the held-out split; accuracy on the test split where there is one
    ckpt, model, splits, data, dev = _open(checkpoint, data, device)
    stats, _ = collect(model, ckpt.arch, _images(ckpt, splits.val, data, dev), splits.val.y)
    split = "val" if splits.test is None else "test"
    ds = splits.val if splits.test is None else splits.test
    x, y = _images(ckpt, ds, data, dev), ds.y
    refused = {s.block: why for s in stats if (why := why_not(model, s))}
    if blocks:
        names = blocks.split(",")
        check_paths(ckpt.arch, names)
        order = [next(s for s in stats if s.block == b) for b in names]
        if any(b in refused for b in names):
            raise UserError(refused[next(b for b in names if b in refused)])
    else:
        order = [s for s in advice.rank(stats) if s.block not in refused]
    if not order:
        raise UserError(f"none of the SE blocks of {ckpt.arch.name} can be folded: "
                        + next(iter(refused.values())))
    base, found = advice.steps(ckpt.arch, model, order[:steps], x, y, convention)
    chosen = advice.choose(found, max_drop / 100)
    report = render.fold_dict(ckpt, base, found, chosen, refused, split, len(y), max_drop)
    if export:
        if chosen is None:
            raise UserError(f"even folding one SE block loses more than {max_drop} points; "
                            "nothing to export (raise --max-drop).")
        save_config(chosen.arch.model_copy(update={"name": f"{ckpt.arch.name}_folded"}), export)
    if as_json:
        print(json.dumps(report, indent=1))
        return
    out.print(render.fold_table(found, base, len(y), f"{ckpt.arch.name}: SE blocks folded into constant scales, accuracy on the {split} split"))
    for why in refused.values():
        out.print(f"not foldable: {why}", highlight=False)
    if chosen is not None:
        out.print(f"within {max_drop} points: fold {', '.join(chosen.removed)} "
                  f"({chosen.params_saved:,} params, {chosen.flops_saved:,} FLOPs saved)"
                  + (f" -> {export}" if export else ""), highlight=False)


def register(app: typer.Typer, user_errors) -> None:
    for fn in (train, excitation, fold):
        app.command()(user_errors(fn))
