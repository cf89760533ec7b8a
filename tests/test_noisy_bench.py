"""The simulation benchmark's diagnostic rungs (bench/noisy_search.py --cost-prior): rungs
that stop on cost alone must stop designs that lead every cheaper one, which the single-seed
rule (any lead) never does."""

import importlib.util
import json
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


# --- the benchmark against the anchors (bench/noisy): --truth, landscapes, JSON --------------

from noisy.landscapes import LANDSCAPES, TableLandscape, own_term
from noisy.sim import costs
from noisy.world import World

SPACE_3x3 = REPO / "results/truth/digits_3x3.yaml"


def write_truth(path: Path, seeds: int | None) -> dict[str, float]:
    """A --truth CSV over the 27-design space, r_stage columns only (variant and squeeze are
    single-choice, so omitted); unused cells empty is exercised by the 'none' rows."""
    import itertools

    lines, mean = ["r_stage1,r_stage2,r_stage3" + (",seed" if seeds else "") + ",accuracy"], {}
    for combo in itertools.product(["none", "4", "16"], repeat=3):
        base = 0.9 + 0.01 * sum(c != "none" for c in combo)
        for s in range(seeds or 1):
            acc = base + (s / 1000 if seeds else 0)
            lines.append(",".join(combo) + (f",{s}" if seeds else "") + f",{acc}")
        mean[combo] = base + ((seeds - 1) / 2000 if seeds else 0)
    path.write_text("\n".join(lines) + "\n")
    return mean


def test_truth_without_seed_column_adds_noise_and_costs_from_space(tmp_path):
    problem = load_space(str(SPACE_3x3))
    write_truth(tmp_path / "t.csv", None)
    world = World(problem, TableLandscape(tmp_path / "t.csv", problem), 0.01, "t")
    assert len(world.designs) == 27
    full = world.by_label["stage1:16 stage2:16 stage3:16"]
    assert world.true[full] == pytest.approx(0.93)
    assert world.cost[full] == costs(problem, world.designs[full])[0]
    draws = [world.measure(full, s, rep=0) for s in range(200)]
    assert np.std(draws) == pytest.approx(0.01, rel=0.2)
    assert world.measure(full, 3, rep=1) == world.measure(full, 3, rep=1)  # common numbers


def test_truth_with_seed_column_draws_rows(tmp_path):
    problem = load_space(str(SPACE_3x3))
    write_truth(tmp_path / "t.csv", seeds=4)
    world = World(problem, TableLandscape(tmp_path / "t.csv", problem), 0.0, "t")
    none = world.by_label["stage1:- stage2:- stage3:-"]
    rows = {0.9 + s / 1000 for s in range(4)}
    assert world.true[none] == pytest.approx(0.9015)
    for rep in range(3):
        got = [world.measure(none, s, rep) for s in range(4)]
        assert set(got) == rows  # seeds 0-3 draw the four rows, each once
    assert world.table_noise() == pytest.approx(np.std([0, 1, 2, 3], ddof=1) / 1000)


def test_r_by_stage_best_r_is_channels_over_four():
    problem = load_space(str(REPO / "results/proxy_bias/proxy_base.yaml"))
    world = World(problem, LANDSCAPES["r-by-stage"], 0.0)
    land = LANDSCAPES["r-by-stage"]
    for k, stage in enumerate(problem.stages):  # channels 16, 32, 64: r = 4, 8, 16
        one = [d for d in world.designs if [s is not None for s in d.se.values()]
               == [j == k for j in range(3)] and d.se[stage].variant == "standard"]
        best = max(one, key=lambda d: land.gains(d, problem)[k])
        assert best.se[stage].r == (4, 8, 16)[k]
        assert land.gains(best, problem)[k] == pytest.approx(0.004)


def test_interaction_and_saturation_break_additivity():
    problem = load_space(str(REPO / "results/proxy_bias/proxy_base.yaml"))
    world = {k: World(problem, LANDSCAPES[k], 0.0) for k in ("paper", "interact", "saturate")}
    full = world["paper"].by_label["stage1:16 stage2:16 stage3:16"]
    plain = world["paper"].by_label["stage1:- stage2:- stage3:-"]
    own = own_term(world["paper"].designs[full]) - own_term(world["paper"].designs[plain])
    gap = {k: w.true[full] - w.true[plain] - own for k, w in world.items()}  # structure only
    assert gap["paper"] == pytest.approx(0.010)
    assert gap["interact"] == pytest.approx(0.010 - 0.008)
    assert gap["saturate"] == pytest.approx(0.005 * np.tanh(2.0))


def test_json_keys(tmp_path, capsys, monkeypatch):
    write_truth(tmp_path / "t.csv", seeds=2)
    monkeypatch.setattr(sys, "argv", [
        "noisy_search.py", "--space", str(SPACE_3x3), "--truth", str(tmp_path / "t.csv"),
        "--procedures", "single-seed,random,model", "--reps", "2", "--budget", "90", "--json"])
    ns.main()
    out = json.loads(capsys.readouterr().out)
    run_keys = {"landscape", "procedure", "regret", "regret_ci95", "hv_regret",
                "false_front_rate", "coverage", "epochs"}
    assert {r["procedure"] for r in out["runs"]} == {"single-seed", "random", "model"}
    assert all(run_keys <= set(r) for r in out["runs"])
    assert {p["procedure"] for p in out["paired"]} == {"single-seed", "random"}
    assert all({"landscape", "procedure", "vs", "diff", "ci95"} <= set(p) and p["vs"] == "model"
               for p in out["paired"])


# --- `tool` (the tool's model sampler through its Objective) and `ax` ------------------------

from noisy import procedures
from noisy.procedures import PROCEDURES

from se_design.search import report
from se_design.search.records import TrialRecord

BASE = REPO / "results/proxy_bias/proxy_base.yaml"


def check_outcome(world, out, budget: int, overrun: int, rep: int) -> None:
    """The budget spent (up to `overrun` epochs over, as the tool's loop allows), a feasible
    export among the designs it trained, and the world's own numbers (common random numbers)."""
    assert budget <= out.epochs <= budget + overrun
    assert world.feasible[out.export] and out.export in {i for i, _, _ in out.measured}
    assert all(world.feasible[i] for i in out.front)
    assert all(a == world.measure(i, s, rep) for i, s, a in out.measured)


def test_tool_runs_the_model_sampler_as_the_search_does():
    world = World(load_space(str(BASE)), LANDSCAPES["paper"], 0.016, "paper")
    out = PROCEDURES["tool"](world, 180, rep=1)
    check_outcome(world, out, 180, 3 * world.epochs, rep=1)  # racing may add 2 seeds at the end
    refs = [world.of_params(p) for p in world.problem.references()]
    seeds = {i: {s for j, s, _ in out.measured if j == i} for i in refs}
    assert all(seeds[i] == {0, 1, 2} for i in refs)  # the references on 3 seeds
    space = world.problem.space.model_copy(update={"seeds": 1, "max_seeds": 3})
    study = procedures._tool_search(world, 180, 1, "model", "evidence", space, space_stored=True)
    assert "search space" not in str(report.fit_model(study))  # the report can use its model
    recs = [TrialRecord.of(t) for t in study.trials]
    assert all(r.reference for r in recs[:2])  # trained first
    assert all(r.proposal for r in recs[2:])  # every other design the model sampler's


def test_ax_spends_the_budget_and_exports_a_feasible_design():
    pytest.importorskip("ax")
    world = World(load_space(str(BASE)), LANDSCAPES["paper"], 0.016, "paper")
    out = PROCEDURES["ax"](world, 8 * world.epochs, rep=0)  # Sobol, then 3 model-based
    check_outcome(world, out, 8 * world.epochs, 0, rep=0)
