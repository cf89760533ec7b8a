"""Trials per minute of 1, 2 and 4 cost-only workers on one storage: how the storage scales.

    .ci/postgres install && URL=$(.ci/postgres start)
    python bench/storage_scaling.py --storage "$URL"
    python bench/storage_scaling.py --storage journal:/tmp/bench.journal

Each worker count runs `se-design search --cost-only --workers N` on a fresh study. The rate
is read from the storage: finished trials / (last finish - first start), which leaves out
process start-up; the wall time of the whole command is printed too.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna

REPO = Path(__file__).resolve().parents[1]


def run(storage: str, workers: int, trials: int, space: str) -> tuple[int, float, float]:
    study = f"bench-{workers}w-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "se_design", "search", "--space", space, "--cost-only", "--store",
                    "--n-trials", str(trials), "--storage", storage, "--study", study,
                    "--workers", str(workers)], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    from se_design.search.storage import open_storage

    done = optuna.load_study(study_name=study, storage=open_storage(storage).storage).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,))
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done))
    return len(done), span.total_seconds(), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", required=True)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--space", default="search_spaces/se_resnet50.yaml")
    args = ap.parse_args()
    from se_design.search.storage import shown

    print(f"storage {shown(args.storage)}, {args.trials} cost-only trials of {args.space}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print("| workers | finished | seconds (first start to last finish) | trials/min | "
          "vs 1 worker | wall s (incl. start-up) |")
    print("|---|---|---|---|---|---|")
    base = None
    for workers in (1, 2, 4):
        n, span, wall = run(args.storage, workers, args.trials, args.space)
        rate = n / span * 60
        base = base or rate
        print(f"| {workers} | {n} | {span:.1f} | {rate:,.0f} | {rate / base:.2f}x | {wall:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
