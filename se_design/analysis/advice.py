"""SE removal advice, tested rather than guessed: rank SE blocks by how little their
excitation depends on the input, fold the weakest ones step by step and measure the folded
network's accuracy (no retraining) and what the analytic cost model says each step saves."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from se_design.analysis import intervals
from se_design.analysis.excitation import BlockStats
from se_design.analysis.fold import fold
from se_design.analysis.training import predictions
from se_design.cost import cost
from se_design.progress import counted
from se_design.spec import Arch


def rank(stats: list[BlockStats]) -> list[BlockStats]:
    """Weakest first: by the sum of each block's rank in class-specificity and in variation
    (both ascending), ties broken by variation."""
    by_spec = sorted(stats, key=lambda s: s.specificity)
    by_var = sorted(stats, key=lambda s: s.variation)
    score = {s.block: by_spec.index(s) + by_var.index(s) for s in stats}
    return sorted(stats, key=lambda s: (score[s.block], s.variation))


@dataclass
class Step:
    removed: list[str]  # block paths whose SE is folded away, cumulative
    params_saved: int  # cost(spec) - cost(spec without those SEs)
    flops_saved: int
    se_params_left: int
    accuracy: float
    change: float  # accuracy - the unfolded model's, on the same images
    change_ci95: float  # half-width of the paired 95% interval of `change`
    arch: Arch

    def as_dict(self) -> dict:
        return {"removed": self.removed, "params_saved": self.params_saved,
                "flops_saved": self.flops_saved, "se_params_left": self.se_params_left,
                "accuracy": self.accuracy, "change": self.change,
                "change_ci95": self.change_ci95}


def steps(arch: Arch, model: nn.Module, order: list[BlockStats], x: torch.Tensor,
          y: torch.Tensor, convention: str = "fvcore") -> tuple[float, list[Step]]:
    """(accuracy of the unfolded model, one Step per prefix of `order`) on images x, y."""
    y = y.to(x.device)
    base = (predictions(model, x) == y).tolist()
    before = cost(arch, convention)
    out = []
    with counted("fold: steps", len(order)) as tick:
        for k in range(1, len(order) + 1):
            folded_arch, folded = fold(arch, model, order[:k])
            right = (predictions(folded, x) == y).tolist()
            change, half = intervals.paired_difference(base, right)
            after = cost(folded_arch, convention)
            out.append(Step([s.block for s in order[:k]], before.params - after.params,
                            before.flops - after.flops, after.se_params, sum(right) / len(right),
                            change, half, folded_arch))
            tick(f"({order[k - 1].block})")
    return sum(base) / len(base), out


def choose(found: list[Step], max_drop: float) -> Step | None:
    """The step removing the most SE blocks whose accuracy is at most max_drop below the
    unfolded model's (None if even the first step loses more)."""
    ok = [s for s in found if s.change >= -max_drop]
    return ok[-1] if ok else None
