"""conv(kernel, stride, groups) -> BN -> activation: VGG layers, stems, 1x1 heads."""

from __future__ import annotations

from typing import Literal

from se_design import graph as g
from se_design.families.base import BlockSpec, act, check_groups, se_at
from se_design.model import PosInt
from se_design.se import SE


class Conv(BlockSpec):
    """conv(kernel, stride, groups) -> BN -> activation; VGG layers and stems."""

    kind: Literal["conv"] = "conv"
    out: PosInt
    kernel: PosInt = 3
    stride: PosInt = 1
    groups: PosInt = 1
    act: Literal["relu", "relu6", "hardswish", "silu", "none"] = "relu"
    se: SE | None = None

    se_slots = ("standard", "pre")  # standard: after the activation

    def expand(self, cin: int, where: str) -> g.Node:
        check_groups(cin, self.out, self.groups, where)
        return g.seq(("se", se_at(self, "pre", cin, cin, where)),
                     ("conv", g.Conv(cin, self.out, self.kernel, self.stride, self.groups)),
                     ("bn", g.BN(self.out)), ("act", act(self.act)),
                     ("se", se_at(self, "standard", self.out, cin, where)))
