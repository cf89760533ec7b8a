"""Excitation statistics of every SE block of a trained model (the SE paper's section 7.2).

A forward hook on each SE gate (`Scale`'s child `gate`) adds the batch's excitations to
per-class sums in float64, shifted by the first batch's per-channel mean so that the sum of
squares does not cancel; no activation is stored, so any number of images fits in memory.
For NoSqueeze SEs, whose gate varies over positions, an image's excitation of a channel is
its mean over positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from se_design.analysis.training import predictions
from se_design.build import Scale
from se_design.cost import cost
from se_design.edit import se_blocks
from se_design.errors import UserError
from se_design.progress import counted
from se_design.spec import Arch

LOW, HIGH = 0.05, 0.95  # a gate value below LOW or above HIGH counts as saturated
CONSTANT = 1e-12  # total variance per value below this: a constant gate, specificity 0


@dataclass
class BlockStats:
    block: str  # the block's path, "<stage>.<i>"
    module: str  # the SE module's path in the model
    variant: str
    se_params: int
    counts: np.ndarray  # (K,) images per class
    class_mean: np.ndarray  # (K, C) mean excitation per class and channel
    channel_mean: np.ndarray  # (C,) over all images
    between: float  # sum over channels of sum_k n_k (class mean - channel mean)^2
    within: float  # sum over channels and classes of sum_i (x_i - class mean)^2
    saturated_low: float  # share of gate values < LOW
    saturated_high: float  # share of gate values > HIGH

    @property
    def channels(self) -> int:
        return self.class_mean.shape[1]

    @property
    def mean(self) -> float:
        return float(self.channel_mean.mean())

    @property
    def variance(self) -> float:
        """Mean squared deviation of an excitation from its channel's mean: what folding the
        SE into the constant channel means throws away."""
        return (self.between + self.within) / (self.counts.sum() * self.channels)

    @property
    def specificity(self) -> float:
        """Between-class share of the excitation's variance, pooled over channels."""
        if self.variance < CONSTANT:
            return 0.0
        return self.between / (self.between + self.within)

    @property
    def variation(self) -> float:
        """RMS deviation relative to the RMS channel mean: how much the gate moves."""
        rms = float(np.sqrt((self.channel_mean ** 2).mean()))
        return float(np.sqrt(self.variance)) / rms if rms > 0 else 0.0

    def as_dict(self, per_class: bool = True) -> dict:
        out = {"block": self.block, "module": self.module, "variant": self.variant,
               "channels": self.channels, "se_params": self.se_params, "mean": self.mean,
               "std": float(np.sqrt(self.variance)), "variation": self.variation,
               "saturated_low": self.saturated_low, "saturated_high": self.saturated_high,
               "class_specificity": self.specificity}
        if per_class:  # a class absent from the images has no mean: null
            out["class_mean"] = [[None if np.isnan(v) else float(v) for v in row]
                                 for row in self.class_mean]
            out["channel_mean"] = self.channel_mean.tolist()
        return out


class _Sums:
    """Per-class count, shifted sum and sum of squares of one gate's excitations."""

    def __init__(self, classes: int):
        self.classes, self.n = classes, np.zeros(classes)
        self.shift = self.s1 = self.s2 = None
        self.low = self.high = self.values = 0

    def add(self, gate: torch.Tensor, y: torch.Tensor) -> None:
        g = gate.detach().double()
        self.low += int((g < LOW).sum())
        self.high += int((g > HIGH).sum())
        self.values += g.numel()
        e = g.flatten(2).mean(2)  # (N, C): one excitation per image and channel
        if self.shift is None:
            self.shift = e.mean(0)
            self.s1 = torch.zeros(self.classes, e.shape[1], dtype=torch.float64, device=e.device)
            self.s2 = torch.zeros_like(self.s1)
        d = e - self.shift
        self.s1.index_add_(0, y, d)
        self.s2.index_add_(0, y, d * d)
        self.n += np.bincount(y.cpu().numpy(), minlength=self.classes)

    def stats(self, **names) -> BlockStats:
        n, s1, s2 = self.n, self.s1.cpu().numpy(), self.s2.cpu().numpy()
        shift, seen = self.shift.cpu().numpy(), n > 0
        mean_k = np.where(seen[:, None], s1 / np.maximum(n, 1)[:, None], np.nan)
        grand = s1.sum(0) / n.sum()
        within = np.clip(s2[seen] - s1[seen] ** 2 / n[seen, None], 0, None).sum()
        between = (n[seen, None] * (mean_k[seen] - grand) ** 2).sum()
        return BlockStats(counts=n, class_mean=shift + mean_k, channel_mean=shift + grand,
                          between=float(between), within=float(within),
                          saturated_low=self.low / self.values,
                          saturated_high=self.high / self.values, **names)


def se_modules(model: nn.Module, arch: Arch) -> list[tuple[str, str, Scale]]:
    """(block path, module path, module) of every SE, in network order."""
    blocks = [p for p, _ in se_blocks(arch)]
    if not blocks:
        raise UserError(f"{arch.name} has no SE blocks: there is no excitation to analyse.")
    out = []
    for name, m in model.named_modules():
        if isinstance(m, Scale):
            owner = max((p for p in blocks if name.startswith(p + ".")), key=len)
            out.append((owner, name, m))
    return out


@torch.no_grad()
def collect(model: nn.Module, arch: Arch, x: torch.Tensor, y: torch.Tensor,
            batch: int = 500) -> tuple[list[BlockStats], torch.Tensor]:
    """Statistics of every SE block over the (normalised) images x with labels y, and the
    model's predictions on them."""
    se_of = dict(se_blocks(arch))
    layers = cost(arch).layers
    sums, hooks, label = [], [], {}
    for block, name, m in se_modules(model, arch):
        s = _Sums(arch.num_classes)
        hooks.append(m.gate.register_forward_hook(lambda _m, _i, out, s=s: s.add(out, label["y"])))
        params = sum(la.params for la in layers if la.path.startswith(name + "."))
        sums.append((s, {"block": block, "module": name, "variant": se_of[block].se.variant,
                         "se_params": params}))
    try:
        preds = []
        with counted("excitation: batches", -(-len(x) // batch)) as tick:
            for i in range(0, len(x), batch):
                label["y"] = y[i:i + batch].to(x.device)
                preds.append(predictions(model, x[i:i + batch]))
                tick()
    finally:
        for h in hooks:
            h.remove()
    return [s.stats(**names) for s, names in sums], torch.cat(preds)
