"""Windowed max or average pooling."""

from __future__ import annotations

from typing import Literal

from se_design import graph as g
from se_design.errors import SpecError
from se_design.families.base import BlockSpec
from se_design.validated import NonNegInt, PosInt


class Pool(BlockSpec):
    """Windowed max or average pooling; padding is explicit to match Caffe and torch."""

    kind: Literal["pool"] = "pool"
    op: Literal["max", "avg"] = "max"
    kernel: PosInt = 2
    stride: PosInt = 2
    padding: NonNegInt = 0

    def expand(self, cin: int, where: str) -> g.Node:
        if self.padding > self.kernel // 2:
            raise SpecError(f"pool padding {self.padding} at {where} exceeds half its kernel "
                            f"{self.kernel}.")
        return g.Pool(self.op, self.kernel, self.stride, self.padding)
