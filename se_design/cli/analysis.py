"""`train`, `excitation`, `fold`: train a design, look inside its SE blocks, fold the weak
ones. torch is imported inside these commands, so that `cost` never loads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from se_design.cli.common import DEVICE_HELP, Config, err, flag, out
from se_design.errors import UserError

Data = Annotated[str, typer.Option("--data", help="digits | cifar10:DIR | cifar100:DIR | folder:DIR | DIR (kind recognised from its files).")]
Device = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
Checkpoint = Annotated[Path, typer.Option("--checkpoint", help="MODEL.pt written by se-design train.")]
Source = Annotated[str | None, typer.Option("--data", help="As for train.", show_default="the data the checkpoint was trained on")]


def train(config: Config = None,
          arch: Annotated[str | None, typer.Option("--arch", "-a", help="Zoo name; classes and resolution follow the data.")] = None,
          data: Data = ...,
          epochs: Annotated[int, typer.Option("--epochs", min=1, help="Training epochs.")] = 15,
          seeds: Annotated[int, typer.Option("--seeds", min=1, help="Train this many times (seeds --seed, --seed+1, ...); the checkpoint keeps the first.")] = 1,
          seed: Annotated[int, typer.Option("--seed", help="Training seed; also draws the held-out split.")] = 0,
          lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (one-cycle).")] = 0.2,
          batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per training step.")] = 128,
          val_fraction: Annotated[float, typer.Option("--val-fraction", help="Share of the training images held out.")] = 0.2,
          device: Device = "auto",
          out_file: Annotated[Path, typer.Option("--out", help="Checkpoint to write (MODEL.pt).")] = ...):
    """Train a design with the search's fast trainer and keep it as a checkpoint."""
    from se_design import checkpoint
    from se_design.analysis import source
    from se_design.analysis.render import interval_line
    from se_design.analysis.training import train_checkpoint
    from se_design.device import pick_device
    from se_design.files import check_writable
    from se_design.search.request import check_seed
    from se_design.spec import load_config
    from se_design.train import TrainConfig
    from se_design.train_config import Diverged
    from se_design.zoo import get_arch

    if (arch is None) == (config is None):
        raise UserError("give either --arch NAME or --config FILE.")
    check_seed(seed)
    if out_file.suffix != ".pt":
        raise UserError(f"--out {str(out_file)!r} must end in .pt.")
    check_writable(out_file, "checkpoint")  # before training, not after
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size)
    dev = pick_device(device)
    spec = load_config(config) if config else None  # a bad config fails before data loads
    splits = source.load(data, val_fraction, seed)
    if spec is None:
        size = splits.fit.x.shape[2]
        spec = get_arch(arch, num_classes=len(splits.fit.classes), resolution=size)
    source.check_fits(spec, splits.fit, f"--data {data}")
    out.print(f"training {spec.name} on {data}: {len(splits.fit)} images, {len(splits.val)} held "
              f"out, {epochs} epoch{'s' * (epochs != 1)}, {seed_range(seed, seeds)}, {dev}", highlight=False)
    record = {"source": data, "val_fraction": val_fraction, "split_seed": seed}
    try:
        ckpt = train_checkpoint(spec, splits, cfg, list(range(seed, seed + seeds)), dev, record,
                                log=lambda line: out.print(line, highlight=False),
                                keep=lambda c: checkpoint.save(c, out_file),
                                progress_log=lambda line: err.print(line, highlight=False))
    except Diverged as e:
        raise UserError(f"training diverged ({str(e).rstrip('.')}): lower --lr.") from None
    t = ckpt.training
    out.print(interval_line(t["held_out_accuracy"], "held-out accuracy"), highlight=False)
    out.print(interval_line(t["test_accuracy"], "test accuracy"), highlight=False)
    out.print(f"wrote {out_file} (the model of seed {seed})", highlight=False)


def seed_range(first: int, count: int) -> str:
    """"seed 0" or "seeds 0..2": the seeds train runs."""
    return f"seed {first}" if count == 1 else f"seeds {first}..{first + count - 1}"


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
    splits = source.load(data, record.get("val_fraction", 0.2), record.get("split_seed", 0),
                         record.get("size"))
    dev = pick_device(device)
    return ckpt, ckpt.model().to(dev), splits, data, dev


def _images(ckpt, ds, data: str, dev: str):
    """The split's images normalised as in training, after checking they fit the model."""
    from se_design.analysis import source

    source.check_fits(ckpt.arch, ds, f"--data {data}")
    source.check_classes(ckpt.classes, ds, f"--data {data}")
    return source.normalized(ds, ckpt.mean, ckpt.std, dev)


def _spec_suffix(path: Path, option: str) -> None:
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise UserError(f"{option} '{path}' must end in .yaml, .yml or .json.")


def excitation(checkpoint: Checkpoint, data: Source = None,
               split: Annotated[str, typer.Option("--split", help="val (held out of training) | test.")] = "val",
               blocks: Annotated[str | None, typer.Option("--blocks", help="Blocks to plot, e.g. stage1.0,stage3.2.", show_default="the first of each stage and the last")] = None,
               classes: Annotated[str | None, typer.Option("--classes", help="Classes to plot, by name or index, e.g. cat,dog (at most 10).", show_default="all up to 10, else the 10 departing most from all images")] = None,
               device: Device = "auto",
               as_json: Annotated[bool, flag("--json", "Machine-readable output (with per-class means).")] = False,
               out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Write excitation.json and the PNGs here.")] = None):
    """Per SE block: mean excitation per class and channel, saturation, class-specificity."""
    from se_design.analysis import plots, render
    from se_design.analysis.excitation import collect
    from se_design.analysis.render import interval_line
    from se_design.analysis.training import summary
    from se_design.edit import check_paths
    from se_design.files import check_folder, write_text

    if split not in ("val", "test"):
        raise UserError(f"--split must be val or test, not {split!r}.")
    if out_dir:
        check_folder(out_dir)  # before the images run through the model
    names = block_list(blocks)
    ckpt, model, splits, data, dev = _open(checkpoint, data, device)
    ds = splits.val if split == "val" else splits.test
    if ds is None:
        raise UserError(f"--data {data} has no test split; use --split val.")
    y = ds.y
    check_paths(ckpt.arch, names)  # before the images run through the model
    asked = class_list(classes, ckpt.classes, len(plots.CLASS_COLORS))
    stats, preds = collect(model, ckpt.arch, _images(ckpt, ds, data, dev), y)
    chosen = names or plots.default_blocks(stats)
    acc = (preds.cpu() == y).double().mean().item()
    report = render.excitation_dict(ckpt, stats, split, len(y), acc)
    if out_dir:
        write_text(out_dir / "excitation.json", json.dumps(report, indent=1) + "\n", "report")
        written = [plots.classes_grid(stats, chosen, ckpt.classes,
                                      asked or plots.default_classes(stats, chosen),
                                      out_dir / "excitation_classes.png",
                                      f"{ckpt.arch.name}, {split} split, {len(y)} images"),
                   plots.summary(stats, out_dir / "excitation_summary.png",
                                 f"{ckpt.arch.name}, {split} split, {len(y)} images",
                                 len(y), len(ckpt.classes))]
    if as_json:
        print(json.dumps(report, indent=1))
        return
    out.print(interval_line(summary([acc], len(y)), "accuracy of the checkpoint's model"),
              highlight=False)
    out.print(render.excitation_table(stats, f"{ckpt.arch.name}: {split} split, {len(y)} images"))
    if out_dir:
        out.print("wrote " + ", ".join(map(str, [out_dir / "excitation.json", *written])), highlight=False)


def fold(checkpoint: Checkpoint, data: Source = None,
         blocks: Annotated[str | None, typer.Option("--blocks", help="Fold exactly these blocks, in this order.", show_default="the ranking's weakest first")] = None,
         steps: Annotated[int | None, typer.Option("--steps", min=1, help="Fold at most this many.", show_default="every foldable SE block")] = None,
         max_drop: Annotated[float, typer.Option("--max-drop", help="Accuracy points the exported design may lose.")] = 1.0,
         convention: Annotated[str, typer.Option("--convention", help="fvcore | paper, for FLOPs saved.")] = "fvcore",
         device: Device = "auto",
         export: Annotated[Path | None, typer.Option("--export", help="Write the spec without the chosen SE blocks (.yaml/.json).")] = None,
         as_json: Annotated[bool, flag("--json", "Machine-readable output.")] = False):
    """Fold the weakest SE blocks into constant scales, measure accuracy without retraining."""
    import math

    from se_design.analysis import advice, render
    from se_design.analysis.excitation import collect
    from se_design.analysis.fold import why_not
    from se_design.edit import check_paths, se_blocks
    from se_design.files import check_writable
    from se_design.spec import save_config

    if not (math.isfinite(max_drop) and max_drop >= 0):
        raise UserError(f"--max-drop must be a number of accuracy points >= 0, not {max_drop}.")
    if export:  # before the fold runs, not after
        _spec_suffix(export, "--export")
        check_writable(export, "config file")
    names = block_list(blocks)
    # means and ranking from the held-out split; accuracy on the test split where there is one
    ckpt, model, splits, data, dev = _open(checkpoint, data, device)
    if not se_blocks(ckpt.arch):
        raise UserError(f"{ckpt.arch.name} has no SE blocks: there is nothing to fold.")
    check_paths(ckpt.arch, names)
    stats, _ = collect(model, ckpt.arch, _images(ckpt, splits.val, data, dev), splits.val.y)
    split = "val" if splits.test is None else "test"
    ds = splits.val if splits.test is None else splits.test
    x, y = _images(ckpt, ds, data, dev), ds.y
    refused = {s.block: why for s in stats if (why := why_not(model, s))}
    if names:
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


def class_list(classes: str | None, names: list[str], most: int) -> list[int]:
    """--classes as class indices in the order given ([] when not given): each a class name
    of the checkpoint or an index, each once, at most `most` (one colour each)."""
    if classes is None:
        return []
    out = []
    for c in (c.strip() for c in classes.split(",")):
        k = names.index(c) if c in names else int(c) if c.isdigit() and int(c) < len(names) else None
        if k is None:
            raise UserError(f"--classes: the checkpoint has no class {c!r}; its classes are "
                            f"{', '.join(names[:12])}{', ...' if len(names) > 12 else ''} "
                            f"(or 0 to {len(names) - 1}).")
        if k in out:
            raise UserError(f"--classes names {names[k]} twice; give each class once.")
        out.append(k)
    if len(out) > most:
        raise UserError(f"--classes names {len(out)} classes; a plot shows at most {most}.")
    return out


def block_list(blocks: str | None) -> list[str]:
    """--blocks as block paths ([] when not given), each named once."""
    if blocks is None:
        return []
    names = [b.strip() for b in blocks.split(",")]
    if not all(names):
        raise UserError(f"--blocks {blocks!r} names no block where a path belongs: give paths "
                        "such as stage1.0,stage3.2.")
    twice = next((b for i, b in enumerate(names) if b in names[:i]), None)
    if twice:
        raise UserError(f"--blocks names {twice} twice; give each block once.")
    return names
