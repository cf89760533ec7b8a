"""The simulation benchmark's diagnostic rungs (bench/noisy_search.py --cost-prior): rungs
that stop on cost alone must stop designs that lead every cheaper one, which the single-seed
rule (any lead) never does."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from se_design.search.space import load_space

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("noisy_search", REPO / "bench/noisy_search.py")
ns = sys.modules["noisy_search"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(ns)


class CostlierIsBetter(ns.Truth):
    """No noise: a design's accuracy grows with its params at every epoch, so a costlier
    design leads every cheaper one at every rung."""

    def curve(self, design):
        return [0.3 + self.params(design) / 1e7] * self.epochs


@pytest.mark.parametrize("stops, stopped", [("any lead", False), ("cost", True)])
def test_cost_alone_rungs_stop_leaders(stops, stopped):
    problem = load_space(str(REPO / "results/proxy_bias/proxy_base.yaml"), {"seeds": 1})
    truth = CostlierIsBetter(problem, 0.0, np.random.default_rng(0))
    study = ns.run_search(problem, truth, budget=60, seed=0, stops=stops)
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert bool(pruned) is stopped
