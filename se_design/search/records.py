"""What a study stores, defined once: every user attribute of its trials and of the study
itself, under keys namespaced "se:" (as Optuna's own "nsga2:generation"), read through typed
records and written through `set_trial` / `set_study`.

A study stored before the namespace (keys without "se:") still reads: a key is looked up
under its namespaced name first, then under its bare one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields

import optuna
from pydantic import BaseModel, ConfigDict

NS = "se:"


def _put(target, name: str, value) -> None:
    target.set_user_attr(NS + name, value)


@dataclass
class TrialRecord:
    """One trial's stored facts. JSON keys are strings, so seeds are stored as str(seed)."""

    design: str = ""  # the design's label ("stage1:16 stage2:-")
    design_key: str | None = None  # the same for two trials that build the same network
    target_spec: dict | None = None
    params: int | None = None
    flops: int | None = None
    se_blocks: int | None = None  # SE modules in the target, nested ones too
    latency_ms: float | None = None  # the median over the space's latency rounds
    latency_interval: list[float] | None = None  # its 95% interval [low, high]
    reference: str = ""  # "no SE" / "SE r=16 everywhere" for the reference designs
    rung_cost: float | None = None  # the first cost objective, which rungs compare on
    seed_acc: dict[int, float] = field(default_factory=dict)  # seed -> final held-out acc
    seed_history: dict[int, list[float]] = field(default_factory=dict)  # seed -> per epoch
    epochs_run: int = 0
    epochs_planned: int | None = None
    reused_from: int | None = None  # trial whose seeds this one started from
    pruned_because: str = ""
    failed_because: str = ""
    calibration: bool = False  # stored by `se-design calibrate`
    worker: str = ""  # host:pid of the worker that ran it
    proposal: dict | None = None  # the params the model sampler chose, stored at the trial's
    # start so that other workers see the design pending before its params are suggested
    extra_seeds: int = 0  # seeds the sampler asked beyond those the design already has
    # the budget constraints (> 0: over budget) as a user attr, which optuna-dashboard shows;
    # Optuna 5 keeps trial.set_constraint's values where the dashboard (0.21) does not look
    budget: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, trial: optuna.trial.FrozenTrial | optuna.Trial) -> TrialRecord:
        rec = cls(**_read(trial.user_attrs, _TRIAL_FIELDS))
        rec.seed_acc = {int(s): v for s, v in rec.seed_acc.items()}
        rec.seed_history = {int(s): h for s, h in rec.seed_history.items()}
        return rec

    def at_epoch(self, epoch: int) -> list[float]:
        """The accuracies its seeds reached at `epoch` (seeds stopped before it excluded)."""
        return [h[epoch - 1] for h in self.seed_history.values() if len(h) >= epoch]

    @property
    def last_accuracy(self) -> float | None:
        """A stopped trial's accuracy at its last epoch (its first seed's)."""
        curves = [h for h in self.seed_history.values() if h]
        return curves[0][-1] if curves else None


_TRIAL_FIELDS = frozenset(f.name for f in fields(TrialRecord))


def _read(attrs: dict, known: frozenset) -> dict:
    """The known fields among `attrs`, None values left out; a namespaced key wins over its
    bare name. One pass over the attrs: reports read every trial's record several times."""
    out, bare = {}, {}
    for key, value in attrs.items():
        if value is None:
            continue
        if key.startswith(NS):
            if key[len(NS):] in known:
                out[key[len(NS):]] = value
        elif key in known:
            bare[key] = value
    return bare | out


def set_trial(trial: optuna.Trial, **values) -> None:
    """Store TrialRecord fields with `trial` (seed-keyed dicts as JSON objects)."""
    _set(trial, **values)


def set_started(study: optuna.Study, trial: optuna.trial.FrozenTrial, **values) -> None:
    """Store TrialRecord fields with a trial a sampler sees starting (`before_trial`): in the
    storage, and in `trial` itself, the snapshot the running Trial reads its attrs from."""

    class Started:
        def set_user_attr(self, key: str, value) -> None:
            study._storage.set_trial_user_attr(trial._trial_id, key, value)
            trial.user_attrs[key] = value

    _set(Started(), **values)


def _set(trial, **values) -> None:
    for name, value in values.items():
        if name not in _TRIAL_FIELDS:
            raise KeyError(f"{name!r} is not a TrialRecord field")
        if name in ("seed_acc", "seed_history"):
            value = {str(s): v for s, v in value.items()}
        _put(trial, name, value)


class Calibration(BaseModel):
    """What `se-design calibrate` measured (accuracies as fractions)."""

    model_config = ConfigDict(extra="ignore")

    seeds: int
    epochs: int
    designs: int
    seed_std: float
    seed_std_df: int
    unstable: list[str] = []
    se_difference: dict[str, float] = {}  # seeds per design -> SE of a difference
    min_detectable_difference: dict[str, float] = {}
    rung_fidelity: dict[str, float | None] = {}  # epoch -> Spearman against the last epoch
    epoch_std: dict[str, list[float]] = {}  # epoch -> [pooled std, df]
    reference_gap: dict[str, float] = {}  # mean, low, high: SE r=16 everywhere minus no SE
    runs: list[dict] = []  # {design, reference, seed_acc}
    study: str | None = None
    trials: list[int] | None = None  # the study's trials holding these runs
    not_stored: str | None = None


@dataclass
class StudyRecord:
    """A study's stored settings."""

    objectives: list[str] = field(default_factory=lambda: ["accuracy"])
    proxy_settings: dict = field(default_factory=dict)  # what its accuracies mean
    split_seed: int | None = None  # the held-out split every design is scored on
    space: dict = field(default_factory=dict)  # the space file, as run
    plain: dict = field(default_factory=dict)  # params/flops of the target without SE
    workers: int = 0  # workers that joined (each seeds its sampler with its index)
    design_seed: int | None = None  # the model sampler's initial design: the first search's
    calibration: Calibration | None = None

    @classmethod
    def of(cls, study: optuna.Study) -> StudyRecord:
        rec = cls(**_read(study.user_attrs, _STUDY_FIELDS))
        if isinstance(rec.calibration, dict):
            rec.calibration = Calibration.model_validate(rec.calibration) if rec.calibration \
                else None
        return rec

    @property
    def trained(self) -> bool:
        """Whether its first objective is a measured accuracy (not a cost-only study)."""
        return self.objectives[0] == "accuracy"

    def calibration_at(self, epochs: int) -> Calibration | None:
        """The calibration, if it trained `epochs` epochs (another length: another noise)."""
        cal = self.calibration
        return cal if cal is not None and cal.epochs == epochs else None

    def pooled_runs(self) -> list[list[float]]:
        """The calibration's per-design seed accuracies, for pooling the seed std with the
        study's trials: none when they are trials of the study already, or when the
        calibration trained another number of epochs than the study's search."""
        cal = self.calibration_at(self.proxy_settings.get("epochs"))
        if cal is None or cal.trials:
            return []
        return [list(r["seed_acc"].values()) for r in cal.runs]


_STUDY_FIELDS = frozenset(f.name for f in fields(StudyRecord))


def set_study(study: optuna.Study, **values) -> None:
    """Store StudyRecord fields with `study`."""
    for name, value in values.items():
        if name not in _STUDY_FIELDS:
            raise KeyError(f"{name!r} is not a StudyRecord field")
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        _put(study, name, value)


# Queries every reader of a study shares.

REFERENCES = ("no SE", "SE r=16 everywhere")  # TrialRecord.reference of the two references


def design_key(target_spec: dict) -> str:
    """Identity of a design: its target spec, canonically serialised (two parameter sets that
    build the same network, e.g. any squeeze with no SE anywhere, share it)."""
    text = json.dumps(target_spec, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def by_design(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """One trial per design: the one holding the most seeds (it carries the earlier ones)."""
    best: dict[str, tuple[int, optuna.trial.FrozenTrial]] = {}
    for t in trials:
        rec = TrialRecord.of(t)
        key, n = rec.design_key or f"#{t.number}", len(rec.seed_acc)
        if key not in best or n > best[key][0]:
            best[key] = (n, t)
    return sorted((t for _, t in best.values()), key=lambda t: t.number)


def accuracies(t: optuna.trial.FrozenTrial) -> list[float]:
    """A finished trial's per-seed accuracies; a study from before replicates has one."""
    return list(TrialRecord.of(t).seed_acc.values()) or [t.values[0]]


def feasible(t: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial meets every budget (Optuna's constraints: <= 0 is satisfied)."""
    return all(v <= 0 for v in t.constraints.values())
