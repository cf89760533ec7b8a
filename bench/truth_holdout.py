"""Does the accuracy model predict designs it never trained? Real data from a truth table.

Run: python bench/truth_holdout.py [--truth results/truth/digits_3x3.csv]
     [--space results/truth/digits_3x3.yaml] [--budget 90] [--searches 5]

Each search is the benchmark's model-based search (bench/noisy/procedures.py `model`) at a
fixed budget of epochs, replayed on the table: a training draws one of the design's measured
seeds. Then every design the search never trained is a held-out design, trained
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
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from noisy.landscapes import TableLandscape
from noisy.procedures import PROCEDURES, fit_model
from noisy.world import World
from truth_table import shown

from se_design.search.space import load_space

REPO = Path(__file__).resolve().parents[1]


def holdout(world: World, budget: int, rep: int) -> list[dict]:
    out = PROCEDURES["model"](world, budget, rep)
    model = fit_model(world, out.measured)
    trained = {i for i, _, _ in out.measured}
    rest = [i for i in range(len(world.designs)) if i not in trained]
    post = model.predict(world.codes[rest])
    const = float(np.mean([a for _, _, a in out.measured]))  # a baseline: one number for all
    rows = []
    for k, i in enumerate(rest):
        seeds = world.land.rows[world.designs[i].label()]
        t = stats.t.ppf(0.975, model.df)
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
    args = ap.parse_args()
    problem = load_space(args.space)
    world = World(problem, TableLandscape(args.truth, problem), 0.0, Path(args.truth).stem)
    noise = world.table_noise()
    print(f"{shown(args.truth)}: {len(world.designs)} designs, seed std {100 * noise:.2f} points; "
          f"model-based search at {args.budget} epochs, {args.searches} searches (row orders)")
    inside, wide_in, err, const_err, n = 0, 0, [], [], 0
    for rep in range(args.searches):
        rows = holdout(world, args.budget, rep)
        if rep == 0:
            print("\nsearch 0, its held-out designs (points):\n\n| design | measured mean "
                  "(seeds) | model mean | 95% interval | inside | widened by seed noise |")
            print("|---|---|---|---|---|---|")
        for r in rows:
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
    print(f"\nover {args.searches} searches, {n} held-out designs: measured mean inside the "
          f"model's 95% interval {inside / n:.2f}, inside it widened by the seed noise of the "
          f"mean {wide_in / n:.2f}; prediction error RMS {100 * rms:.2f} points against a seed "
          f"std of {100 * noise:.2f} (of a 4-seed mean: {100 * noise / 2:.2f}); predicting every held-out "
          f"design as the mean of the search's own trainings: RMS {100 * const_rms:.2f} points")


if __name__ == "__main__":
    main()
