"""Block families: one module each, registered by subclassing `BlockSpec`.

Every module in this package is imported here, so a new family is one new module: its
spec class (fields and `kind`), `expand` (layer graph), `se_slots`, and, where they differ
from the defaults, `out_channels` and `total_stride`. The spec's `Block` union, the cost,
the builder and the search all find families through `FAMILIES`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Union

from pydantic import Field

from se_design.families.base import FAMILIES, BlockSpec, block, sequence, sequence_channels

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base":
        importlib.import_module(f"{__name__}.{_m.name}")

Block = Annotated[Union[tuple(FAMILIES.values())], Field(discriminator="kind")]  # noqa: UP007
for _cls in FAMILIES.values():  # families holding blocks (branches) refer to `Block`
    _cls.model_rebuild(_types_namespace={"Block": Block})

SE_VARIANTS: dict[str, tuple[str, ...]] = {k: c.se_slots for k, c in FAMILIES.items() if c.se_slots}

__all__ = ["FAMILIES", "SE_VARIANTS", "Block", "BlockSpec", "block", "sequence",
           "sequence_channels"]
