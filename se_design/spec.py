"""The architecture spec: plain, validated, serialisable data (no torch).

An `Arch` is the single source of truth: the PyTorch model (build.py), the analytic cost
(cost.py) and the exported config (dump/load here) are all functions of it. Input channels
are never written down: each block takes the channels its predecessor produces, so a spec
can be edited (widths, SE settings) without keeping two numbers in step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_serializer,
    model_validator,
)

from se_design.errors import UserError
from se_design.files import read_data, write_text

PosInt = Annotated[int, Field(strict=True, ge=1)]


class SpecError(UserError):
    """A spec or config that cannot describe a network; the message is one sentence."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Block(StrictModel):
    """Base of the block kinds: keeps `kind` in every dump and checks the SE variant."""

    @model_serializer(mode="wrap")
    def _keep_kind(self, handler):
        return {"kind": self.kind} | handler(self)

    @model_validator(mode="after")
    def _se_fits(self):
        check_se_fits(self.kind, getattr(self, "se", None))
        return self


def check_se_fits(kind: str, se: SE | None) -> None:
    if se is not None and se.variant not in SE_VARIANTS[kind]:
        raise SpecError(f"SE variant {se.variant!r} does not fit a {kind} block "
                        f"(allowed: {', '.join(SE_VARIANTS[kind])}).")


class SE(StrictModel):
    """Squeeze-and-Excitation setting of one block.

    Reduced width d = max(1, floor(C / r)) where C is the channel count the SE sees;
    with divisor > 1, d = C / r rounded to a multiple of divisor as timm's
    `make_divisible` does (never below divisor, never more than 10% below C / r).
    """

    @model_serializer(mode="wrap")
    def _keep_r(self, handler):
        return {"r": self.r} | handler(self)

    r: PosInt = 16
    # standard: after the block's last BN, before the residual add; pre: at the start of the
    # residual branch; post: after the add (and its ReLU); identity: on the shortcut branch;
    # 3x3: after the 3x3 conv's activation (depthwise 3x3 for dwsep blocks).
    variant: Literal["standard", "pre", "post", "identity", "3x3"] = "standard"
    # none = the paper's NoSqueeze: the two FCs become 1x1 convs at full resolution.
    squeeze: Literal["avg", "max", "none"] = "avg"
    gate: Literal["sigmoid", "tanh", "relu"] = "sigmoid"
    divisor: PosInt = 1

    def reduced(self, channels: int) -> int:
        if self.divisor == 1:
            return max(1, channels // self.r)
        v, d = channels / self.r, self.divisor
        out = max(d, int(v + d / 2) // d * d)
        return out + d if out < 0.9 * v else out


class Conv(_Block):
    """conv(kernel, stride, groups) -> BN -> activation; VGG layers and stems."""

    kind: Literal["conv"] = "conv"
    out: PosInt
    kernel: PosInt = 3
    stride: PosInt = 1
    groups: PosInt = 1
    act: Literal["relu", "none"] = "relu"
    se: SE | None = None


class Pool(_Block):
    """Windowed max or average pooling; padding is explicit to match Caffe and torch."""

    kind: Literal["pool"] = "pool"
    op: Literal["max", "avg"] = "max"
    kernel: PosInt = 2
    stride: PosInt = 2
    padding: Annotated[int, Field(strict=True, ge=0)] = 0


class Basic(_Block):
    """ResNet basic block: two 3x3 convs; shortcut 'projection' (1x1 conv + BN) when the
    shape changes, or 'pad' (subsample and zero-pad channels: CIFAR ResNet option A)."""

    kind: Literal["basic"] = "basic"
    out: PosInt
    stride: PosInt = 1
    shortcut: Literal["projection", "pad"] = "projection"
    se: SE | None = None


class Bottleneck(_Block):
    """ResNet/ResNeXt bottleneck 1x1 -> 3x3 (grouped) -> 1x1; `width` is the 3x3's channels.

    stride_at '1x1' is the paper's Caffe ResNet (v1); '3x3' is torchvision/timm ("v1.5")."""

    kind: Literal["bottleneck"] = "bottleneck"
    out: PosInt
    width: PosInt
    stride: PosInt = 1
    groups: PosInt = 1
    stride_at: Literal["1x1", "3x3"] = "1x1"
    se: SE | None = None


class DWSep(_Block):
    """MobileNet depthwise-separable block: depthwise kxk -> BN -> ReLU -> 1x1 -> BN -> ReLU."""

    kind: Literal["dwsep"] = "dwsep"
    out: PosInt
    kernel: PosInt = 3
    stride: PosInt = 1
    se: SE | None = None


class Shuffle(_Block):
    """Channel shuffle (ShuffleNet): no parameters, no FLOPs."""

    kind: Literal["shuffle"] = "shuffle"
    groups: PosInt


class Branches(_Block):
    """Parallel branches, each a sequence of blocks (empty = identity), merged by channel
    concatenation (Inception) or addition (residual units), then an optional ReLU."""

    kind: Literal["branches"] = "branches"
    branches: tuple[tuple[Block, ...], ...] = Field(min_length=1)
    merge: Literal["concat", "add"] = "concat"
    act: Literal["relu", "none"] = "none"
    se: SE | None = None


Block = Annotated[
    Conv | Pool | Basic | Bottleneck | DWSep | Shuffle | Branches, Field(discriminator="kind")
]
Branches.model_rebuild()

# Which SE variants make sense for each block kind (pool and shuffle carry no SE).
SE_VARIANTS: dict[str, tuple[str, ...]] = {
    "conv": ("standard", "pre"),
    "basic": ("standard", "pre", "post", "identity", "3x3"),
    "bottleneck": ("standard", "pre", "post", "identity", "3x3"),
    "dwsep": ("standard", "pre", "3x3"),
    "branches": ("standard", "pre"),
}

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
    kinds = set(SE_VARIANTS) | {"pool", "shuffle"}
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in kinds:
            out += f".{part}" if out else str(part)
    return out or "the top level"


def explain(err: ValidationError) -> str:
    e = err.errors()[0]
    where = _where(e["loc"])
    if e["type"] == "extra_forbidden":
        return f"unknown field {where!r} in the architecture spec."
    if e["type"] == "missing":
        return f"the architecture spec is missing the required field {where!r}."
    msg = e["msg"].removeprefix("Value error, ").rstrip(".")
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
    data = to_dict(arch)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)


def loads(text: str, fmt: str = "yaml") -> Arch:
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
    return validate(data)


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


def with_se(arch: Arch, se: SE | None, stages: list[str] | None = None) -> Arch:
    """Copy of `arch` with `se` (None removes SE) on every block of `stages` (default: all)
    that can carry one. The stem is never changed."""
    names = arch.stage_names() if stages is None else stages
    for name in names:
        arch.stage(name)  # unknown stage names fail here with a clear message

    def edit(b):
        if b.kind not in SE_VARIANTS:
            return b
        check_se_fits(b.kind, se)
        return b.model_copy(update={"se": se})  # se is already validated: skip re-validation

    new = tuple(st.model_copy(update={"blocks": tuple(map(edit, st.blocks))})
                if st.name in names else st for st in arch.stages)
    return arch.model_copy(update={"stages": new})
