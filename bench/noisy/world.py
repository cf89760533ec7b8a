"""The world a procedure searches: every design of a space with its exact costs, its true
accuracy under a landscape, and measurements of it that are common random numbers across
procedures (seed j of design i in repetition r is the same number whoever trains it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from se_design.search.factors import Factors, se_factors
from se_design.search.space import Design, Problem

from .landscapes import TableLandscape, unit_hash
from .sim import Truth, all_designs, costs


@dataclass
class World:
    problem: Problem
    land: object  # a Landscape or a TableLandscape
    noise: float  # seed std (a fraction) where the landscape draws no rows
    name: str = ""
    designs: list[Design] = field(init=False)
    factors: Factors = field(init=False)

    def __post_init__(self):
        p, v = self.problem, self.problem.space.variables
        self.designs = all_designs(p)
        self.factors = se_factors(p.stages, v.r, v.variant, v.squeeze, v.gate)
        self.params = [self._params(d) for d in self.designs]  # as a study stores them
        self.codes = self.factors.encode(self.params)
        self.index = {tuple(c): i for i, c in enumerate(self.codes)}
        self.by_label = {d.label(): i for i, d in enumerate(self.designs)}
        self.cost = np.array([costs(p, d)[0] for d in self.designs], dtype=float)
        self.violation = np.array([max(p.violations(*costs(p, d)).values(), default=0.0)
                                   for d in self.designs])
        self.feasible = self.violation <= 0
        self.true = np.array([self.land.acc(d, p) for d in self.designs])
        self.epochs = p.space.proxy.train.get("epochs", 10)
        self.best = float(self.true[self.feasible].max())

    def _params(self, design: Design) -> dict:
        v = self.problem.space.variables
        out = {"squeeze": v.squeeze[0], "gate": v.gate[0]}
        for s, se in design.se.items():
            out[f"r_{s}"] = "none" if se is None else str(se.r)
            if se is not None:
                out[f"variant_{s}"] = se.variant
        return out

    def of_params(self, params: dict) -> int:
        """The design of a trial's params (values of unused variables ignored)."""
        return self.index[tuple(self.factors.encode([params])[0])]

    def measure(self, i: int, seed: int, rep: int) -> float:
        """Seed `seed`'s final accuracy of design i in repetition `rep`."""
        if isinstance(self.land, TableLandscape) and self.land.seeded:
            return self.land.draw(self.designs[i], seed, rep)
        key = int(1e6 * (1 + unit_hash(self.designs[i].label())))
        return self.true[i] + self.noise * np.random.default_rng([rep, key, seed]).standard_normal()

    def table_noise(self) -> float:
        """The table's pooled seed std."""
        rows = [np.asarray(r) for r in self.land.rows.values() if len(r) > 1]
        return float(np.sqrt(np.mean([r.var(ddof=1) for r in rows])))

    def truth(self, rep: int) -> Truth:
        """The per-epoch simulated trainer of the rung-based procedures, its last epoch this
        world's measurement."""
        return WorldTruth(self, rep)


class WorldTruth(Truth):
    """Per-epoch curves ending at the world's measurement of that seed; earlier epochs
    lower, noisier and biased per design as in Truth (rungs rank imperfectly)."""

    def __init__(self, world: World, rep: int):
        super().__init__(world.problem, world.noise or world.table_noise(),
                         np.random.default_rng(10_000 + rep), world.land)
        self.world, self.rep = world, rep

    def acc(self, design: Design) -> float:
        return float(self.world.true[self.world.by_label[design.label()]])

    def __call__(self, design, seed, on_epoch):
        final = self.world.measure(self.world.by_label[design.label()], seed, self.rep)
        curve = []
        for e in range(1, self.epochs + 1):
            left = 1 - e / self.epochs
            bias = 0.015 * left * unit_hash(f"{design.label()}@{e}")
            curve.append(final * (0.6 + 0.4 * e / self.epochs) + bias
                         + self.noise * left * self.rng.standard_normal())
        for e, a in enumerate(curve, 1):
            on_epoch(e, a)
        return curve

