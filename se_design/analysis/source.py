"""`--data SOURCE` for train, excitation and fold: which images, which split, and whether
they fit a network."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from se_design.data import Dataset, holdout, load_data, parse
from se_design.errors import UserError
from se_design.spec import Arch


@dataclass
class Splits:
    fit: Dataset  # what training learns from
    val: Dataset  # held out of the training data (seeded, stratified)
    test: Dataset | None  # the source's test set, where it has one


def load(text: str, val_fraction: float, split_seed: int, size: int | None = None) -> Splits:
    """The splits of --data; `size`: resized to size x size (a search proxy's data.size), as
    the search's proxy data are, so a kept proxy checkpoint sees what it was trained on."""
    kind, path = parse(text)
    train, test = load_data(kind, path, size) if size else load_data(kind, path)
    if size:
        train, test = train.resized(size), test if test is None else test.resized(size)
    fit, val = holdout(train, val_fraction, split_seed)
    return Splits(fit, val, test)


def check_fits(arch: Arch, ds: Dataset, where: str) -> None:
    """One sentence when the images' channels, size or class count do not fit `arch`."""
    c, h, w = ds.x.shape[1:]
    if c != arch.in_chans or h != w or h != arch.resolution:
        raise UserError(f"the images of {where} are {c}x{h}x{w}, but {arch.name} takes "
                        f"{arch.in_chans}x{arch.resolution}x{arch.resolution}.")
    if len(ds.classes) != arch.num_classes:
        raise UserError(f"{where} has {len(ds.classes)} classes, but {arch.name} "
                        f"classifies {arch.num_classes}.")


def check_classes(trained: list[str], ds: Dataset, where: str) -> None:
    if list(ds.classes) != list(trained):
        shown = ", ".join(trained[:5]) + (", ..." if len(trained) > 5 else "")
        raise UserError(f"the classes of {where} differ from the {len(trained)} the model was "
                        f"trained on ({shown}).")


def normalized(ds: Dataset, mean: list[float], std: list[float], device: str) -> torch.Tensor:
    """The images as the model saw them in training: float, per-channel standardised."""
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)
    return ds.x.to(device).float().sub_(m).div_(s)
