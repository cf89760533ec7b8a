"""MobileNet v1's depthwise-separable block."""

from __future__ import annotations

from typing import Literal

from se_design import graph as g
from se_design.families.base import BlockSpec, act, se_at
from se_design.se import SE
from se_design.validated import PosInt


class DWSep(BlockSpec):
    """MobileNet depthwise-separable block: depthwise kxk -> BN -> ReLU -> 1x1 -> BN -> ReLU."""

    kind: Literal["dwsep"] = "dwsep"
    out: PosInt
    kernel: PosInt = 3
    stride: PosInt = 1
    se: SE | None = None

    se_slots = ("standard", "pre", "3x3")

    def expand(self, cin: int, where: str) -> g.Node:
        return g.seq(("se", se_at(self, "pre", cin, cin, where)),
                     ("dw", g.Conv(cin, cin, self.kernel, self.stride, cin)), ("bn1", g.BN(cin)),
                     ("relu1", act("relu")), ("se", se_at(self, "3x3", cin, cin, where)),
                     ("pw", g.Conv(cin, self.out, 1)), ("bn2", g.BN(self.out)),
                     ("relu2", act("relu")),
                     ("se", se_at(self, "standard", self.out, cin, where)))
