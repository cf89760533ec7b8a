"""Block families: one module each, registered by subclassing `BlockSpec`.

Every module in this package is imported here, so a new family is one new module: its
spec class (fields and `kind`), `expand` (layer graph), `se_slots`, and, where they differ
from the defaults, `out_channels` and `total_stride`. The spec's `Block` union, the cost,
the builder and the search all find families through `FAMILIES`.
"""

from __future__ import annotations

import importlib
import pkgutil

from se_design.families.base import (
    FAMILIES,
    Block,
    BlockSpec,
    block,
    sequence,
    sequence_channels,
    sequence_stride,
)

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base":
        importlib.import_module(f"{__name__}.{_m.name}")

SE_VARIANTS: dict[str, tuple[str, ...]] = {k: c.se_slots for k, c in FAMILIES.items() if c.se_slots}

__all__ = ["FAMILIES", "SE_VARIANTS", "Block", "BlockSpec", "block", "sequence",
           "sequence_channels", "sequence_stride"]
