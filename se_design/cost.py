"""Analytic params and FLOPs per layer, per stage and in total, from the spec alone.

Unit: one multiply-add = 1 FLOP (the SE paper's and fvcore's unit), batch size 1.
This module must not import torch: it is what the search calls thousands of times.

A convention is a table from graph primitive to counting function, as fvcore's handle table:
- fvcore: exactly what fvcore.nn.FlopCountAnalysis counts on the model build.py makes, in
  eval mode: conv and linear multiply-adds (bias ignored), BatchNorm as 2 per element (scale
  and shift), adaptive average pooling as 1 per input element; nothing for ReLU, sigmoid,
  tanh, the SE multiply, residual adds, max/avg windowed pooling or adaptive max pooling.
- paper: multiply-adds of convolutions and fully connected layers plus the SE squeeze (1 per
  input element, avg or max), which reproduces the SE paper's GFLOPs; BatchNorm is taken as
  folded into the convs, and the classifier's global pooling is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from se_design import blocks
from se_design import graph as g
from se_design.spec import Arch, SpecError


def _conv_flops(n: g.Conv, i: g.Shape, o: g.Shape) -> int:
    return n.cout * (n.cin // n.groups) * n.k * n.k * o[1] * o[2]


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


def params(n: g.Leaf) -> int:
    """Trainable parameters (BN running statistics are buffers, not parameters)."""
    if isinstance(n, g.Conv):
        return n.cout * (n.cin // n.groups) * n.k * n.k + (n.cout if n.bias else 0)
    if isinstance(n, g.BN):
        return 2 * n.c
    if isinstance(n, g.Linear):
        return n.cin * n.cout + n.cout
    return 0


@dataclass(frozen=True, slots=True)
class Layer:
    path: str
    op: str
    out_shape: g.Shape
    params: int
    flops: int
    se: bool  # part of an SE module


@dataclass
class Group:
    """One row of the per-stage table: the stem, a stage, or the head."""

    name: str
    blocks: int = 0
    channels: int = 0
    r: str = "-"
    se_closed_form: float = 0.0  # the paper's 2/r * C^2 per SE block (no biases)
    se_params: int = 0  # exact, with biases
    params: int = 0
    flops: int = 0
    layers: list[Layer] = field(default_factory=list)


@dataclass
class Cost:
    arch: str
    convention: str
    resolution: int
    groups: list[Group]

    @property
    def params(self) -> int:
        return sum(gr.params for gr in self.groups)

    @property
    def flops(self) -> int:
        return sum(gr.flops for gr in self.groups)

    @property
    def se_params(self) -> int:
        return sum(gr.se_params for gr in self.groups)

    @property
    def se_closed_form(self) -> float:
        return sum(gr.se_closed_form for gr in self.groups)

    def layers(self) -> list[Layer]:
        return [la for gr in self.groups for la in gr.layers]


@lru_cache(maxsize=65536)
def _layers(node: g.Node, shape: g.Shape, path: str, convention: str) -> tuple[tuple[Layer, ...], g.Shape]:
    """Costed layers of one block; cached per (block graph, input shape)."""
    table = CONVENTIONS[convention]
    rows: list[g.Row] = []
    out = g.walk(node, shape, path, rows)
    layers = tuple(
        Layer(p, type(n).__name__, o, params(n), table[type(n)](n, i, o) if type(n) in table else 0,
              ".se." in f".{p}.")
        for p, n, i, o in rows)
    return layers, out


def _group(name: str, items, shape: g.Shape, convention: str, arch_blocks=()) -> tuple[Group, g.Shape]:
    gr = Group(name)
    rs = set()
    for (bname, node), b in zip(items, arch_blocks or [None] * len(items)):
        layers, shape = _layers(node, shape, f"{name}.{bname}", convention)
        gr.layers.extend(layers)
        se = getattr(b, "se", None)
        if se is not None:
            rs.add(se.r)
            c = next(la.out_shape[0] for la in layers if la.path.endswith("se.fc2"))
            gr.se_closed_form += 2 * c * c / se.r
    gr.blocks = len(arch_blocks)
    gr.channels = shape[0]
    gr.r = "/".join(map(str, sorted(rs))) or "-"
    gr.params = sum(la.params for la in gr.layers)
    gr.flops = sum(la.flops for la in gr.layers)
    gr.se_params = sum(la.params for la in gr.layers if la.se)
    return gr, shape


def cost(arch: Arch, convention: str = "fvcore") -> Cost:
    """Per-layer, per-stage and total cost of `arch` under `convention` (see module doc)."""
    if convention not in CONVENTIONS:
        raise SpecError(f"unknown convention {convention!r}; use one of {', '.join(CONVENTIONS)}.")
    net = blocks.expand(arch)
    parts = dict(net.items)
    shape: g.Shape = (arch.in_chans, arch.resolution, arch.resolution)
    groups = []
    for name, specs in [("stem", arch.stem)] + [(s.name, s.blocks) for s in arch.stages]:
        if name in parts:
            gr, shape = _group(name, parts[name].items, shape, convention, specs)
            groups.append(gr)
    head, _ = _group("head", parts["head"].items, shape, convention)
    return Cost(arch.name, convention, arch.resolution, groups + [head])
