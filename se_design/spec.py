"""The architecture spec: plain, validated, serialisable data (no torch).

An `Arch` is the single source of truth: the PyTorch model (build.py), the analytic cost
(cost.py) and the exported config (dump/load here) are all functions of it. Input channels
are never written down: each block takes the channels its predecessor produces, so a spec
can be edited (widths, SE settings) without keeping two numbers in step. Block kinds are
the families of se_design.families (one module each); they are re-exported here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from se_design.errors import SpecError, UserError
from se_design.families import FAMILIES, SE_VARIANTS, Block, BlockSpec, base
from se_design.families.branches import Branches
from se_design.families.conv import Conv
from se_design.families.dwsep import DWSep
from se_design.families.mbconv import MBConv
from se_design.families.pool import Pool
from se_design.families.resnet import Basic, Bottleneck
from se_design.families.shuffle import Shuffle
from se_design.files import read_data, write_text
from se_design.se import PRESETS, SE
from se_design.validated import PosInt, StrictModel

__all__ = ["PRESETS", "SE", "SE_VARIANTS", "Arch", "Basic", "Block", "BlockSpec", "Bottleneck",
           "Branches", "Conv", "DWSep", "Head", "MBConv", "Pool", "Shuffle", "SpecError",
           "Stage", "StrictModel", "check_se_fits", "dumps", "explain", "load_config", "loads", "override",
           "save_config", "stage_with_se", "to_dict", "validate", "with_se"]

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
RESERVED_NAMES = ("stem", "head")


class Stage(StrictModel):
    name: Name
    blocks: tuple[Block, ...] = Field(min_length=1)


class Head(StrictModel):
    """Classifier: global average pooling ('avg') or flatten, hidden FC+ReLU(+dropout) layers,
    then the final FC to num_classes."""

    pool: Literal["avg", "flatten"] = "avg"
    hidden: tuple[PosInt, ...] = ()
    act: Literal["relu", "hardswish", "silu"] = "relu"  # after each hidden layer
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class Arch(StrictModel):
    name: str
    resolution: PosInt = 224
    in_chans: PosInt = 3
    num_classes: PosInt = 1000
    stem: tuple[Block, ...] = ()
    stages: tuple[Stage, ...] = Field(min_length=1)
    head: Head = Head()

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise SpecError(f"{self.name} has no stage {name!r}; its stages are {self.stage_names()}.")

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]


def _where(loc: tuple) -> str:
    """('stages', 0, 'blocks', 2, 'bottleneck', 'se', 'r') -> 'stages[0].blocks[2].se.r'."""
    kinds = set(FAMILIES)
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in kinds and not any(c in part for c in "-["):  # union member tags
            out += f".{part}" if out else str(part)
    return out or "the top level"


def explain(err: ValidationError) -> str:
    e = max(err.errors(), key=lambda e: len(e["loc"]))  # the most specific: kernel [1, 0]
    where = _where(e["loc"])
    if e["type"] == "extra_forbidden":
        return f"unknown field {where!r} in the architecture spec."
    if e["type"] == "missing":
        return f"the architecture spec is missing the required field {where!r}."
    msg = e["msg"].removeprefix("Value error, ").rstrip(".")
    if e["type"] in ("tuple_type", "list_type"):  # pydantic's word for our YAML lists
        msg = "expected a list" + (" (nothing is there: is the file cut short?)"
                                   if e["input"] is None else f", not {e['input']!r}")
    return f"bad value at {where!r} in the architecture spec: {msg}."


def validate(data: object) -> Arch:
    """Dict (from JSON/YAML) -> Arch, with a one-sentence SpecError on any problem."""
    if not isinstance(data, dict):
        raise SpecError("an architecture spec must be a mapping with 'name' and 'stages'.")
    try:
        arch = Arch.model_validate(data)
    except ValidationError as err:
        raise SpecError(explain(err)) from None
    names = arch.stage_names()
    dup = {n for n in names if names.count(n) > 1 or n in RESERVED_NAMES}
    if dup:
        raise SpecError(f"stage name {min(dup)!r} is used twice or reserved (stem, head).")
    return arch


def to_dict(arch: Arch) -> dict:
    """Plain data with defaults left out, so configs stay short and readable."""
    return arch.model_dump(mode="json", exclude_defaults=True)


def dumps(arch: Arch, fmt: str = "yaml") -> str:
    import yaml  # here, not at the top: the commands that write no YAML start faster

    data = to_dict(arch)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)


def loads(text: str, fmt: str = "yaml") -> Arch:
    import yaml  # here, not at the top: the commands that read no YAML start faster

    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise SpecError(f"the config is not valid {fmt.upper()}: {str(err).splitlines()[0]}.")
    return validate(data)


def save_config(arch: Arch, path: str | Path) -> None:
    write_text(path, dumps(arch, _fmt(Path(path))), "config file")


def load_config(path: str | Path) -> Arch:
    try:
        data = read_data(path, _fmt(Path(path)), "config file")
    except SpecError:
        raise
    except UserError as err:  # the file could not be read: still a SpecError for callers
        raise SpecError(str(err)) from None
    try:
        return validate(data)
    except SpecError as err:  # which file: --enqueue-config, for one, takes several
        raise SpecError(f"config file '{path}': {err}") from None


def _fmt(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise SpecError(f"config file {str(path)!r} must end in .yaml, .yml or .json.")
    return "json" if suffix == ".json" else "yaml"


def override(arch: Arch, **changes) -> Arch:
    """Copy of `arch` with top-level fields (resolution, num_classes, ...) changed where the
    value is not None, validated again."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return validate(arch.model_dump() | changes) if changes else arch


def check_se_fits(kind: str, se: SE | None) -> None:
    """SpecError when SE variant `se.variant` has no slot in a block of `kind`."""
    base.check_se_fits(FAMILIES[kind], se)


def with_se(arch: Arch, se: SE | None, stages: list[str] | None = None,
            levels: Literal["outer", "inner", "all"] | None = None) -> Arch:
    """Copy of `arch` with `se` (None removes SE) on every block of `stages` (default: all)
    that can carry one. Blocks holding blocks (branches) take it on themselves ('outer'), on
    the blocks inside ('inner'), or both ('all'); by default an SE goes on 'outer' and None
    removes 'all' (nested SEs too: se_shufflenet_v1_g3 -> shufflenet_v1_g3). The stem is
    never changed."""
    levels = levels or ("all" if se is None else "outer")
    names = arch.stage_names() if stages is None else stages
    for name in names:
        arch.stage(name)  # unknown stage names fail here with a clear message
    new = tuple(stage_with_se(st, se, levels) if st.name in names else st for st in arch.stages)
    return arch.model_copy(update={"stages": new})


@lru_cache(maxsize=4096)  # a search puts the same few settings on the same stages over and over
def stage_with_se(stage: Stage, se: SE | None, levels: str) -> Stage:
    """Copy of `stage` with `se` on its blocks (see with_se)."""
    return stage.model_copy(update={"blocks": tuple(b.with_block_se(se, levels)
                                                    for b in stage.blocks)})
