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

from se_design.search import evaluate as ev
from se_design.search.stats import Pooled, false_stop_rate, mean, noise_model, spearman

CALIBRATION = "calibration"  # study user attr written by `se-design calibrate`
RUNG_COST = "rung_cost"  # a trial's first cost objective, set when its design is drawn
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
        cal = study.user_attrs.get(CALIBRATION) or {}
        if cal.get("epochs") != final:
            cal = {}
        self.cal_std = {int(e): Pooled(*v) for e, v in cal.get("epoch_std", {}).items()}
        self.cal_fidelity = {int(e): v for e, v in cal.get("rung_fidelity", {}).items()}
        self.trials = ev.by_design(study.get_trials(deepcopy=False, states=(
            TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)))

    def std(self, epoch: int) -> Pooled | None:
        if epoch in self.cal_std:
            return self.cal_std[epoch]
        return noise_model([ev.at_epoch(t.user_attrs, epoch) for t in self.trials]).pooled

    def fidelity(self, epoch: int, final: int) -> float | None:
        if epoch in self.cal_fidelity:
            return self.cal_fidelity[epoch]
        pairs = [(mean(ev.at_epoch(t.user_attrs, epoch)), mean(ev.at_epoch(t.user_attrs, final)))
                 for t in self.trials if ev.at_epoch(t.user_attrs, final)]
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
        if "reference" in self.trial.user_attrs:
            return
        study = self.trial.study
        evidence = Evidence(study, self.final)
        noise, fidelity = evidence.std(epoch), evidence.fidelity(epoch, self.final)
        if noise is None or fidelity is None or fidelity < self.cfg.min_fidelity:
            return
        me = self.trial.user_attrs.get(ev.DESIGN_KEY)
        peers = [(mean(xs), len(xs)) for t in evidence.trials
                 if t.number != self.trial.number and t.user_attrs.get(ev.DESIGN_KEY) != me
                 and t.user_attrs.get(RUNG_COST, math.inf) <= self.cost
                 and (xs := ev.at_epoch(t.user_attrs, epoch))]
        ahead = [m - acc for m, n in peers
                 if m - acc > self.cfg.z * noise.std * math.sqrt(1 + 1 / n)]
        if len(peers) >= self.cfg.min_peers and len(ahead) >= self.cfg.dominators:
            self.trial.set_user_attr("pruned_because",
                                     f"{len(ahead)} of {len(peers)} designs as cheap were ahead "
                                     f"at epoch {epoch} by {min(ahead):.3f} or more (margin "
                                     f"{self.cfg.z:g} x SE, seed std {noise.std:.3f}; rank "
                                     f"fidelity {fidelity:.2f})")
            raise optuna.TrialPruned(f"dominated at epoch {epoch}")
