"""The model sampler's overhead, against issue 19's targets.

Run: python bench/model_overhead.py [--trials 200] [--trial-seconds S]

1. A 131,071-design space (ResNet-50's four stages, r none|2|4|8|16|32, variant standard|pre|
   post, squeeze avg|max) holding `--trials` finished trials (the references, the initial
   design, then random designs; simulated accuracies: additive SE effects plus seed noise, 1 to
   3 seeds each): the time of one proposal (read the trials, fit the model, one joint draw over
   every design, hypervolume improvement) and of one re-seed choice (200 joint draws over the
   measured designs), against one trial of the shipped digits search (the no-SE design of
   search_spaces/digits_resnet20.yaml trained on one seed here, or --trial-seconds). Target:
   under 2% of a trial.
2. The report's model part on a stored study of `--trials` trials of that space (random designs
   trained by a simulated trainer through the search's own Objective, so the study holds what
   a real one does): `report.rows` fits the model, gives every design its estimate and
   interval, and draws 1,000 joint posterior samples for p_front. Once per report, counted
   against one trial as if it ran after every trial.
3. A 923,521-design space scored whole (r none|2|...|64, the five variants): one proposal.
   Target: under 1 s.
The sampler's construction (cost tables, enumeration), once per worker, is printed apart.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as each of several workers would run

import numpy as np
import optuna

from se_design.search import report
from se_design.search.budget import Budget
from se_design.search.model_sampler import ModelSampler
from se_design.search.records import NS
from se_design.search.space import Problem, Space, load_space, resolve
from se_design.search.storage import open_storage
from se_design.search.study import Objective, prepare

ROOT = Path(__file__).resolve().parents[1]


def space(r: list[int], variants: list[str], squeeze: list[str]) -> Space:
    return Space.model_validate({
        "name": "overhead", "target": {"arch": "resnet50"}, "proxy": {"arch": "resnet50"},
        "variables": {"r": ["none", *r], "variant": variants, "squeeze": squeeze},
        "objectives": ["accuracy", "params", "flops"], "budgets": {"params_increase": 0.1},
        "seeds": 1, "max_seeds": 3})


def study_with(sampler: ModelSampler, n: int, rng: np.random.Generator) -> optuna.Study:
    """A study of n finished trials: references, the initial design, then random designs."""
    fs = sampler.factors
    dists = {f.name: optuna.distributions.CategoricalDistribution(list(f.levels)) for f in fs}
    effects = {f.name: rng.normal(0, 0.01, len(f.levels)) for f in fs}
    designs = sampler.problem.references() + [fs.decode(np.array([c]))[0]
                                              for c in sampler._initial_design()]
    designs += fs.decode(fs.sample(n - len(designs), rng))
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=sampler)
    for d in designs[:n]:
        d = {k: v for k, v in d.items() if k in fs.index}
        true = 0.7 + sum(effects[k][fs.list[fs.index[k]].levels.index(v)] for k, v in d.items())
        seeds = {str(s): float(true + rng.normal(0, 0.005)) for s in range(rng.integers(1, 4))}
        study.add_trial(optuna.trial.create_trial(
            params=d, distributions={k: dists[k] for k in d},
            values=[float(np.mean(list(seeds.values()))), 1.0, 1.0],
            user_attrs={NS + "seed_acc": seeds}))
    return study


class Simulated:
    """A trainer whose accuracy is additive in each stage's SE reduction, plus seed noise."""

    def __init__(self, rng: np.random.Generator):
        self.gain, self.rng = {}, rng

    def __call__(self, design, seed, on_epoch) -> list[float]:
        acc = 0.7 + sum(self.gain.setdefault((stage, se and se.r), self.rng.normal(0, 0.01))
                        for stage, se in design.se.items()) + self.rng.normal(0, 0.005)
        on_epoch(1, acc)
        return [acc]


def stored_study(problem: Problem, n: int, rng: np.random.Generator, folder: str) -> optuna.Study:
    """n trials of random designs in a SQLite study, recorded by the search's Objective."""
    store = open_storage(f"sqlite:///{folder}/overhead.db")
    prepare(problem, "overhead", store)
    study = optuna.load_study(study_name="overhead", storage=store.storage,
                              sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(Objective(problem, False, Simulated(rng), epochs=1), n_trials=n)
    return study


def timed(f, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - start)
    return best


def trial_seconds() -> float:
    """One seed of the digits search's no-SE design, trained as the search trains it."""
    from se_design.search.evaluate import TorchTrainer
    from se_design.search.proxy import data_source, load_proxy_data
    from se_design.search.space import Design
    from se_design.train_config import TrainConfig

    problem = load_space(ROOT / "search_spaces/digits_resnet20.yaml")
    source, path = data_source(problem, None)
    trainer = TorchTrainer(problem, load_proxy_data(problem, source, path, 0),
                           TrainConfig(**problem.space.proxy.train))
    start = time.perf_counter()
    trainer(Design({s: None for s in problem.stages}), 0, lambda epoch, acc: None)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--trial-seconds", type=float, help="one digits trial's time (else measured)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")

    start = time.perf_counter()
    mid = ModelSampler(resolve(space([2, 4, 8, 16, 32], ["standard", "pre", "post"], ["avg", "max"])),
                       Budget(10 * args.trials))
    built = time.perf_counter() - start
    study = study_with(mid, args.trials, rng)
    n = len(study.trials)
    model = mid._fit(study, study.trials)
    assert model is not None, "the model does not fit: the timing would not be the model's"
    propose = timed(lambda: mid.propose(study, n))
    late = ModelSampler(mid.problem, Budget(n + 1))  # past RESEED_FROM of its budget
    reseed = timed(lambda: late.propose(study, n))
    trial = args.trial_seconds or trial_seconds()
    print(f"{len(mid._space):,} designs, {n} finished trials (model: {len(model.terms)} terms, "
          f"{len(model.interactions())} interactions): sampler built in {built:.2f} s "
          f"(once per worker); a proposal {propose:.3f} s, a re-seed choice {reseed:.3f} s; "
          f"one digits trial {trial:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        stored = stored_study(mid.problem, args.trials, rng, folder)
        rows = timed(lambda: report.rows(stored))
    print(f"the report's model part (report.rows) on a stored study of {len(stored.trials)} "
          f"trials: {rows:.3f} s")
    worst = (max(propose, reseed) + rows) / trial
    print(f"overhead / trial, proposal and report: {worst:.2%} "
          f"(target < 2%: {'PASS' if worst < 0.02 else 'FAIL'})")

    start = time.perf_counter()
    big = ModelSampler(resolve(space([2, 4, 8, 16, 32, 64], ["standard", "pre", "post", "identity", "3x3"],
                                   ["avg"])),
                       Budget(10 * args.trials))
    built = time.perf_counter() - start
    study = study_with(big, args.trials, rng)
    propose = timed(lambda: big.propose(study, len(study.trials)))
    print(f"{len(big._space):,} designs enumerated: sampler built in {built:.2f} s; a proposal "
          f"{propose:.3f} s (target < 1 s: {'PASS' if propose < 1 else 'FAIL'})")


if __name__ == "__main__":
    main()
