"""Where the `tool` procedure's epochs go, and what the rung rule would cost it: per
repetition, the epochs on the references, on the model sampler's initial design and after it,
and on re-seeds, how many designs it finished and whether the tool's accuracy model can be
fitted to them at the end (the sampler's and the report's); then its regret (the model sampler
runs no rungs) against the same search with the space's rungs turned on under the model
sampler, and with the designs those rungs stop in the sampler's model too (paired), and where
those variants' epochs go. A diagnostic of
bench/noisy/procedures.py's `tool`, not a procedure.

Run: python bench/noisy/tool_spend.py [--landscape proxy6] [--noise 1.6] [--reps 40]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from noisy.bench import mean_ci
from noisy.landscapes import LANDSCAPES
from noisy.procedures import _tool_search
from noisy.world import World
from se_design.search import effects, report
from se_design.search.budget import Budget
from se_design.search.model_sampler import ModelSampler
from se_design.search.records import TrialRecord
from se_design.search.space import load_space

REPO = Path(__file__).resolve().parents[2]
SHARES = ("designs finished", "stopped designs linked", "stopped designs left out",
          "sampler's model fits at the end (share)",
          "report's model fits at the end (share)")  # not epochs


def spend(study, n_initial: int) -> dict[str, int]:
    """Epochs by where they went; the initial design is the first n_initial new designs."""
    out = dict.fromkeys(["references", "initial design", "after it", "stopped by rungs",
                         "re-seeds"], 0)
    new = 0
    for t in study.trials:
        rec = TrialRecord.of(t)
        if rec.reference:
            out["references"] += rec.epochs_run
            continue
        if rec.reused_from is not None:
            out["re-seeds"] += rec.epochs_run
            continue
        new += 1
        out["initial design" if new <= n_initial else "after it"] += rec.epochs_run
        if t.state == TrialState.PRUNED:
            out["stopped by rungs"] += rec.epochs_run
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    out["designs finished"] = len({TrialRecord.of(t).design for t in done})
    data = effects.measurements(study)  # stopped designs linked, or left out for want of a link
    out["stopped designs linked"], out["stopped designs left out"] = len(data.stopped), data.unlinked
    # the sampler's own fit (what its next proposal would use) and the report's
    out["sampler's model fits at the end (share)"] = study.sampler._fit(
        study, study.get_trials(deepcopy=False)) is not None
    out["report's model fits at the end (share)"] = not isinstance(report.fit_model(study), str)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default=str(REPO / "results/proxy_bias/proxy_base.yaml"))
    ap.add_argument("--landscape", default="proxy6")
    ap.add_argument("--noise", type=float, default=1.6)
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--budget", type=int, default=180)
    args = ap.parse_args()
    world = World(load_space(args.space), LANDSCAPES[args.landscape], args.noise / 100,
                  args.landscape)
    space = world.problem.space.model_copy(update={"seeds": 1, "max_seeds": 3})
    sampler = ModelSampler(dataclasses.replace(world.problem, space=space),
                           Budget(epochs=args.budget))
    n_initial = len(sampler._initial_design())  # as many in every repetition
    variants = {"no rungs (the tool)": "model", "rungs": WithRungs,
                "rungs, stopped designs in the model": WithRungsStopped}
    rows = {name: [] for name in variants}
    regret = {name: [] for name in variants}
    for rep in range(args.reps):
        for name, chosen in variants.items():
            study = _tool_search(world, args.budget, rep, chosen, "evidence", space, True)
            pick = report.pick(study, None, "best-under-budget")
            design = world.by_label[TrialRecord.of(pick).design]
            regret[name].append(world.best - world.true[design])
            rows[name].append(spend(study, n_initial))
    print(f"{args.landscape}, noise {args.noise}, {args.reps} repetitions, budget "
          f"{args.budget} epochs; initial design {n_initial} designs beyond the references")
    for name in variants:
        print(f" {name}:")
        for k in rows[name][0]:
            print(f"  {'epochs ' * (k not in SHARES)}{k}: "
                  f"{np.mean([r[k] for r in rows[name]]):.2f}")
        m, h = mean_ci(regret[name])
        print(f"  regret: {100 * m:.2f} ± {100 * h:.2f} points")
    tool = regret["no rungs (the tool)"]
    for name in list(variants)[1:]:
        m, h = mean_ci([a - b for a, b in zip(regret[name], tool)])
        print(f" {name} minus no rungs (paired): {100 * m:+.2f} ± {100 * h:.2f}")


class WithRungs(ModelSampler):
    """The model sampler with the space's rung rule on (the tool turns it off)."""

    stops_early = True


class WithRungsStopped(WithRungs):
    """WithRungs, its model also fitted to the designs the rungs stopped, linked to their
    final accuracy as `effects` links them (se_design.search.stopped)."""

    def _measurements(self, study, trials):
        return super()._measurements(study, trials) + effects.measurements(study).stopped


if __name__ == "__main__":
    main()
