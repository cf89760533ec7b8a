"""Inverted residual (MobileNetV2/V3, EfficientNet's MBConv), as torchvision builds it."""

from __future__ import annotations

from typing import Literal

from se_design import graph as g
from se_design.families.base import BlockSpec, act, se_at
from se_design.se import SE
from se_design.validated import PosInt


class MBConv(BlockSpec):
    """[1x1 expand -> BN -> act] -> depthwise kxk -> BN -> act -> [SE] -> 1x1 project -> BN,
    plus the input when stride is 1 and the width is kept (no activation after the add).

    `expanded` is the depthwise width; equal to the input width, the expand conv is left out
    (MobileNetV3's first block, EfficientNet's expand ratio 1)."""

    kind: Literal["mbconv"] = "mbconv"
    out: PosInt
    expanded: PosInt
    kernel: PosInt = 3
    stride: PosInt = 1
    act: Literal["relu", "relu6", "hardswish", "silu"] = "relu"
    se: SE | None = None

    se_slots = ("standard", "pre")  # standard: after the depthwise's activation

    def expand(self, cin: int, where: str) -> g.Node:
        e, a = self.expanded, act(self.act)
        expand = (("expand", g.Conv(cin, e, 1)), ("bn0", g.BN(e)), ("act0", a)) if e != cin else ()
        main = g.seq(("se", se_at(self, "pre", cin, cin, where)), *expand,
                     ("dw", g.Conv(e, e, self.kernel, self.stride, e)), ("bn1", g.BN(e)),
                     ("act1", a), ("se", se_at(self, "standard", e, cin, where)),
                     ("project", g.Conv(e, self.out, 1)), ("bn2", g.BN(self.out)))
        if self.stride != 1 or cin != self.out:
            return main
        return g.Parallel((("main", main), ("shortcut", g.Seq(()))), "add", g.Seq(()))
