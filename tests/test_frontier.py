"""The in-memory cost-only frontier equals the front found by costing every design."""

import itertools

import pytest
from conftest import run, write_space

from se_design.cost import cost
from se_design.search.design_costs import DesignCosts
from se_design.search.frontier import frontier
from se_design.search.space import SE, Design, load_space


def brute_front(problem):
    """Every design of the space costed on its own; the non-dominated (SE blocks, params,
    FLOPs) triples."""
    v, stages = problem.space.variables, problem.stages
    per_stage = []
    for s in stages:
        n = problem.blocks(s)
        options = [(None, frozenset())]
        for r, variant in itertools.product([x for x in v.r if x != "none"], v.variant):
            masks = itertools.product([True, False], repeat=n) if v.per_block else [(True,) * n]
            options += [(SE(r=r, variant=variant), frozenset((s, i) for i in range(n)
                                                             if not on[i])) for on in masks]
        per_stage.append(options)
    points = set()
    for combo in itertools.product(*per_stage):
        design = Design({s: se for s, (se, _) in zip(stages, combo)},
                        frozenset().union(*(off for _, off in combo)))
        arch = design.apply(problem.target)
        blocks = sum(b.se is not None for st in arch.stages for b in st.blocks
                     if hasattr(b, "se"))
        c = cost(arch)
        points.add((blocks, c.params, c.flops))
    return {p for p in points if not any(
        q != p and q[0] >= p[0] and q[1] <= p[1] and q[2] <= p[2] for q in points)}


@pytest.mark.parametrize("variables", [
    {"r": ["none", 4, 8, 16], "variant": ["standard", "post"]},  # 7**3 = 343 designs
    {"r": ["none", 16], "variant": ["standard", "identity"], "per_block": True},  # 17**3
])
def test_frontier_equals_brute_force(tmp_path, variables):
    problem = load_space(write_space(tmp_path, variables=variables))
    found = frontier(problem)
    assert {(p.se_blocks, p.params, p.flops) for p in found} == brute_front(problem)
    assert len(found) == len({(p.se_blocks, p.params, p.flops) for p in found})


def test_cost_only_prints_frontier_without_a_study(tmp_path):
    db = tmp_path / "s.db"
    space = write_space(tmp_path, budgets={"params_increase": 0.005})
    res = run("search", "--space", str(space),
              "--cost-only", "--storage", f"sqlite:///{db}", "--json")
    assert res.exit_code == 0, res.output
    assert not db.exists()  # stored only with --store
    assert '"within_budget": false' in res.stdout and '"within_budget": true' in res.stdout


def test_frontier_table_names_only_the_stages_with_se(tmp_path):
    """The text table drops 'stage:-' (no SE there) to fit 80 columns; the JSON keeps all."""
    space = write_space(tmp_path)
    res = run("search", "--space", str(space), "--cost-only")
    assert res.exit_code == 0, res.output
    designs = [line.split("  ")[0] for line in res.output.splitlines()
               if line.startswith(("no SE", "stage"))]
    assert designs[0] == "no SE" and len(designs) > 1  # the cheapest: the plain network
    assert not any(":-" in d for d in designs), designs


def test_frontier_costs_are_designs_of_the_space_with_its_preset(tmp_path):
    # the preset sets the SE width's rounding (mobilenetv3: make-divisible by 8), so each
    # frontier point must cost what one of the space's designs costs (DesignCosts is checked
    # against cost() design by design in test_model_sampler)
    problem = load_space(write_space(tmp_path, variables={
        "r": ["none", 4, 16], "variant": ["standard", "post"], "preset": "mobilenetv3"}))
    factors = problem.factors()
    params, flops = DesignCosts(problem, factors).of(factors.enumerate())
    designs = set(zip(params.tolist(), flops.tolist()))
    points = frontier(problem)
    assert len(points) > 2 and all((p.params, p.flops) in designs for p in points)
