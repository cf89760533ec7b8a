"""Does the accuracy model predict designs it never trained? Real data from a truth table.

Run: python bench/truth_holdout.py [--truth results/truth/digits_3x3.csv]
     [--space results/truth/digits_3x3.yaml] [--budget 90] [--searches 5]
     [--study NAME --storage URL]

Each search is the benchmark's model-based search (bench/noisy/procedures.py `model`) at a
fixed budget of epochs, replayed on the table: a training draws one of the design's measured
seeds. With --study, the search is instead a real `se-design search` of the table's space
(the tool's model sampler, its own trainings), and the model is the one its `report` and
`effects` fit (effects.fit_study). Then every design the search never trained is a held-out design, trained
independently (the table's 4+ seeds of it): does its measured mean fall within the model's
95% interval for it? Two intervals: the model's for the design's true mean, and that
interval widened by the seed noise of a mean of that many seeds (what a measured mean can
be expected to scatter). Prediction error (RMS) against the seed noise, and against a constant
(the mean of the search's own trainings, the same for every design).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import optuna
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from noisy.landscapes import TableLandscape
from noisy.procedures import PROCEDURES, fit_model
from noisy.world import World
from truth_table import shown

from se_design.search.effects import fit_study, measurements
from se_design.search.space import load_space

REPO = Path(__file__).resolve().parents[1]


def holdout(world: World, budget: int, rep: int) -> list[dict]:
    """The held-out designs of one replayed model-based search."""
    out = PROCEDURES["model"](world, budget, rep)
    return held_out(world, fit_model(world, out.measured), world.factors,
                    [(i, a) for i, _, a in out.measured])


def holdout_study(world: World, study: optuna.Study) -> list[dict]:
    """The held-out designs of a real search of the table's space, by the study's model."""
    fitted = fit_study(study)
    return held_out(world, fitted.model, fitted.factors,
                    [(world.of_params(m.design), m.accuracy) for m in fitted.data.all])


def held_out(world: World, model, factors, measured: list[tuple[int, float]]) -> list[dict]:
    """Per design never measured: its table mean and seeds, the model's mean and intervals,
    and the constant baseline (the mean of the search's own trainings, one number for all)."""
    trained = {i for i, _ in measured}
    rest = [i for i in range(len(world.designs)) if i not in trained]
    post = model.predict(factors.encode([world.params[i] for i in rest]))
    const = float(np.mean([a for _, a in measured]))
    t = stats.t.ppf(0.975, model.df)
    rows = []
    for k, i in enumerate(rest):
        seeds = world.land.rows[world.designs[i].label()]
        wide = t * np.sqrt(post.sd[k] ** 2 + model.sigma2 / len(seeds))
        rows.append({"design": world.designs[i].label(), "mean": float(np.mean(seeds)),
                     "seeds": len(seeds), "pred": float(post.mean[k]), "low": float(post.low[k]),
                     "high": float(post.high[k]), "wide": float(wide), "const": const})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truth", default=str(REPO / "results/truth/digits_3x3.csv"))
    ap.add_argument("--space", default=str(REPO / "results/truth/digits_3x3.yaml"))
    ap.add_argument("--budget", type=int, default=90, help="epochs per search")
    ap.add_argument("--searches", type=int, default=5)
    ap.add_argument("--study", default=None, help="a real search of --space: its model instead")
    ap.add_argument("--storage", default=None, help="the study's storage URL")
    args = ap.parse_args()
    problem = load_space(args.space)
    world = World(problem, TableLandscape(args.truth, problem), 0.0, Path(args.truth).stem)
    noise = world.table_noise()
    if args.study:
        study = optuna.load_study(study_name=args.study, storage=args.storage)
        what = (f"the real search {args.study!r} ({len(measurements(study).all)} trainings), "
                "1 search")
        searches = [lambda: holdout_study(world, study)]
    else:
        what = f"model-based search at {args.budget} epochs, {args.searches} searches (row orders)"
        searches = [lambda rep=rep: holdout(world, args.budget, rep) for rep in range(args.searches)]
    print(f"{shown(args.truth)}: {len(world.designs)} designs, seed std {100 * noise:.2f} points; "
          + what)
    inside, wide_in, err, const_err, n, unpredictable = 0, 0, [], [], 0, set()
    for rep, search in enumerate(searches):
        rows = search()
        if rep == 0:
            print("\nsearch 0, its held-out designs (points):\n\n| design | measured mean "
                  "(seeds) | model mean | 95% interval | inside | widened by seed noise |")
            print("|---|---|---|---|---|---|")
        for r in rows:
            if np.isnan(r["pred"]):  # a choice no trained design has (e.g. over the budget)
                unpredictable.add(r["design"])
                continue
            hit = r["low"] <= r["mean"] <= r["high"]
            hit_w = abs(r["mean"] - r["pred"]) <= r["wide"]
            inside, wide_in, n = inside + hit, wide_in + hit_w, n + 1
            err.append(r["pred"] - r["mean"])
            const_err.append(r["const"] - r["mean"])
            if rep == 0:
                print(f"| {r['design']} | {100 * r['mean']:.2f} ({r['seeds']}) | "
                      f"{100 * r['pred']:.2f} | {100 * r['low']:.2f} to {100 * r['high']:.2f} | "
                      f"{'yes' if hit else 'no'} | {'yes' if hit_w else 'no'} |")
    rms = float(np.sqrt(np.mean(np.square(err))))
    const_rms = float(np.sqrt(np.mean(np.square(const_err))))
    print(f"\nover {len(searches)} search{'es' * (len(searches) > 1)}, {n} held-out designs: measured mean inside the "
          f"model's 95% interval {inside / n:.2f}, inside it widened by the seed noise of the "
          f"mean {wide_in / n:.2f}; prediction error RMS {100 * rms:.2f} points against a seed "
          f"std of {100 * noise:.2f} (of a 4-seed mean: {100 * noise / 2:.2f}); predicting every held-out "
          f"design as the mean of the search's own trainings: RMS {100 * const_rms:.2f} points")
    if unpredictable:
        print(f"not counted: {len(unpredictable)} held-out designs with a choice that no design "
              "the search trained has, which the model cannot estimate (e.g. a choice over "
              "the budget, never a candidate): " + ", ".join(sorted(unpredictable)))


if __name__ == "__main__":
    main()
