"""Does the noise-aware search work? A simulation with a known answer.

Run: python bench/noisy_search.py [--space results/proxy_bias/proxy_base.yaml] [--reps 500]
     [--noise 1.6] [--budget 180] [--landscape all|proxy6|paper|flat]
     [--sampler nsga2|tpe] [--trial-seconds S] [--noise-profile CALIBRATION.json]
     [--cost-prior]
     python bench/noisy_search.py --procedures single-seed,noise-aware,random,tpe,gp,botorch,smac,model
     [--landscape all|NAME,NAME] [--truth FILE.csv] [--reps N] [--json]

The second form compares any procedures of bench/noisy/procedures.py at equal epochs, paired
by repetition, over the landscapes of bench/noisy/landscapes.py (six: three additive, three
not) or over a true-accuracy table (`--truth`, e.g. results/truth/digits_3x3.csv with its
space results/truth/digits_3x3.yaml); metrics and targets in bench/noisy/bench.py.

Over a real space file, a design's true held-out accuracy is a fixed function of it (per-stage
SE effects by r and variant, plus a fixed per-design term), its costs are the real analytic
ones, and a measurement adds seed noise (default std 1.6 points, as measured on the CIFAR
ResNet-20 proxy). Which function is true is an assumption, so the comparison runs over three
landscapes (LANDSCAPES): one shaped like the old 6-epoch proxy's measurements (SE costs
accuracy, so a costlier design is usually a worse one), one shaped after the SE paper (SE helps
in every stage) and a flat one (no SE effect). Early epochs are noisier and carry a per-design
bias, so rungs rank imperfectly: by default an epoch's seed std is (2 - epoch/epochs) times the
last one's; `--noise-profile` takes the ratios a `calibrate --json` measured instead. At an equal
budget of training epochs, each repetition runs:

- single-seed: today's procedure: one seed per design, a rung stops a candidate on any lead
  (margin 0), the front is drawn from single numbers, export picks the most accurate;
- noise-aware: references on max_seeds seeds, racing (1 to max_seeds seeds), the noise-aware
  rung rule (noise and rank fidelity measured from the study's own replicates), export picks
  by the intervals' lower ends;

and prints the false front rate (share of reported front members that another evaluated
design truly dominates) and the regret (best true accuracy under the budget minus the true
accuracy of the exported design), split into exploration (how far below the best the best
design it finished is) and selection (how far below that its pick is). Target: noise-aware
false front rate at most half the single-seed one, and lower regret.

`--cost-prior` also runs both with rungs that stop on cost alone (a candidate stops once
`min_peers` designs as cheap have reached the rung, whatever their accuracies): where single-seed
does no better than that, its rung stops carry no information, only the prior that a costlier
design is a worse one, which the noise-aware rule may not act on.

Then the statistics' overhead: with 200 finished trials in a SQLite study, the time of one
sampler draw, a design's rung decisions and racing, and a full report, against one trial's
training time (measured: one epoch of the proxy on synthetic images of the subset's size,
times the proxy's epochs). Target < 5%.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from se_design.search import racing, report
from se_design.search.records import set_study, set_trial
from se_design.search.rungs import RungRule
from se_design.search.space import Design, Problem, load_space
from se_design.search.study import Objective
from se_design.spec import SE

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/noisy, also when imported by path
from noisy import bench as equal_epochs
from noisy.landscapes import LANDSCAPES, Landscape, TableLandscape
from noisy.procedures import PROCEDURES
from noisy.sim import Truth, all_designs, costs, noise_profile, run_search, score
from noisy.world import World

REPO = Path(__file__).resolve().parents[1]
ORIGINAL = ("proxy6", "paper", "flat")  # the noise-aware comparison's landscapes


def simulate(args) -> None:
    single = load_space(args.space, {"seeds": 1})
    aware = load_space(args.space, {"seeds": 1})
    aware.space = aware.space.model_copy(update={"max_seeds": args.max_seeds})
    designs = {d.label(): d for d in all_designs(single)}
    budget_ok = [d for d in designs.values()
                 if all(v <= 0 for v in single.violations(*costs(single, d)).values())]
    print(f"space {args.space}: {len(designs)} designs, {len(budget_ok)} within the budgets; "
          f"seed noise {args.noise} points; sampler {args.sampler}; budget {args.budget} epochs "
          f"per search; "
          f"{args.reps} repetitions")
    profile = noise_profile(args.noise_profile, single.space.proxy.train.get("epochs", 10))
    if profile:
        print(f"seed std per epoch over the last epoch's, from {args.noise_profile}: "
              + ", ".join(f"{e}: {r:.1f}" for e, r in sorted(profile.items())))
    names = list(ORIGINAL) if args.landscape == "all" else args.landscape.split(",")
    for name in names:
        compare(args, single, aware, designs, budget_ok, LANDSCAPES[name], name, profile)


def compare(args, single: Problem, aware: Problem, designs: dict, budget_ok: list,
            land: Landscape, land_name: str, profile: dict[int, float] | None) -> None:
    """Both procedures over one landscape, paired by repetition; prints the verdicts."""
    probe = Truth(single, args.noise / 100, np.random.default_rng(0), land)
    true = sorted(probe.acc(d) for d in budget_ok)
    best_true, plain = true[-1], probe.acc(Design(dict.fromkeys(single.stages)))
    paper = probe.acc(Design(dict.fromkeys(single.stages, SE(r=16, variant="standard"))))
    print(f"\nlandscape {land_name}: {land.about}; SE r=16 everywhere "
          f"{100 * (paper - plain):+.2f} points from no SE; best true accuracy "
          f"{best_true:.4f}, no SE {100 * (plain - best_true):+.2f} points from it, "
          f"{sum(t > best_true - 0.005 for t in true)} designs within 0.5 points of it")
    procedures = [("single-seed", single, False, "any lead"),
                  ("noise-aware", aware, True, "evidence")]
    if args.cost_prior:
        procedures += [(f"{name} stopping on cost alone", problem, flag, "cost")
                       for name, problem, flag, _ in procedures]
    results = {}
    for name, problem, aware_flag, stops in procedures:
        t0, out = time.perf_counter(), []
        for rep in range(args.reps):
            truth = Truth(problem, args.noise / 100, np.random.default_rng(1000 + rep), land,
                          profile)
            study = run_search(problem, truth, args.budget, rep, args.sampler, stops)
            out.append(score(study, truth, aware_flag, best_true, designs))
        results[name] = out
        m = {k: statistics.mean(o[k] for o in out) for k in out[0]}
        ci = {k: 1.96 * statistics.stdev(o[k] for o in out) / math.sqrt(len(out)) for k in out[0]}
        print(f"{name}: false front rate {m['false']:.3f} ± {ci['false']:.3f} over "
              f"{m['reported']:.1f} reported front members (point front of means: "
              f"{m['false_point']:.3f} ± {ci['false_point']:.3f}); regret "
              f"{100 * m['regret']:.2f} ± {100 * ci['regret']:.2f} points = exploration "
              f"{100 * m['explore']:.2f} (the best design it finished) + selection "
              f"{100 * m['select']:.2f} (its pick below that one); {m['drawn']:.1f} trials "
              f"run, {m['designs']:.1f} designs finished, {m['epochs']:.0f} epochs "
              f"[{time.perf_counter() - t0:.0f} s]")
    f1, f2, r1, r2 = (statistics.mean(o[k] for o in results[n])
                      for k, n in (("false", "single-seed"), ("false", "noise-aware"),
                                   ("regret", "single-seed"), ("regret", "noise-aware")))
    # the same true accuracies and sampler seed per repetition: compared paired by repetition
    def paired(key: str, other: str = "noise-aware") -> tuple[float, float]:
        d = [a[key] - b[key] for a, b in zip(results["single-seed"], results[other])]
        return statistics.mean(d), 1.96 * statistics.stdev(d) / math.sqrt(len(d))

    (diff, half), (d_exp, h_exp), (d_sel, h_sel) = map(paired, ("regret", "explore", "select"))
    lower = ("PASS" if diff > half else "FAIL" if -diff > half
             else "not shown (within noise)")
    print(f"[{land_name}] false front rate noise-aware / single-seed: {f2:.3f} / {f1:.3f} "
          f"(target <= half: {'PASS' if f2 <= 0.5 * f1 else 'FAIL'}); regret {100 * r2:.2f} vs "
          f"{100 * r1:.2f} points, paired difference {100 * diff:+.2f} ± {100 * half:.2f} "
          f"(target lower: {lower})  (± = 95% interval over repetitions)")
    top = statistics.mean(o["regret_top_mean"] for o in results["noise-aware"])
    print(f"[{land_name}] single-seed minus noise-aware, paired: exploration "
          f"{100 * d_exp:+.2f} ± {100 * h_exp:.2f}, selection {100 * d_sel:+.2f} ± "
          f"{100 * h_sel:.2f} points; noise-aware picking the highest mean instead of the "
          f"highest interval lower end: regret {100 * top:.2f} points")
    if args.cost_prior:  # is single-seed's edge information, or a prior that cost predicts loss?
        print(f"[{land_name}] the cost prior: single-seed's regret minus (paired) that of "
              + ", ".join(f"{name} {100 * d:+.2f} ± {100 * h:.2f}"
                          for name, *_ in procedures[2:] for d, h in [paired("regret", name)])
              + " points")


def benchmark(args) -> None:
    """The procedures at equal epochs over each landscape (or the --truth table); a table
    and the targets' verdicts per landscape, or with --json the issue's JSON on stdout."""
    problem = load_space(args.space)
    names = (args.procedures or "single-seed,noise-aware,model").split(",")
    if args.truth:
        lands = {f"truth:{Path(args.truth).stem}": TableLandscape(args.truth, problem)}
    else:
        keys = list(LANDSCAPES) if args.landscape == "all" else args.landscape.split(",")
        lands = {k: LANDSCAPES[k] for k in keys}
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    out = {"runs": [], "paired": []}
    for name, land in lands.items():
        world = World(problem, land, 0.0 if getattr(land, "seeded", False) else args.noise / 100,
                      name)
        noise = f"{world.noise * 100:g}" if world.noise else "table rows"
        say(f"\n{name}: {land.about}; {len(world.designs)} designs, {world.feasible.sum()} "
            f"within the budgets, best true accuracy {world.best:.4f}; seed noise {noise} "
            f"points; budget {args.budget} epochs; {args.reps} repetitions")
        def partial(done, world=world, noise=noise):
            if args.partial:
                so_far = equal_epochs.summarise(world, noise, done)
                Path(args.partial).write_text(json.dumps(
                    {k: out[k] + so_far[k] for k in out}, indent=1) + "\n")

        summary = equal_epochs.summarise(world, noise, equal_epochs.compare(
            world, names, args.budget, args.reps, say, partial))
        for k in out:
            out[k] += summary[k]
        say(equal_epochs.table(summary))
        for subject in equal_epochs.SUBJECTS:
            for line in equal_epochs.verdicts(getattr(land, "additive", False), summary,
                                              subject):
                say(f"[{name}, noise {noise}] {subject}: {line}")
    if args.json:
        print(json.dumps(out, indent=1))


def overhead(args) -> None:
    problem = load_space(args.space, {"seeds": 1})
    problem.space = problem.space.model_copy(update={"max_seeds": args.max_seeds})
    truth = Truth(problem, args.noise / 100, np.random.default_rng(0))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/o.db"
        study = optuna.create_study(directions=["maximize", "minimize"], storage=url,
                                    study_name="o", sampler=optuna.samplers.NSGAIISampler(seed=0))
        set_study(study, objectives=["accuracy", "params"],
                  plain={"params": problem.plain_params, "flops": problem.plain_flops})
        fill = Objective(problem, False, truth, truth.epochs)

        def enough(st, _):
            if len(st.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) >= 200:
                st.stop()

        study.optimize(fill, n_trials=2000, callbacks=[enough])
        finished = len(study.get_trials(states=(TrialState.COMPLETE,)))
        t = time.perf_counter()
        trial = study.ask()  # the sampler's draw
        sampler_s = time.perf_counter() - t
        design = problem.suggest(trial)
        set_trial(trial, design_key="overhead-probe")
        t = time.perf_counter()
        rule = RungRule(problem.space.early_stopping, trial, truth.params(design), truth.epochs)
        with contextlib.suppress(optuna.TrialPruned):
            for e, a in enumerate(truth.curve(design)[:-1], 1):
                rule(e, a)
        racing.uncertain(study, "overhead-probe", {0: 0.4}, [truth.params(design)])
        decide_s = time.perf_counter() - t
        t = time.perf_counter()
        report.rows(study)
        rows_s = time.perf_counter() - t
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            report.write(study, Path(out))
        report_s = time.perf_counter() - t
    trial_s = args.trial_seconds or measured_trial_seconds(problem, truth.epochs)
    total = sampler_s + decide_s + report_s
    print(f"overhead with {finished} finished trials (SQLite): sampler {sampler_s:.3f} s, rung "
          f"decisions + racing {decide_s:.3f} s, report {report_s:.3f} s (of which rows with "
          f"intervals and bootstrap {rows_s:.3f} s, the rest CSV/JSON/PNG); one trial's "
          f"training {trial_s:.1f} s")
    print(f"overhead / trial time: {total / trial_s:.2%} (target < 5%: "
          f"{'PASS' if total < 0.05 * trial_s else 'FAIL'})")


def measured_trial_seconds(problem: Problem, epochs: int) -> float:
    """One epoch of the proxy on synthetic images as many as the CIFAR subset's training
    split (4,068 train, 1,017 held out), times the proxy's epochs."""
    from dataclasses import replace

    import torch

    from se_design.build import build_model
    from se_design.data import synthetic
    from se_design.train import train
    from se_design.train_config import TrainConfig

    cfg = replace(TrainConfig(**problem.space.proxy.train), epochs=1)
    model = build_model(problem.proxy(10))
    t = time.perf_counter()
    train(model, synthetic(4068), synthetic(1017, seed=1), cfg, progress=False)
    print(f"(trial time measured on {torch.get_num_threads()} threads: 1 epoch "
          f"{time.perf_counter() - t:.1f} s x {epochs} epochs)")
    return (time.perf_counter() - t) * epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the CIFAR ResNet-20 space as it was when the noise the simulation mimics was measured
    # (6 epochs at 32x32, rungs at 2 and 4); search_spaces/cifar_resnet20.yaml has since
    # changed its proxy (results/proxy_bias.md)
    ap.add_argument("--space", default=str(REPO / "results/proxy_bias/proxy_base.yaml"))
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--noise", type=float, default=1.6, help="seed std, accuracy points")
    ap.add_argument("--budget", type=int, default=180, help="epochs per search")
    ap.add_argument("--max-seeds", type=int, default=3)
    ap.add_argument("--sampler", choices=["nsga2", "tpe"], default="nsga2")
    ap.add_argument("--landscape", default="all",
                    help=f"all, or names among {', '.join(LANDSCAPES)} (comma-separated)")
    ap.add_argument("--procedures", default=None,
                    help=f"compare these (comma-separated) among {', '.join(PROCEDURES)}")
    ap.add_argument("--truth", default=None, help="a true-accuracy table (CSV) over --space")
    ap.add_argument("--json", action="store_true", help="print the comparison as JSON")
    ap.add_argument("--partial", default=None,
                    help="also write the JSON of the repetitions so far here as they finish")
    ap.add_argument("--trial-seconds", type=float, default=None)
    ap.add_argument("--noise-profile", default=None,
                    help="a calibrate --json output of the space: its per-epoch seed std")
    ap.add_argument("--cost-prior", action="store_true",
                    help="also run both procedures with rungs that stop on cost alone")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--skip-simulation", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, "
          f"optuna {optuna.__version__}", file=sys.stderr if args.json else sys.stdout)
    if args.procedures or args.truth:
        benchmark(args)
    elif not args.skip_simulation:
        simulate(args)
    if not args.skip_overhead and not (args.procedures or args.truth):
        overhead(args)


if __name__ == "__main__":
    main()
