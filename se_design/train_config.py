"""Short-training settings, apart from the trainer so that checking a search space (and a
cost-only search) never imports torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

from se_design.errors import UserError

SCHEDULES = ("onecycle", "cosine")


class Diverged(Exception):
    """The training loss became NaN or inf (here, so the search can catch it without torch)."""


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1  # the peak learning rate
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    schedule: str = "onecycle"  # or "cosine"; both stepped per batch
    crop_padding: int = 4
    flip: bool = True
    seed: int = 0
    channels_last: bool = True
    compile: bool = False
    gate_init: float | None = None  # start SE gates at this value (build.init_gates)

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, not {self.epochs}."),
            (self.batch_size >= 1, f"batch size must be >= 1, not {self.batch_size}."),
            (math.isfinite(self.lr) and self.lr > 0,
             f"learning rate must be a positive number, not {self.lr}."),
            (self.momentum > 0 or not self.nesterov, "Nesterov momentum needs momentum > 0."),
            (0 <= self.label_smoothing < 1,
             f"label smoothing must be in [0, 1), not {self.label_smoothing}."),
            (self.schedule in SCHEDULES,
             f"unknown schedule {self.schedule!r}: expected {' or '.join(SCHEDULES)}."),
            (self.gate_init is None or 0 < self.gate_init < 1,
             f"gate_init must be in (0, 1), not {self.gate_init}."),
            (self.crop_padding >= 0, f"crop padding must be >= 0, not {self.crop_padding}."),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
