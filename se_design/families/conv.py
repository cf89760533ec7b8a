"""conv(kernel, stride, groups) -> BN -> activation: VGG layers, stems, 1x1 heads."""

from __future__ import annotations

from typing import Literal

from se_design import graph as g
from se_design.families.base import BlockSpec, act, check_groups, se_at
from se_design.se import SE
from se_design.validated import NonNegInt, PosInt


class Conv(BlockSpec):
    """conv(kernel, stride, groups) -> BN -> activation; VGG layers and stems.

    kernel [h, w] is an asymmetric kernel (Inception's 1x7); padding None pads kernel // 2 on
    each side of each dimension, 0 is TF's 'valid'; bn false with bias true is a plain
    biased conv (Inception-ResNet's residual up-projection)."""

    kind: Literal["conv"] = "conv"
    out: PosInt
    kernel: PosInt | tuple[PosInt, PosInt] = 3
    stride: PosInt = 1
    groups: PosInt = 1
    padding: NonNegInt | None = None
    bias: bool = False
    bn: bool = True
    act: Literal["relu", "relu6", "hardswish", "silu", "none"] = "relu"
    se: SE | None = None

    se_slots = ("standard", "pre")  # standard: after the activation

    def expand(self, cin: int, where: str) -> g.Node:
        check_groups(cin, self.out, self.groups, where)
        return g.seq(("se", se_at(self, "pre", cin, cin, where)),
                     ("conv", g.Conv(cin, self.out, self.kernel, self.stride, self.groups,
                                     self.bias, self.padding)),
                     ("bn", g.BN(self.out) if self.bn else None), ("act", act(self.act)),
                     ("se", se_at(self, "standard", self.out, cin, where)))
