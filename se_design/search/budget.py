"""What a search may spend and has spent: trials against `--n-trials`, epochs trained against
`--budget-epochs`. Both count the search's own trials only: a calibration's trials and epochs
are the calibration's (reported beside), so a user who asks for 16 trials gets 16 search
trials whatever `calibrate` stored. A retry of a killed trial reuses its trial's slot."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from se_design.search.records import TrialRecord


@dataclass(frozen=True)
class Budget:
    n_trials: int | None = None  # None: no limit on trials
    epochs: int | None = None  # None: no limit on epochs

    def left(self, trials: list[optuna.trial.FrozenTrial]) -> bool:
        """Whether another trial may start."""
        return self.spent(trials) < 1

    def spent(self, trials: list[optuna.trial.FrozenTrial]) -> float:
        """The share of the tighter limit used so far (0 without limits)."""
        shares = [0.0]
        if self.n_trials is not None:
            shares.append(slots_used(trials) / self.n_trials)
        if self.epochs is not None:
            shares.append(epochs_trained(trials) / self.epochs)
        return max(shares)


def search_trials(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The search's trials: not a calibration's."""
    return [t for t in trials if not TrialRecord.of(t).calibration]


def slots_used(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Trials counted against --n-trials: a retry reuses its failed trial's slot."""
    return sum("failed_trial" not in t.system_attrs for t in search_trials(trials))


def epochs_trained(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Epochs the search trained, running trials' so far and stopped ones' included."""
    return sum(TrialRecord.of(t).epochs_run for t in search_trials(trials))


def spending(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    """Epochs trained on new designs, on re-drawn ones (re-seeds) and by the calibration."""
    out = {"new designs": 0, "re-seeds": 0, "calibration": 0}
    for t in trials:
        rec = TrialRecord.of(t)
        kind = ("calibration" if rec.calibration else
                "re-seeds" if rec.reused_from is not None else "new designs")
        out[kind] += rec.epochs_run
    return out


def line(trials: list[optuna.trial.FrozenTrial]) -> str:
    """How the budget went, in one line."""
    s = spending(trials)
    return (f"epochs trained: {s['new designs']} on new designs, {s['re-seeds']} re-seeding "
            f"designs drawn again, {s['calibration']} by the calibration")
