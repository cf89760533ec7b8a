"""Replicates: a design trained on several seeds, its per-seed results stored with its trial,
and a design drawn again reusing (or extending) what was measured before.

A replicate's seed varies the initial weights, the data order and the augmentation; the
held-out split is the study's (`split_seed`), so every replicate of every design is scored on
the same images. Seeds are numbered from the study's base seed, so two designs share seeds and
can be compared seed by seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from se_design.search.stats import mean

# Trial user attributes (JSON keys are strings, so seeds are stored as str(seed)).
SEED_ACC = "seed_acc"  # {seed: held-out accuracy after the last epoch}
SEED_HISTORY = "seed_history"  # {seed: [held-out accuracy after epoch 1, 2, ...]}
DESIGN_KEY = "design_key"  # the same for two trials that build the same network
REUSED_FROM = "reused_from"  # trial number whose seeds this trial starts from
EPOCHS_RUN, EPOCHS_PLANNED = "epochs_run", "epochs_planned"

# The trainer's signature: (design, seed, on_epoch(epoch, acc)) -> per-epoch accuracies.
Trainer = Callable[..., list[float]]


def design_key(target_spec: dict) -> str:
    """Identity of a design: its target spec, canonically serialised (two parameter sets that
    build the same network, e.g. any squeeze with no SE anywhere, share it)."""
    text = json.dumps(target_spec, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def seed_acc(attrs: dict) -> dict[int, float]:
    """Per-seed final accuracies of a trial ({} when it never finished a seed)."""
    return {int(s): a for s, a in attrs.get(SEED_ACC, {}).items()}


def seed_history(attrs: dict) -> dict[int, list[float]]:
    return {int(s): h for s, h in attrs.get(SEED_HISTORY, {}).items()}


def at_epoch(attrs: dict, epoch: int) -> list[float]:
    """The accuracies a trial's seeds reached at `epoch` (seeds stopped before it excluded)."""
    return [h[epoch - 1] for h in seed_history(attrs).values() if len(h) >= epoch]


def previous(study: optuna.Study, key: str, number: int) -> optuna.trial.FrozenTrial | None:
    """The earlier trial of the same design with the most finished seeds (a stopped one if it
    only was stopped), or None if the design is new."""
    same = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                               TrialState.PRUNED))
            if t.number != number and t.user_attrs.get(DESIGN_KEY) == key]
    if not same:
        return None
    return max(same, key=lambda t: (t.state == TrialState.COMPLETE, len(seed_acc(t.user_attrs)),
                                    t.number))


def by_design(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """One trial per design: the one holding the most seeds (it carries the earlier ones)."""
    best: dict[str, optuna.trial.FrozenTrial] = {}
    for t in trials:
        key = t.user_attrs.get(DESIGN_KEY, f"#{t.number}")
        old = best.get(key)
        if old is None or len(seed_acc(t.user_attrs)) > len(seed_acc(old.user_attrs)):
            best[key] = t
    return sorted(best.values(), key=lambda t: t.number)


def accuracies(t: optuna.trial.FrozenTrial) -> list[float]:
    """A finished trial's per-seed accuracies; a study from before replicates has one."""
    return list(seed_acc(t.user_attrs).values()) or [t.values[0]]


class TorchTrainer:
    """Short-trains the proxy of a design on one seed (the real trainer)."""

    def __init__(self, problem, data, cfg, device: str = "cpu", progress: bool = False):
        self.problem, self.data, self.cfg = problem, data, cfg
        self.device, self.progress = device, progress

    def __call__(self, design, seed: int, on_epoch) -> list[float]:
        from dataclasses import replace

        import torch

        from se_design.build import build_model
        from se_design.train import train

        train_set, val_set = self.data
        torch.manual_seed(seed)  # initial weights
        proxy = design.apply(self.problem.proxy(len(train_set.classes)))
        model = build_model(proxy)
        result = train(model, train_set, val_set, replace(self.cfg, seed=seed), self.device,
                       on_epoch=on_epoch, progress=self.progress)
        self.last = (proxy, model)  # what --keep-checkpoints saves
        return [acc for _, _, acc in result.history]


def summary(attrs: dict) -> float:
    """The objective value of a trial: the mean accuracy over its seeds."""
    return mean(list(seed_acc(attrs).values()))
