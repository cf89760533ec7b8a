"""Analytic params and FLOPs per layer, per stage and in total, from the spec alone.

Unit: one multiply-add = 1 FLOP (the SE paper's and fvcore's unit), batch size 1.
This module must not import torch: it is what the search calls thousands of times.

A convention is a table from graph primitive to counting function, as fvcore's handle table:
- fvcore: exactly what fvcore.nn.FlopCountAnalysis counts on the model build.py makes, in
  eval mode: conv and linear multiply-adds (bias ignored), BatchNorm as 2 per element (scale
  and shift), adaptive average pooling as 1 per input element; nothing for ReLU, sigmoid,
  tanh, the SE multiply, residual scaling and adds, max/avg windowed pooling or adaptive
  max pooling.
- paper: multiply-adds of convolutions and fully connected layers plus the SE squeeze (1 per
  input element, avg or max), which reproduces the SE paper's GFLOPs; BatchNorm is taken as
  folded into the convs, and the classifier's global pooling is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from se_design import blocks
from se_design import graph as g
from se_design.spec import Arch, SpecError


def _conv_flops(n: g.Conv, i: g.Shape, o: g.Shape) -> int:
    return n.cout * (n.cin // n.groups) * n.hw[0] * n.hw[1] * o[1] * o[2]


def _linear_flops(n: g.Linear, i: g.Shape, o: g.Shape) -> int:
    return n.cin * n.cout


def _per_input_element(n, i: g.Shape, o: g.Shape) -> int:
    return i[0] * i[1] * i[2]


def _bn_flops(n: g.BN, i: g.Shape, o: g.Shape) -> int:
    return 2 * i[0] * i[1] * i[2]


def _avg_squeeze(n: g.Squeeze, i: g.Shape, o: g.Shape) -> int:
    return _per_input_element(n, i, o) if n.op == "avg" else 0


CONVENTIONS = {
    "fvcore": {g.Conv: _conv_flops, g.Linear: _linear_flops, g.BN: _bn_flops,
               g.GlobalPool: _per_input_element, g.Squeeze: _avg_squeeze},
    "paper": {g.Conv: _conv_flops, g.Linear: _linear_flops, g.Squeeze: _per_input_element},
}


# Trainable parameters per leaf kind (BN running statistics are buffers, not parameters);
# kinds not listed have none.
PARAMS = {
    g.Conv: lambda n: n.cout * (n.cin // n.groups) * n.hw[0] * n.hw[1] + (n.cout if n.bias else 0),
    g.BN: lambda n: 2 * n.c,
    g.Linear: lambda n: n.cin * n.cout + n.cout,
}


def _zero(*_) -> int:
    return 0


class Layer(NamedTuple):  # a tuple: built hundreds of times per cost() call
    path: str
    op: str
    out_shape: g.Shape
    params: int
    flops: int
    se: bool  # part of an SE module


@dataclass(frozen=True, slots=True)
class Unit:
    """The cost of one block (or of the head): layers with block-relative paths, totals."""

    layers: tuple[Layer, ...]
    out: g.Shape
    params: int
    flops: int
    se_params: int
    se_closed_form: float  # the paper's 2/r * C^2 (no biases)


@dataclass
class Group:
    """One row of the per-stage table: the stem, a stage, or the head."""

    name: str
    blocks: int
    channels: int
    r: str  # the stage's reduction ratios, "-" without SE
    units: list[tuple[str, Unit]]  # (module path, unit)

    def total(self, attr: str):
        return sum(getattr(u, attr) for _, u in self.units)

    params = property(lambda self: self.total("params"))
    flops = property(lambda self: self.total("flops"))
    se_params = property(lambda self: self.total("se_params"))
    se_closed_form = property(lambda self: self.total("se_closed_form"))


@dataclass
class Cost:
    arch: str
    convention: str
    resolution: int
    groups: list[Group]

    def total(self, attr: str):
        return sum(gr.total(attr) for gr in self.groups)

    params = property(lambda self: self.total("params"))
    flops = property(lambda self: self.total("flops"))
    se_params = property(lambda self: self.total("se_params"))
    se_closed_form = property(lambda self: self.total("se_closed_form"))

    def layers(self) -> list[Layer]:
        """Every layer with its full module path (as in the built torch model)."""
        return [la._replace(path=f"{path}.{la.path}")
                for gr in self.groups for path, u in gr.units for la in u.layers]


def _unit(node: g.Node, shape: g.Shape, convention: str, se=None) -> Unit:
    table = CONVENTIONS[convention]
    rows: list[g.Row] = []
    out = g.walk(node, shape, "", rows)
    layers = tuple(Layer(p, type(n).__name__, o, PARAMS.get(type(n), _zero)(n),
                         table.get(type(n), _zero)(n, i, o), ".se." in f".{p}.")
                   for p, n, i, o in rows)
    closed = 0.0
    if se is not None:
        c = next(la.out_shape[0] for la in layers if la.path.endswith("se.fc2"))
        closed = 2 * c * c / se.r
    return Unit(layers, out, sum(la.params for la in layers), sum(la.flops for la in layers),
                sum(la.params for la in layers if la.se), closed)


_UNITS: dict = {}


def block_unit(b, shape: g.Shape, convention: str, where: str) -> Unit:
    """Cost of one spec block on an input shape. Memoised without the position, so the
    repeated blocks of a stage, and the thousands of specs a search costs, share work."""
    key = (b, shape, convention)
    unit = _UNITS.get(key)
    if unit is None:
        if len(_UNITS) > 100_000:
            _UNITS.clear()
        unit = _UNITS[key] = _unit(blocks.block(b, shape[0], where)[0], shape, convention,
                                   getattr(b, "se", None))
    return unit


def cost(arch: Arch, convention: str = "fvcore") -> Cost:
    """Per-layer, per-stage and total cost of `arch` under `convention` (see module doc)."""
    if convention not in CONVENTIONS:
        raise SpecError(f"unknown convention {convention!r}; use one of {', '.join(CONVENTIONS)}.")
    shape: g.Shape = (arch.in_chans, arch.resolution, arch.resolution)
    groups = []
    for name, specs in blocks.parts(arch):
        units = []
        for i, b in enumerate(specs):
            units.append((f"{name}.{i}", block_unit(b, shape, convention, f"{name}.{i}")))
            shape = units[-1][1].out
        rs = sorted({b.se.r for b in specs if getattr(b, "se", None)})
        groups.append(Group(name, len(specs), shape[0], "/".join(map(str, rs)) or "-", units))
    head = _unit(blocks.head(arch, shape), shape, convention)
    groups.append(Group("head", 0, head.out[0], "-", [("head", head)]))
    return Cost(arch.name, convention, arch.resolution, groups)
