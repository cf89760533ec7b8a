"""Noise-aware early stopping for multi-objective studies (Optuna's pruners don't support
them): at a rung epoch a candidate's first seed stops only when at least `dominators` designs
that cost no more were ahead of it at that epoch by more than the seed noise allows
(z standard errors of the difference), and only at rungs whose accuracy ranks designs as the
final epoch does (Spearman >= min_fidelity). Without a measured noise or fidelity it never
stops: a stop on a single-seed lead is a coin flip among close designs.

The noise and fidelity come from the study's calibration (`se-design calibrate`) when it has
one, else from the study's own designs trained on 2 or more seeds (the seed std pooled over
the stable ones: stats.noise_model).
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState

from se_design.search.records import StudyRecord, TrialRecord, by_design, set_trial
from se_design.search.stats import Pooled, false_stop_rate, mean, noise_model, spearman

MIN_DESIGNS = 4  # designs needed to measure a rung's rank fidelity


def false_stop_bound(cfg) -> float:
    """How often a design truly as good as its dominators is stopped, at most (normal model):
    each rung stops it only if a truly equal peer leads by more than z standard errors,
    probability 1 - Phi(z); more dominators required only lowers it; summed over rungs."""
    return min(1.0, len(cfg.rungs) * false_stop_rate(cfg.z))


class Evidence:
    """Seed noise and rank fidelity per epoch, from the calibration (if it trained as many
    epochs as this search does) or else the study's trials."""

    def __init__(self, study: optuna.Study, final: int):
        cal = StudyRecord.of(study).calibration_at(final)
        self.cal_std = {int(e): Pooled(v[0], int(v[1])) for e, v in cal.epoch_std.items()} \
            if cal else {}
        self.cal_fidelity = {int(e): v for e, v in cal.rung_fidelity.items()} if cal else {}
        self.trials = {t.number: TrialRecord.of(t) for t in by_design(study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)))}

    def std(self, epoch: int) -> Pooled | None:
        if epoch in self.cal_std:
            return self.cal_std[epoch]
        return noise_model([t.at_epoch(epoch) for t in self.trials.values()]).pooled

    def fidelity(self, epoch: int, final: int) -> float | None:
        if epoch in self.cal_fidelity:
            return self.cal_fidelity[epoch]
        pairs = [(mean(t.at_epoch(epoch)), mean(t.at_epoch(final)))
                 for t in self.trials.values() if t.at_epoch(final)]
        if len(pairs) < MIN_DESIGNS:
            return None
        return spearman(*zip(*pairs))


class RungRule:
    """Called after every epoch of a design's first seed; raises optuna.TrialPruned to stop.
    Reference designs always run to the end."""

    def __init__(self, cfg, trial: optuna.Trial, first_cost: float, final_epoch: int):
        self.cfg, self.trial, self.cost, self.final = cfg, trial, first_cost, final_epoch

    def __call__(self, epoch: int, acc: float) -> None:
        if epoch not in self.cfg.rungs or epoch >= self.final:
            return
        mine = TrialRecord.of(self.trial)
        if mine.reference:
            return
        study = self.trial.study
        evidence = Evidence(study, self.final)
        noise, fidelity = evidence.std(epoch), evidence.fidelity(epoch, self.final)
        if noise is None or fidelity is None or fidelity < self.cfg.min_fidelity:
            return
        peers = [(mean(xs), len(xs)) for number, t in evidence.trials.items()
                 if number != self.trial.number and t.design_key != mine.design_key
                 and (math.inf if t.rung_cost is None else t.rung_cost) <= self.cost
                 and (xs := t.at_epoch(epoch))]
        ahead = [m - acc for m, n in peers
                 if m - acc > self.cfg.z * noise.std * math.sqrt(1 + 1 / n)]
        if len(peers) >= self.cfg.min_peers and len(ahead) >= self.cfg.dominators:
            set_trial(self.trial, pruned_because=(
                f"{len(ahead)} of {len(peers)} designs as cheap were ahead at epoch {epoch} by "
                f"{min(ahead):.3f} or more (margin {self.cfg.z:g} x SE, seed std "
                f"{noise.std:.3f}; rank fidelity {fidelity:.2f})"))
            raise optuna.TrialPruned(f"dominated at epoch {epoch}")
