"""Does the accuracy model do better with the designs the rung rule stopped?

Each repetition runs the noise-aware search (NSGA-II, references on 3 seeds, racing, the
noise-aware rungs; the procedure `noise-aware` of procedures.py) with its space stored, so
that its report fits the accuracy model. The same finished study is then read twice: with
the stopped designs linked into the model (se_design.search.stopped), and without them (as
before they were). Paired per study: the regret of `export --pick best-under-budget`, the
coverage of the true main effects by their 95% intervals, and the effects' RMS error
(true effects: the additive projection of the true accuracies, bench.true_effects).

Run: python bench/noisy/stopped_ab.py [--space FILE] [--landscape L,...] [--noise N] [--reps R]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from noisy.bench import Scorer
from noisy.landscapes import LANDSCAPES
from noisy.procedures import _tool_search
from noisy.world import World
from se_design.search import report, stopped
from se_design.search.records import TrialRecord
from se_design.search.space import load_space

REPO = Path(__file__).resolve().parents[2]
LINKED = stopped.measurements


def left_out(gone, done, sigma2):
    """The model without stopped designs: every one left out."""
    return [], len(gone)


def read(world: World, scorer: Scorer, study: optuna.Study, linked: bool) -> dict:
    stopped.measurements = LINKED if linked else left_out
    try:
        fitted = report.fit_model(study)
        pick = report.pick(study, None, "best-under-budget")
    finally:
        stopped.measurements = LINKED
    out = {"regret": 100 * (world.best - world.true[world.by_label[TrialRecord.of(pick).design]])}
    if isinstance(fitted, str):
        return out | {"fitted": False}
    f = world.factors
    err = [e.effect - scorer.effects[(f.index[e.factor],
                                      f.list[f.index[e.factor]].levels.index(e.level))]
           for e in fitted.model.effects()]
    return out | {"fitted": True, "stopped": len(fitted.data.stopped),
                  "coverage": scorer.effect_coverage(fitted.model),
                  "rms": 100 * float(np.sqrt(np.mean(np.square(err))))}


def paired(a: list[float], b: list[float]) -> str:
    d = np.array(a) - np.array(b)
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    return f"{d.mean():+.3f} ± {half:.3f}"


def cell(problem, land: str, noise: float, reps: int) -> None:
    world = World(problem, LANDSCAPES[land], noise / 100, land)
    scorer = Scorer(world)
    space = problem.space.model_copy(update={"seeds": 1, "max_seeds": 3})
    rows = []
    for rep in range(reps):
        study = _tool_search(world, 180, rep, "nsga2", "evidence", space, space_stored=True)
        rows.append((read(world, scorer, study, True), read(world, scorer, study, False)))
    both = [(w, o) for w, o in rows if w["fitted"] and o["fitted"]]
    col = lambda k, j, rs: [r[j][k] for r in rs]
    print(f"| {land} | {noise:g} | {reps} | {len(both)} | "
          f"{np.mean([w['stopped'] for w, _ in both]) if both else 0:.1f} | "
          f"{paired(col('regret', 1, rows), col('regret', 0, rows))} | "
          + (f"{np.mean(col('coverage', 0, both)):.3f} / {np.mean(col('coverage', 1, both)):.3f} | "
             f"{np.mean(col('rms', 0, both)):.3f} / {np.mean(col('rms', 1, both)):.3f} | "
             f"{paired(col('rms', 1, both), col('rms', 0, both))} |" if len(both) > 1 else "- | - | - |"),
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default=str(REPO / "results/proxy_bias/proxy_base.yaml"))
    ap.add_argument("--landscape", default="proxy6,paper,flat,interact,r-by-stage,saturate")
    ap.add_argument("--noise", type=float, default=0.45, help="seed std, accuracy points")
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    problem = load_space(args.space)
    print("| landscape | noise | reps | model fitted (both) | stopped designs in | regret "
          "without - with (points, paired) | effects coverage with / without | effects RMS "
          "with / without | RMS without - with |")
    print("|---|---|---|---|---|---|---|---|---|")
    for land in args.landscape.split(","):
        cell(problem, land, args.noise, args.reps)


if __name__ == "__main__":
    main()
