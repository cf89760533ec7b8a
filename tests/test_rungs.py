"""Noise-aware early stopping: the margin, the fidelity gate, and no stop without a measured
noise. Simulated training curves stand in for training."""

import math

import optuna
import pytest
from conftest import SE_STAGE1, FakeTrainer, write_space

from se_design.search.records import TrialRecord, set_study
from se_design.search.rungs import false_stop_bound
from se_design.search.space import load_space
from se_design.search.study import Objective


class Curves(FakeTrainer):
    """The no-SE design scores 0.5 at every epoch; a design with SE scores 0.5 - gap."""

    def __init__(self, gap):
        super().__init__(epochs=3)
        self.gap = gap

    def __call__(self, design, seed, on_epoch):
        self.calls.append((design.label(), seed))
        acc = 0.5 - self.gap * any(se is not None for se in design.se.values())
        for e in range(1, 4):
            on_epoch(e, acc)
        return [acc] * 3


def search(tmp_path, gap, calibration, **changes):
    problem = load_space(write_space(tmp_path, **changes, early_stopping={
        "rungs": [1], "min_peers": 1, "dominators": 1, "z": 1.645, "min_fidelity": 0.7}))
    study = optuna.create_study(directions=["maximize", "minimize"])
    if calibration:
        set_study(study, calibration=calibration)
    study.enqueue_trial(problem.references()[0])  # no SE: the cheapest, never stopped
    study.enqueue_trial(SE_STAGE1)
    study.optimize(Objective(problem, False, Curves(gap), 3), n_trials=2)
    return study.trials[1]


CAL = {"epochs": 3, "seeds": 2, "designs": 5, "seed_std": 0.02, "seed_std_df": 20, "epoch_std": {"1": [0.02, 20]}, "rung_fidelity": {"1": 0.9}}
MARGIN = 1.645 * 0.02 * math.sqrt(1 + 1 / 1)  # z * sigma * sqrt(1/n_peer + 1/1) = 0.0465


def test_stops_only_beyond_the_margin(tmp_path):
    behind = search(tmp_path, MARGIN + 0.005, CAL)
    assert behind.state == optuna.trial.TrialState.PRUNED
    assert "ahead at epoch 1" in TrialRecord.of(behind).pruned_because
    assert (TrialRecord.of(behind).epochs_run, TrialRecord.of(behind).epochs_planned) == (1, 3)
    assert search(tmp_path, MARGIN - 0.005, CAL).state == optuna.trial.TrialState.COMPLETE


def test_a_peer_with_more_seeds_narrows_the_margin(tmp_path):
    # the reference gets the seed cap, 3 seeds: margin z * sigma * sqrt(1 + 1/3) = 0.0380
    assert search(tmp_path, 0.042, CAL).state == optuna.trial.TrialState.COMPLETE
    assert search(tmp_path, 0.042, CAL, max_seeds=3).state == optuna.trial.TrialState.PRUNED


def test_false_stop_bound():
    # one-sided 5% per rung comparison with a truly equal peer, two rungs: at most 10%
    cfg = load_space_cfg(rungs=[2, 4], z=1.645)
    assert false_stop_bound(cfg) == pytest.approx(0.1, abs=1e-3)
    assert false_stop_bound(load_space_cfg(rungs=[], z=1.645)) == 0


def load_space_cfg(**kw):
    from se_design.search.space import EarlyStop

    return EarlyStop(**kw)


def test_no_stop_at_a_rung_that_ranks_poorly(tmp_path):
    poor = CAL | {"rung_fidelity": {"1": 0.5}}
    assert search(tmp_path, 0.3, poor).state == optuna.trial.TrialState.COMPLETE


def test_a_calibration_of_another_length_is_not_used(tmp_path):
    assert search(tmp_path, 0.3, CAL | {"epochs": 6}).state == optuna.trial.TrialState.COMPLETE


def test_no_stop_without_a_measured_noise(tmp_path):
    # single seeds and no calibration: a lead of 30 points is still not evidence of noise
    assert search(tmp_path, 0.3, None).state == optuna.trial.TrialState.COMPLETE
