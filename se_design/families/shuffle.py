"""Channel shuffle (ShuffleNet)."""

from __future__ import annotations

from typing import Literal

from se_design import graph as g
from se_design.errors import SpecError
from se_design.families.base import BlockSpec
from se_design.validated import PosInt


class Shuffle(BlockSpec):
    """Channel shuffle (ShuffleNet): no parameters, no FLOPs."""

    kind: Literal["shuffle"] = "shuffle"
    groups: PosInt

    def expand(self, cin: int, where: str) -> g.Node:
        if cin % self.groups:
            raise SpecError(f"channel shuffle in {self.groups} groups at {where} needs channels "
                            f"divisible by {self.groups}, not {cin}.")
        return g.Shuffle(self.groups)
