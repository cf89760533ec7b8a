"""A trained model in one file: the spec (plain data), the weights, the input normalisation,
the class names and how it was trained. Only tensors, numbers, strings, lists and dicts go
in, so `torch.load(weights_only=True)` reads it and loading runs no code from the file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from se_design.build import build_model
from se_design.errors import UserError
from se_design.files import writing
from se_design.spec import Arch, SpecError, to_dict, validate

FORMAT = "se-design checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    arch: Arch
    state: dict[str, torch.Tensor]
    mean: list[float]  # per input channel, on the 0..255 scale of the uint8 images
    std: list[float]
    classes: list[str]
    training: dict = field(default_factory=dict)  # data, epochs, seeds, accuracies

    def model(self) -> nn.Module:
        """The spec's model with these weights, in eval mode."""
        model = build_model(self.arch)
        model.load_state_dict(self.state)
        return model.eval()


def save(ckpt: Checkpoint, path: str | Path) -> None:
    with writing(path, "checkpoint") as p:
        torch.save({"format": FORMAT, "version": VERSION, "spec": to_dict(ckpt.arch),
                    "state_dict": {k: v.detach().cpu() for k, v in ckpt.state.items()},
                    "normalize": {"mean": list(ckpt.mean), "std": list(ckpt.std)},
                    "classes": list(ckpt.classes), "training": _plain(ckpt.training)}, p)


def _plain(data: dict) -> dict:
    """JSON-like data only (numpy scalars become floats), as weights_only loading needs."""
    return json.loads(json.dumps(data, default=float))


def is_checkpoint(path: Path) -> bool:
    """Whether `path` is a file holding an se-design checkpoint (of any version)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - anything unreadable is not one
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def load(path: str | Path) -> Checkpoint:
    """Read and check a checkpoint: any problem is one sentence (UserError)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"checkpoint '{path}' is a folder, not a file (MODEL.pt).")
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' does not exist.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file raises many kinds
        raise UserError(f"'{path}' is not a readable checkpoint (corrupt, or not saved by "
                        f"torch: {type(e).__name__}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        what = ("holds weights only (a state_dict, as `se-design export` writes beside a spec "
                "or .py file)" if data and isinstance(data, dict)
                and all(isinstance(v, torch.Tensor) for v in data.values())
                else "was saved by another tool")
        raise UserError(f"'{path}' is not an se-design checkpoint: it {what}; give the "
                        "MODEL.pt that se-design train or search --keep-checkpoints wrote.")
    if data.get("version") != VERSION:
        raise UserError(f"'{path}' is an se-design checkpoint of version "
                        f"{data.get('version')!r}; this se-design reads version {VERSION}.")
    try:
        arch = validate(data["spec"])
        ckpt = Checkpoint(arch, dict(data["state_dict"]), list(data["normalize"]["mean"]),
                          list(data["normalize"]["std"]), list(data["classes"]),
                          dict(data.get("training") or {}))
    except SpecError as e:
        raise UserError(f"the spec in '{path}' is invalid: {e}") from None
    except (KeyError, TypeError):
        raise UserError(f"'{path}' is an incomplete se-design checkpoint (no spec, weights, "
                        "normalisation or classes).") from None
    _check_fit(ckpt, path)
    return ckpt


def _check_fit(ckpt: Checkpoint, path: Path) -> None:
    expected = {k: tuple(v.shape) for k, v in build_model(ckpt.arch).state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in ckpt.state.items()}
    problem = next((f"{k} is missing" for k in expected if k not in stored), None) \
        or next((f"{k} is not in the spec" for k in stored if k not in expected), None) \
        or next((f"{k} has shape {stored[k]}, the spec needs {expected[k]}"
                 for k in expected if stored[k] != expected[k]), None)
    if problem:
        raise UserError(f"the weights in '{path}' do not fit its spec {ckpt.arch.name}: "
                        f"{problem}.")
    if len(ckpt.classes) != ckpt.arch.num_classes or len(ckpt.mean) != ckpt.arch.in_chans:
        raise UserError(f"'{path}' names {len(ckpt.classes)} classes and {len(ckpt.mean)} "
                        f"input channels, but its spec has {ckpt.arch.num_classes} and "
                        f"{ckpt.arch.in_chans}.")
