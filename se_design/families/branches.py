"""Parallel branches of blocks (Inception modules, ShuffleNet units, Inception-ResNet's
scaled residuals), concatenated or added."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from se_design import graph as g
from se_design.families.base import (
    Block,
    BlockSpec,
    act,
    check_se_fits,
    se_at,
    sequence,
    sequence_channels,
    sequence_stride,
)
from se_design.se import SE


class Branches(BlockSpec):
    """Parallel branches, each a sequence of blocks (empty = identity), merged by channel
    concatenation (Inception) or addition (residual units), then an optional ReLU."""

    kind: Literal["branches"] = "branches"
    branches: tuple[tuple[Block, ...], ...] = Field(min_length=1)
    merge: Literal["concat", "add"] = "concat"
    act: Literal["relu", "none"] = "none"
    # multiplies each non-empty branch before the merge (Inception-ResNet's residual scaling)
    scale: Annotated[float, Field(gt=0)] = 1.0
    se: SE | None = None

    se_slots = ("standard", "pre")  # standard: after the merge (and its ReLU)

    def out_channels(self, cin: int) -> int:
        outs = [sequence_channels(br, cin) for br in self.branches]
        return sum(outs) if self.merge == "concat" else outs[0]

    def total_stride(self) -> int:
        return max(sequence_stride(br) for br in self.branches)

    def expand(self, cin: int, where: str) -> g.Node:
        branches = tuple((f"b{i}", _times(sequence(blocks, cin, f"{where}.b{i}"), self.scale))
                         for i, blocks in enumerate(self.branches))
        post = g.seq(("relu", act(self.act)),
                     ("se", se_at(self, "standard", self.out_channels(cin), cin, where)))
        par = g.Parallel(branches, self.merge, post)
        pre = se_at(self, "pre", cin, cin, where)
        return g.seq(("se", pre), ("body", par)) if pre else par

    def with_block_se(self, se: SE | None, levels: str = "outer") -> Branches:
        """'outer': SE after the merge; 'inner': SE on the blocks inside the branches
        (nested branches recursively); 'all': both."""
        update = {}
        if levels != "outer":
            update["branches"] = tuple(tuple(b.with_block_se(se, levels) for b in br)
                                       for br in self.branches)
        if levels != "inner":
            check_se_fits(type(self), se)
            update["se"] = se
        return self.model_copy(update=update)


def _times(branch: g.Seq, scale: float) -> g.Seq:
    """The branch times `scale`, unless it is the identity or the scale is 1."""
    if scale == 1 or not branch.items:
        return branch
    return g.Seq(branch.items + (("scale", g.Mul(scale)),))
