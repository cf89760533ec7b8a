"""Analytic params and FLOPs per layer, per stage and in total, from the spec alone.

Unit: one multiply-add = 1 FLOP (the SE paper's and fvcore's unit), batch size 1.
This module must not import torch: it is what the search calls thousands of times.

A convention is a table from graph primitive to counting function, as fvcore's handle table:
- fvcore: exactly what fvcore.nn.FlopCountAnalysis counts on the model build.py makes, in
  eval mode: conv and linear multiply-adds (bias ignored), BatchNorm as 2 per element (scale
  and shift), adaptive average pooling as 1 per input element; nothing for the activations
  (ReLU, ReLU6, hard-swish, SiLU, sigmoid, hard-sigmoid, tanh), the SE multiply, residual
  scaling and adds, max/avg windowed pooling or adaptive max pooling.
- paper: multiply-adds of convolutions and fully connected layers plus the SE squeeze (1 per
  input element, avg or max), which reproduces the SE paper's GFLOPs; BatchNorm is taken as
  folded into the convs, and the classifier's global pooling is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from se_design import expand as ex
from se_design import graph as g
from se_design.errors import SpecError
from se_design.families import base
from se_design.spec import Arch, stage_with_se


def _conv_flops(n: g.Conv, i: g.Shape, o: g.Shape) -> int:
    return n.weights * o[1] * o[2]


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
    g.Conv: lambda n: n.weights + (n.cout if n.bias else 0),
    g.BN: lambda n: 2 * n.c,
    g.Linear: lambda n: n.cin * n.cout + n.cout,
}


# Per convention, leaf kind -> (params function or None, FLOPs function or None), for the
# kinds that count anything: one lookup per leaf in the walk that counts (graph.Tally).
COUNTERS = {name: {kind: (PARAMS.get(kind), table.get(kind)) for kind in {*PARAMS, *table}}
            for name, table in CONVENTIONS.items()}


class Layer(NamedTuple):  # a tuple: built for every layer when layers are asked for
    path: str
    op: str
    out_shape: g.Shape
    params: int
    flops: int
    se: bool  # part of an SE module


@dataclass(slots=True)
class Unit:
    """The cost of one block (or of the head) on its input shape: totals; its layers are made
    only when asked for, by walking the block again (a search reads the totals alone).
    Memoised and shared, so never changed; not frozen, as a frozen dataclass takes 4x longer
    to make."""

    node: g.Node
    shape: g.Shape  # input
    table: dict  # the convention's counters (COUNTERS)
    out: g.Shape
    params: int
    flops: int
    se_params: int
    ses: tuple[g.SESetting, ...]  # its SE modules, nested ones included

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Its layers, with block-relative paths."""
        rows: list[g.Row] = []
        g.walk(self.node, self.shape, "", rows)
        return tuple(Layer(path, type(leaf).__name__, o, *_counts(leaf, i, o, self.table),
                           se is not None) for path, leaf, i, o, se in rows)

    @property
    def se_closed_form(self) -> int:
        """The paper's 2/r·C² per SE module (2·C·d: FC weights, no biases)."""
        return sum(x.closed_form for x in self.ses)


@dataclass
class Group:
    """One row of the per-stage table: the stem, a stage, or the head."""

    name: str
    blocks: int
    channels: int
    units: list[tuple[str, Unit]]  # (module path, unit)

    def total(self, attr: str):
        return sum(getattr(u, attr) for _, u in self.units)

    params = property(lambda self: self.total("params"))
    flops = property(lambda self: self.total("flops"))
    se_params = property(lambda self: self.total("se_params"))
    se_closed_form = property(lambda self: self.total("se_closed_form"))

    @property
    def rs(self) -> tuple[int, ...]:
        """The distinct reduction ratios of the stage's SE modules (nested ones included)."""
        return tuple(sorted({x.se.r for _, u in self.units for x in u.ses}))

    @property
    def r(self) -> int | None:
        """The stage's reduction ratio; None without SE or when its blocks differ (see rs)."""
        return self.rs[0] if len(self.rs) == 1 else None

    @property
    def r_label(self) -> str:
        return "/".join(map(str, self.rs)) or "-"


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

    @property
    def layers(self) -> list[Layer]:
        """Every layer with its full module path (as in the built torch model)."""
        return [la._replace(path=f"{path}.{la.path}" if la.path else path)
                for gr in self.groups for path, u in gr.units for la in u.layers]

    def table(self) -> str:
        """The per-stage table as plain text (print(cost(arch)) shows it)."""
        rows = [[gr.name, gr.blocks or "", gr.channels, gr.r_label, gr.se_closed_form,
                 gr.se_params, gr.params, gr.flops] for gr in self.groups]
        rows.append(["total", "", "", "", self.se_closed_form, self.se_params, self.params,
                     self.flops])
        return _text(f"{self.arch} at {self.resolution}x{self.resolution}, convention "
                     f"'{self.convention}' (1 multiply-add = 1 FLOP)",
                     ["stage", "blocks", "C", "r", "SE closed form", "SE params", "params",
                      "FLOPs"], rows)

    def layer_rows(self) -> list[list[str]]:
        """Every layer under LAYER_COLUMNS (layer_table() and the CLI's --layers)."""
        return [[la.path, la.op, "x".join(map(str, la.out_shape)), f"{la.params:,}",
                 f"{la.flops:,}", "SE" if la.se else ""] for la in self.layers]

    def layer_table(self) -> str:
        """Every layer as plain text: path, op, output shape, params, FLOPs, SE or not."""
        return _text("", LAYER_COLUMNS, self.layer_rows(), text=(0, 1))

    __str__ = table


LAYER_COLUMNS = ["layer", "op", "output", "params", "FLOPs", "SE"]


def _text(title: str, head: list[str], rows: list[list], text: tuple[int, ...] = (0,)) -> str:
    """A table as plain text by the CLI's renderer, numbers with thousands separators (rich is
    imported here, when a table is printed, so that costing stays fast)."""
    from se_design import tables

    cells = [[f"{x:,}" if isinstance(x, int) else str(x) for x in r] for r in rows]
    return tables.text(tables.Fitted(title, head, cells, text=text))


def _counts(leaf: g.Leaf, i: g.Shape, o: g.Shape, counters: dict) -> tuple[int, int]:
    """(params, FLOPs) of one leaf on input shape i, output o, under a convention's counters."""
    params, flops = counters.get(type(leaf), (None, None))
    return params(leaf) if params else 0, flops(leaf, i, o) if flops else 0


@g.memo
def _unit(node: g.Node, key: tuple[g.Shape, str], where: str) -> Unit:
    """block_unit's cost, counted in one walk of the block; key: (input shape, convention)."""
    shape, convention = key
    tally = g.Tally(COUNTERS[convention])
    out = g.walk(node, shape, where, tally=tally)
    return Unit(node, shape, tally.counters, out, tally.params, tally.flops, tally.se_params,
                tuple(tally.ses))


def block_unit(node: g.Node, shape: g.Shape, convention: str, where: str = "") -> Unit:
    """Cost of one block's graph on an input shape. Memoised without the position, so the
    repeated blocks of a stage, and the thousands of specs a search costs, share work."""
    return _unit(node, (shape, convention), where)


def clear_memos() -> None:
    """Forget every memoised spec edit, expansion, shape and cost (for cold-start benchmarks)."""
    stage_with_se.cache_clear()
    base.clear_memos()
    ex.head_node.cache_clear()
    ex.stage_out.clear()
    _unit.clear()
    _stage_units.clear()


def cost(arch: Arch, convention: str = "fvcore") -> Cost:
    """Per-layer, per-stage and total cost of `arch` under `convention` (see module doc)."""
    _known(convention)

    def stage_out(node: g.Seq, shape: g.Shape, name: str) -> g.Shape:
        # the expansion walks each stage by costing it, so a cold cost walks each block once
        return _stage_units(node, (shape, convention, name))[-1][1].out

    return cost_graph(arch, ex.expand(arch, stage_out), convention)


def _known(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise SpecError(f"unknown convention {convention!r}; use one of {', '.join(CONVENTIONS)}.")


def cost_graph(arch: Arch, net: g.Seq, convention: str) -> Cost:
    """The cost of `net`, the expansion of `arch` (so verify and build share one expansion)."""
    _known(convention)
    shape: g.Shape = (arch.in_chans, arch.resolution, arch.resolution)
    groups = []
    for name, part in net.items:
        if name == "head":
            head = block_unit(part, shape, convention, name)
            groups.append(Group("head", 0, head.out[0], [("head", head)]))
            continue
        units = _stage_units(part, (shape, convention, name))
        shape = units[-1][1].out
        groups.append(Group(name, len(units), shape[0], list(units)))
    return Cost(arch.name, convention, arch.resolution, groups)


@g.memo
def _stage_units(node: g.Seq, key: tuple) -> tuple:
    """((path '<stage>.<i>', unit) per block) of a stage's Seq of blocks, memoised by the node
    and (input shape, convention, stage name), as the blocks' units are, so a search that
    keeps a stage's setting costs it once."""
    shape, convention, name = key
    units, last = [], (None, None, None)  # (node, input, unit): a stage repeats one block node
    for i, child in node.items:
        path = f"{name}.{i}"
        if child is not last[0] or shape != last[1]:
            last = (child, shape, block_unit(child, shape, convention, path))
        units.append((path, last[2]))
        shape = last[2].out
    return tuple(units)
