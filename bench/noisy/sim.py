"""The simulated trainer and the Optuna-driven search of the noise-aware comparison: a
design's per-epoch accuracies drawn around a landscape's true value, searched through the
tool's own Objective (rungs, racing, records) and scored by what its report claims."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

import numpy as np
import optuna

from se_design.search import report
from se_design.search.budget import Budget
from se_design.search.records import set_study
from se_design.search.space import Design, Problem
from se_design.search.study import Objective, make_sampler
from se_design.spec import SE

from .landscapes import LANDSCAPES, Landscape, unit_hash


class Truth:
    """True accuracy per design and per epoch, and noisy measurements of it."""

    def __init__(self, problem: Problem, noise: float, rng: np.random.Generator,
                 land: Landscape = LANDSCAPES["proxy6"], profile: dict[int, float] | None = None):
        self.problem, self.noise, self.rng, self.land = problem, noise, rng, land
        self.epochs = problem.space.proxy.train.get("epochs", 10)
        self.profile = profile  # epoch -> seed std relative to the last epoch's

    def acc(self, design: Design) -> float:
        return self.land.acc(design, self.problem)

    def curve(self, design: Design) -> list[float]:
        """One seed's accuracies per epoch: rising to the true value, early epochs noisier
        and biased per design (rank fidelity below 1)."""
        out = []
        for e in range(1, self.epochs + 1):
            left = 1 - e / self.epochs  # 0 at the last epoch
            bias = 0.015 * left * unit_hash(f"{design.label()}@{e}")
            sd = self.noise * (self.profile[e] if self.profile else 1 + left)
            out.append(self.acc(design) * (0.6 + 0.4 * e / self.epochs) + bias
                       + sd * self.rng.standard_normal())
        return out

    def __call__(self, design, seed, on_epoch):
        curve = self.curve(design)
        for e, a in enumerate(curve, 1):
            on_epoch(e, a)
        return curve

    def params(self, design: Design) -> int:
        return costs(self.problem, design)[0]


def costs(problem: Problem, design: Design, _cache: dict = {}) -> tuple[int, int]:  # noqa: B006
    """(params, FLOPs) of the design's target, memoised (the simulation asks often)."""
    from se_design.cost import cost

    key = (id(problem), design.label())
    if key not in _cache:
        c = cost(design.apply(problem.target), problem.space.convention)
        _cache[key] = (c.params, c.flops)
    return _cache[key]


def noise_profile(path: str | None, epochs: int) -> dict[int, float] | None:
    """Per epoch, the seed std a `calibrate --json` measured over the last epoch's."""
    if path is None:
        return None
    cal = json.loads(Path(path).read_text())
    if cal["epochs"] != epochs:
        raise SystemExit(f"{path} was measured over {cal['epochs']} epochs, the space trains "
                         f"{epochs}: pass the space it was calibrated on.")
    std = {int(e): v[0] for e, v in cal["epoch_std"].items()}
    return {e: v / std[epochs] for e, v in std.items()}


def all_designs(problem: Problem) -> list[Design]:
    v = problem.space.variables
    choices = [None] + [SE(r=r, variant=var) for r in v.r if r != "none" for var in v.variant]
    return [Design(dict(zip(problem.stages, combo)))
            for combo in itertools.product(choices, repeat=len(problem.stages))]


# How a rung decides, as the calibration the rule reads sets it (epoch_std, rung_fidelity):
# evidence = the shipped rule, from the study's own replicates (no calibration); any lead =
# the single-seed rule, a margin of ~0 and every rung trusted; cost = a seed std of -1, so the
# margin is negative and every design as cheap that reached the rung counts as ahead: the
# rule stops on cost alone, whatever the accuracies.
STOPS = {"evidence": None, "any lead": 1e-9, "cost": -1.0}


def run_search(problem: Problem, truth: Truth, budget: int, seed: int, sampler="nsga2",
               stops: str = "evidence", space_stored: bool = False):
    """The tool's search over `truth` until `budget` epochs are trained. `sampler`: a name
    of the tool's samplers, or a ModelSampler class (a variant, for an ablation).
    `space_stored`: the study records its space as `se-design search` does, so the report
    fits its accuracy model (estimates, front and picks from it); off for the procedures whose
    figures predate that, whose reports use the seed means."""
    # the tool's own sampler; the model sampler also reads the epoch budget (when to re-seed)
    budgets = Budget(epochs=budget)
    chosen = (make_sampler(sampler, seed, problem, budgets) if isinstance(sampler, str)
              else sampler(problem, budgets, seed))
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=chosen)
    set_study(study, objectives=["accuracy", "params"],
              plain={"params": problem.plain_params, "flops": problem.plain_flops})
    if space_stored:
        set_study(study, space=problem.space.model_dump(mode="json"))
    if STOPS[stops] is not None:  # the rungs' noise and fidelity, as a calibration gives them
        rungs = problem.space.early_stopping.rungs
        set_study(study, calibration={
            "epochs": truth.epochs, "seeds": 1, "designs": 0, "seed_std": STOPS[stops],
            "seed_std_df": 100, "epoch_std": {str(e): [STOPS[stops], 100] for e in rungs},
            "rung_fidelity": {str(e): 1.0 for e in rungs}})
    for params in problem.references():
        study.enqueue_trial(params)
    objective = Objective(problem, False, truth, truth.epochs, train_seed=0)

    def stop(st, _):
        if report.epochs_trained(st) >= budget:
            st.stop()

    study.optimize(objective, n_trials=10 * budget, callbacks=[stop])
    return study


def score(study, truth: Truth, noise_aware: bool, best_true: float,
          designs: dict[str, Design]) -> dict:
    """False front rates and regret of one search. The reported front is what the report
    claims: single-seed, its front of single numbers; noise-aware, the front members it
    resolves (distinguishably above every cheaper front member). A member is false when a
    design the search evaluated truly dominates it."""
    rows = report.rows(study)
    true = {r.number: truth.acc(designs[r.design]) for r in rows}
    feasible = [r for r in rows if r.feasible]

    def false_rate(front):
        return statistics.mean(any(true[o.number] > true[f.number] and o.params <= f.params
                                   or true[o.number] >= true[f.number] and o.params < f.params
                                   for o in feasible) for f in front)

    point = [r for r in rows if r.front]
    reported = [r for r in rows if r.resolved] if noise_aware else point
    if noise_aware:
        number = report.pick(study, None, "best-under-budget").number
    else:
        number = max(feasible, key=lambda r: (r.values[0], -r.values[1])).number
    explored = max(true[r.number] for r in feasible)  # the best design it finished
    top_mean = max(feasible, key=lambda r: (r.values[0], -r.values[1])).number
    return {"false": false_rate(reported), "false_point": false_rate(point),
            "reported": len(reported), "regret": best_true - true[number],
            "regret_top_mean": best_true - true[top_mean],
            "explore": best_true - explored, "select": explored - true[number],
            "designs": len(rows), "drawn": len(study.trials), "epochs": report.epochs_trained(study)}
