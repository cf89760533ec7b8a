"""Evaluating a design: trained on several seeds, its per-seed results stored with its trial
as it goes, and a design drawn again reusing (or extending) what was measured before.

A replicate's seed varies the initial weights, the data order and the augmentation; the
held-out split is the study's (`split_seed`), so every replicate of every design is scored on
the same images. Seeds are numbered from the study's first training seed, so two designs
share seeds and can be compared seed by seed.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from se_design.search import racing
from se_design.search.records import TrialRecord, set_trial
from se_design.search.rungs import RungRule
from se_design.search.stats import mean
from se_design.train_config import Diverged

# The trainer's signature: (design, seed, on_epoch(epoch, acc)) -> per-epoch accuracies.
Trainer = Callable[..., list[float]]


def previous(study: optuna.Study, key: str, number: int) -> optuna.trial.FrozenTrial | None:
    """The earlier trial of the same design with the most finished seeds (a stopped one if it
    only was stopped), or None if the design is new."""
    same = [(TrialRecord.of(t), t) for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if t.number != number]
    same = [(rec, t) for rec, t in same if rec.design_key == key]
    if not same:
        return None
    return max(same, key=lambda p: (p[1].state == TrialState.COMPLETE, len(p[0].seed_acc),
                                    p[1].number))[1]


class TorchTrainer:
    """Short-trains the proxy of a design on one seed (the real trainer)."""

    def __init__(self, problem, data, cfg, device: str = "cpu", progress: bool = False,
                 log=None):
        self.problem, self.data, self.cfg = problem, data, cfg
        self.device, self.progress = device, progress
        self.log = log  # a line per epoch, where no bar is drawn (a log file is never silent)

    def __call__(self, design, seed: int, on_epoch) -> list[float]:
        from dataclasses import replace

        import torch

        from se_design.build import build_model
        from se_design.train import train

        train_set, val_set = self.data
        torch.manual_seed(seed)  # initial weights
        proxy = design.apply(self.problem.proxy(len(train_set.classes)))
        model = build_model(proxy)
        def logged(epoch: int, acc: float) -> None:
            if self.log is not None:
                self.log(f"  seed {seed} epoch {epoch}/{self.cfg.epochs}: held-out {acc:.3f}")
            on_epoch(epoch, acc)

        result = train(model, train_set, val_set, replace(self.cfg, seed=seed), self.device,
                       on_epoch=logged, progress=self.progress)
        self.last = (proxy, model)  # what --keep-checkpoints saves
        return [acc for _, _, acc in result.history]


class Replicates:
    """One trial's training: the seeds a design still lacks (an earlier trial of the same
    design lends its seeds; the sampler may ask for `extra_seeds` more), the rung rule on a
    new design's first seed, then more seeds while racing finds its place on the front
    uncertain; stored as it goes. A sampler may turn racing or the rungs off (its `races`,
    `stops_early`: the model sampler does both)."""

    def __init__(self, objective, trial: optuna.Trial, design, costs: list[float]):
        self.obj, self.trial, self.design, self.costs = objective, trial, design, costs
        self.races = getattr(trial.study.sampler, "races", True)
        self.stops_early = getattr(trial.study.sampler, "stops_early", True)
        self.acc, self.history, self.trained = {}, {}, 0
        self.model = None  # (seed, proxy spec, trained module) of the last seed trained here

    def run(self) -> float:
        space, trial = self.obj.problem.space, self.trial
        rec = TrialRecord.of(trial)
        prev = previous(trial.study, rec.design_key, trial.number)
        if prev is not None:
            old = TrialRecord.of(prev)
            set_trial(trial, reused_from=prev.number)
            self.acc, self.history = old.seed_acc, old.seed_history
            if prev.state == TrialState.PRUNED:  # same network, same seed: same outcome
                self._store(planned=0)
                set_trial(trial, pruned_because=f"the same design as trial {prev.number}, "
                          "which was stopped early")
                raise optuna.TrialPruned("a stopped design drawn again")
        n = space.max_seeds if rec.reference else space.seeds
        n = max(n, len(self.acc) + rec.extra_seeds)  # a re-seed the sampler asked for
        todo = [s for s in self.seeds(n) if s not in self.acc]
        self._store(planned=len(todo) * self.obj.epochs)
        for seed in todo:
            self.train(seed)
        feasible = all(v <= 0 for v in self.obj.problem.violations(rec.params, rec.flops).values())
        while (self.races and feasible and len(self.acc) < space.max_seeds
               and racing.uncertain(trial.study, rec.design_key, self.acc, self.costs)):
            self.train(next(s for s in self.seeds(space.max_seeds) if s not in self.acc))
        return mean(list(self.acc.values()))

    def seeds(self, n: int) -> list[int]:
        return [self.obj.train_seed + j for j in range(n)]

    def train(self, seed: int) -> None:
        """Train one more seed; a new design's first seed runs under the rung rule."""
        ruled = self.stops_early and not self.acc and not self.history
        rule = RungRule(self.obj.problem.space.early_stopping, self.trial, self.costs[0],
                        self.obj.epochs) if ruled else None
        self.history[seed] = []

        def on_epoch(epoch: int, acc: float) -> None:
            self.history[seed].append(acc)
            self.trained += 1
            self._store()  # peers' rung rules read it while this trial runs
            if rule is not None:
                rule(epoch, acc)

        try:
            curve = self.obj.trainer(self.design, seed, on_epoch)
        except (optuna.TrialPruned, Diverged) as err:
            if isinstance(err, Diverged):
                set_trial(self.trial, failed_because=str(err))
            self._store()
            raise
        self.acc[seed], self.history[seed] = curve[-1], curve
        self.model = (seed, *self.obj.trainer.last) if hasattr(self.obj.trainer, "last") else None
        self._store()

    def _store(self, planned: int | None = None) -> None:
        set_trial(self.trial, seed_acc=self.acc, seed_history=self.history,
                  epochs_run=self.trained)
        if planned is not None:
            set_trial(self.trial, epochs_planned=planned)
