"""Where training runs: --device auto | cpu | cuda | cuda:N, checked against what is visible."""

from __future__ import annotations

from se_design.errors import UserError

DEVICES = "cpu, cuda, cuda:N or auto"


def pick_device(wanted: str) -> str:
    if wanted != "auto" and wanted != "cpu" and wanted.partition(":")[0] != "cuda":
        raise UserError(f"unknown device {wanted!r}: use {DEVICES}.")
    if wanted == "cpu":
        return wanted
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    index = wanted.partition(":")[2]
    if index and not index.isdigit():
        raise UserError(f"unknown device {wanted!r}: use {DEVICES}.")
    if not torch.cuda.is_available() or int(index or 0) >= torch.cuda.device_count():
        raise UserError(f"--device {wanted} was asked for but no such CUDA GPU is visible.")
    return wanted
