"""Exact params and FLOPs of many designs at once, from their factor codes.

An SE block changes its own block's cost only (as in se_design.search.frontier), so a design's
cost is the plain target's plus one term per stage (per block, with per-block switches), and
that term depends only on the stage's r and variant and the global squeeze and gate. The terms
are costed once per problem with se_design.cost; a design's cost is then a sum of table
look-ups, vectorised over code rows (se_design.search.factors)."""

from __future__ import annotations

import itertools

import numpy as np

from se_design.cost import cost
from se_design.search.factors import Factors
from se_design.search.space import Design, Problem


class DesignCosts:
    """Per stage (and block), a table (r, variant, squeeze, gate) -> added (params, FLOPs)."""

    def __init__(self, problem: Problem, factors: Factors):
        self.problem, self.factors = problem, factors
        ix = factors.index
        self._global = [ix["squeeze"], ix["gate"]]
        self._stages = []  # (r column, variant column, [(on column or None, table)])
        for s in problem.stages:
            blocks = ([ix[f"on_{s}_{i}"] for i in range(problem.blocks(s))]
                      if problem.space.variables.per_block else [None])
            tables = [(on, self._table(s, None if on is None else i))
                      for i, on in enumerate(blocks)]
            self._stages.append((ix[f"r_{s}"], ix[f"variant_{s}"], tables))

    def _table(self, stage: str, block: int | None) -> np.ndarray:
        """Added params and FLOPs of SE in `stage` (only in `block`, if given) at every
        (r, variant, squeeze, gate) code; r's code 0 (none) adds nothing."""
        p, fs = self.problem, self.factors
        levels = [fs.list[fs.index[n]].levels for n in
                  (f"r_{stage}", f"variant_{stage}", "squeeze", "gate")]
        table = np.zeros([len(lv) for lv in levels] + [2], dtype=np.int64)
        others = frozenset() if block is None else frozenset(
            (stage, j) for j in range(p.blocks(stage)) if j != block)
        for code in itertools.product(*(range(1, len(levels[0])), *map(range, map(len, levels[1:])))):
            r, variant, squeeze, gate = (lv[c] for lv, c in zip(levels, code))
            se = p.space.variables.se(int(r), variant, squeeze, gate)
            c = cost(Design({stage: se}, others, p.space.variables.levels).apply(p.target),
                     p.space.convention)
            table[code] = c.params - p.plain_params, c.flops - p.plain_flops
        return table

    def of(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Params and FLOPs of each code row."""
        codes = np.asarray(codes)
        squeeze, gate = (np.maximum(codes[:, i], 0) for i in self._global)  # -1: no SE anywhere
        total = np.zeros((len(codes), 2), dtype=np.int64)
        for r, variant, tables in self._stages:
            at = (codes[:, r], np.maximum(codes[:, variant], 0), squeeze, gate)
            for on, table in tables:
                added = table[at]
                total += added if on is None else added * (codes[:, on] == 0)[:, None]  # 0: on
        return total[:, 0] + self.problem.plain_params, total[:, 1] + self.problem.plain_flops

    def feasible(self, params: np.ndarray, flops: np.ndarray) -> np.ndarray:
        """Which designs meet every budget (Problem.violations, elementwise)."""
        ok = np.ones(len(params), dtype=bool)
        for v in self.problem.violations(params, flops).values():
            ok &= v <= 0
        return ok
