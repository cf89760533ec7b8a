"""The cost-only frontier of a whole space, in memory: the most SE blocks each params/FLOPs
level allows, with the budgets applied.

An SE block changes the params and FLOPs of its own block only, so a design's cost is the
plain network's plus one term per stage (per block with per-block switches). The frontier is
built stage by stage, keeping only the non-dominated partial sums: a partial design that has
fewer SE blocks and costs more than another can never complete to a better design, nor to a
feasible one the other's completion misses (budgets are upper bounds). A few hundred costings
replace one per design (SE-ResNet-50's space has 83,521 designs)."""

from __future__ import annotations

from typing import NamedTuple

from se_design.cost import cost
from se_design.search import pareto
from se_design.search.space import Design, Problem


class Point(NamedTuple):
    se_blocks: int
    params: int  # added to the plain network's
    flops: int
    label: tuple[str, ...]  # one label per stage


def frontier(problem: Problem) -> list[Point]:
    """Non-dominated designs of the whole space (costs are totals), cheapest first."""
    v = problem.space.variables
    found: list[Point] = []
    for squeeze in v.squeeze:
        for gate in v.gate:
            partial = [Point(0, 0, 0, ())]
            for stage in problem.stages:
                options = _stage_options(problem, stage, squeeze, gate)
                partial = _front([_add(a, b) for a in partial for b in options])
            found += partial
    plain = (problem.plain_params, problem.plain_flops)
    return sorted((p._replace(params=p.params + plain[0], flops=p.flops + plain[1])
                   for p in _front(found)), key=lambda p: (p.params, p.flops))


def _stage_options(problem: Problem, stage: str, squeeze: str, gate: str) -> list[Point]:
    """The non-dominated choices for one stage: no SE, or each r and variant (with
    per-block switches, each subset of its blocks)."""
    v, base = problem.space.variables, _costs(problem, Design({}))
    options = [Point(0, 0, 0, (f"{stage}:-",))]
    for r in (x for x in v.r if x != "none"):
        for variant in v.variant:
            se = v.se(r, variant, squeeze, gate)  # the space's preset: its width, rounding, gate
            label = f"{stage}:{Design({stage: se}).label().partition(':')[2]}"
            n = problem.blocks(stage)
            if not v.per_block:
                p, f = _delta(problem, Design({stage: se}), base)
                options.append(Point(n, p, f, (label,)))
                continue
            subsets = [Point(0, 0, 0, ())]
            for i in range(n):  # block i alone: all others of the stage switched off
                off = frozenset((stage, j) for j in range(n) if j != i)
                p, f = _delta(problem, Design({stage: se}, off), base)
                subsets = _front(subsets + [_add(s, Point(1, p, f, ())) for s in subsets])
            options += [Point(s.se_blocks, s.params, s.flops,
                              (f"{label}[{s.se_blocks}/{n} blocks]",)) for s in subsets]
    return _front(options)


def _costs(problem: Problem, design: Design) -> tuple[int, int]:
    c = cost(design.apply(problem.target), problem.space.convention)
    return c.params, c.flops


def _delta(problem: Problem, design: Design, base: tuple[int, int]) -> tuple[int, int]:
    p, f = _costs(problem, design)
    return p - base[0], f - base[1]


def _add(a: Point, b: Point) -> Point:
    return Point(a.se_blocks + b.se_blocks, a.params + b.params, a.flops + b.flops,
                 a.label + b.label)


def _front(points: list[Point]) -> list[Point]:
    """Points no other point beats (more SE blocks, fewer params, fewer FLOPs); of equal
    points, the first."""
    return pareto.front(points, lambda p: p[:3], (1, -1, -1), ties=False)
