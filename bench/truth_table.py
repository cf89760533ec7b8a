"""A real truth table: every design of a small space trained on several seeds, written in the
format `bench/noisy_search.py --truth` replays.

Run: python bench/truth_table.py [--space results/truth/digits_3x3.yaml] [--seeds 4] [--start-seed 0]
     [--out results/truth/digits_3x3.csv] [--data DIR] [--epochs N] [--max-train N]

One row per (design, seed): a column per stored Optuna param of the space that has more than
one choice (empty where the design does not use it), `seed`, `accuracy` (the final epoch's
held-out fraction). Training is the search's own: `se_design.search.evaluate.TorchTrainer` on
`se_design.search.proxy`'s data, held-out split drawn with split seed 0 as a study's, training
seeds 0, 1, ... as a study's replicates. Seeds run outermost, so a run cut short leaves every
design on the same number of seeds; rows are appended as they finish and a rerun skips the
(design, seed) pairs already in the file. A JSON beside the CSV records the command, the
schedule, the data and the time taken.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import optuna

from se_design.search.evaluate import TorchTrainer
from se_design.search.factors import se_factors
from se_design.search.proxy import data_source, load_proxy_data
from se_design.search.space import Problem, load_space
from se_design.train_config import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def shown(path: str) -> str:
    """`path` relative to the repository where it lies inside it (no machine's paths in outputs)."""
    try:
        return Path(path).resolve().relative_to(REPO).as_posix()
    except ValueError:
        return path


def space_params(problem: Problem) -> list[dict]:
    """Every design of the space as the Optuna params a study stores (squeeze and gate always,
    as Problem.suggest stores them)."""
    v = problem.space.variables
    factors = se_factors(problem.stages, v.r, v.variant, v.squeeze, v.gate)
    fixed = {"squeeze": v.squeeze[0], "gate": v.gate[0]}
    return [fixed | d for d in factors.decode(factors.enumerate())]


def columns(problem: Problem) -> list[str]:
    """The CSV's param columns: the stored params with more than one choice."""
    v = problem.space.variables
    cols = [f"r_{s}" for s in problem.stages]
    if len(v.variant) > 1:
        cols += [f"variant_{s}" for s in problem.stages]
    return cols + [n for n, vals in (("squeeze", v.squeeze), ("gate", v.gate)) if len(vals) > 1]


def row_key(row: dict, cols: list[str]) -> tuple:
    return (*(row.get(c, "") or "" for c in cols), str(row["seed"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default=str(REPO / "results/truth/digits_3x3.yaml"))
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--start-seed", type=int, default=0,
                    help="train seeds start..seeds-1 (split a table over processes)")
    ap.add_argument("--out", default=str(REPO / "results/truth/digits_3x3.csv"))
    ap.add_argument("--data", default=None, help="as `search --data` (e.g. a CIFAR folder)")
    ap.add_argument("--epochs", type=int, default=None, help="a cheaper schedule")
    ap.add_argument("--max-train", type=int, default=None, help="training images at most")
    ap.add_argument("--limit", type=int, default=None, help="designs (to time a run)")
    args = ap.parse_args()
    overrides = {k: v for k, v in (("epochs", args.epochs), ("max_train", args.max_train)) if v}
    problem = load_space(args.space, overrides)
    cfg = TrainConfig(**problem.space.proxy.train)
    where = data_source(problem, args.data)
    trainer = TorchTrainer(problem, load_proxy_data(problem, *where, seed=0), cfg)
    cols, out = columns(problem), Path(args.out)
    done = set()
    if out.exists():
        with out.open() as f:
            done = {row_key(r, cols) for r in csv.DictReader(f)}
    designs = space_params(problem)[:args.limit]
    print(f"{len(designs)} designs x {args.seeds} seeds, {cfg.epochs} epochs each; "
          f"{len(done)} rows already in {shown(args.out)}", flush=True)
    start, n = time.perf_counter(), 0
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, [*cols, "seed", "accuracy"])
        if not done:
            writer.writeheader()
        for seed in range(args.start_seed, args.seeds):
            for params in designs:
                row = {c: params.get(c, "") for c in cols} | {"seed": seed}
                if row_key(row, cols) in done:
                    continue
                t = time.perf_counter()
                design = problem.suggest(optuna.trial.FixedTrial(params))
                acc = trainer(design, seed, lambda e, a: None)[-1]
                writer.writerow(row | {"accuracy": f"{acc:.6f}"})
                f.flush()
                n += 1
                print(f"seed {seed} {design.label()}: {acc:.4f} [{time.perf_counter() - t:.1f} s]",
                      flush=True)
    took = time.perf_counter() - start
    meta = {"command": " ".join(["python", *sys.argv]), "space": shown(args.space),
            "data": where[1] or where[0], "schedule": asdict(cfg),
            "max_train": problem.space.proxy.data.max_train, "designs": len(designs),
            "seeds": args.seeds, "runs_this_call": n, "seconds_this_call": round(took, 1),
            "machine": f"{platform.machine()}, python {platform.python_version()}"}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{n} runs in {took:.0f} s ({took / max(n, 1):.1f} s per run)")


if __name__ == "__main__":
    main()
