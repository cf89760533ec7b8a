"""The Optuna study: storage, sampler, reference designs, and the objective, which trains a
design on its seeds (se_design.search.evaluate), under the noise-aware rung rule
(se_design.search.rungs) and racing (se_design.search.racing).

Every trial stores its target spec (user attr `target_spec`) and costs, so report and
export need nothing but the storage. Finished trials are written by Optuna as they finish,
so any crash or Ctrl-C keeps them; `--resume` continues the same study, and workers on other
processes or machines join it the same way (se_design.search.worker).
"""

from __future__ import annotations

import logging
import warnings

import optuna
from optuna.trial import TrialState

from se_design.cost import cost
from se_design.errors import UserError
from se_design.search.budget import Budget
from se_design.search.evaluate import Replicates, Trainer
from se_design.search.model_sampler import ModelSampler
from se_design.search.records import (
    REFERENCES,
    StudyRecord,
    TrialRecord,
    design_key,
    set_study,
    set_trial,
)
from se_design.search.space import Design, Problem
from se_design.search.storage import Store, open_storage, shown
from se_design.spec import to_dict

# model: se_design.search.model_sampler (training only); brute: enumerate (cost-only)
SAMPLERS = {"model": ModelSampler, "nsga2": optuna.samplers.NSGAIISampler,
            "tpe": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler,
            "random": optuna.samplers.RandomSampler, "brute": optuna.samplers.BruteForceSampler}

# Our trial log line says why a trial failed; Optuna's would add a traceback.
optuna.logging.set_verbosity(logging.ERROR)


def load(name: str, url: str) -> optuna.Study:
    storage = open_storage(url, create=False).storage
    if name not in optuna.get_all_study_names(storage):
        known = ", ".join(optuna.get_all_study_names(storage)) or "none"
        raise UserError(f"no study named {name!r} in {shown(url)} (studies there: {known}).")
    return optuna.load_study(study_name=name, storage=storage)


def prepare(problem: Problem, name: str, store: Store, resume: bool = False,
            cost_only: bool = False, settings: dict | None = None, enqueue: list[dict] = (),
            split_seed: int = 0) -> None:
    """Create the study with the reference designs (and `enqueue`'s, none of them a
    reference) queued, or check the one to resume (queueing `enqueue`'s not there yet);
    `settings` (the proxy's data and training) must match the ones it was started with. A
    new study records `split_seed` as its held-out split's seed: every design, worker
    and resumed run is scored on the same images. A study holding only a calibration
    (nothing run yet) is taken over without --resume."""
    # Without training, the benefit axis is how many blocks get SE: the front is then the
    # most SE each cost level allows.
    objectives = ["se_blocks" if cost_only else "accuracy"] + problem.space.objectives[1:]
    directions = ["maximize"] + ["minimize"] * (len(objectives) - 1)
    with store.lock(name):  # workers starting at once: one creates, the others join
        exists = name in optuna.get_all_study_names(store.storage)
        if exists and not resume and not _calibration_only(store, name):
            raise UserError(f"study {name!r} already exists in {shown(store.url)}; pass --resume "
                            "to continue or join it, or choose another --study.")
        study = optuna.create_study(study_name=name, storage=store.storage,
                                    directions=directions, load_if_exists=True)
        if exists:
            record = StudyRecord.of(study)
            if record.objectives != objectives:
                raise UserError(f"study {name!r} optimises {record.objectives}, not "
                                f"{objectives}: resume it with the space it was started with.")
            started = record.proxy_settings
            key = changed_setting(started, settings or {})
            if key is not None:
                raise UserError(f"study {name!r} was started with {key}={started[key]}, not "
                                f"{key}={settings[key]}: resume it with the same proxy settings "
                                "(data, epochs, max_train, training) or start another --study.")
            if settings and not started:  # a calibration's study: the search records its proxy
                set_study(study, proxy_settings=settings)
            for params in enqueue:  # a design asked for on --resume, unless queued or run
                study.enqueue_trial(params, skip_if_exists=True)
            return
        with warnings.catch_warnings():  # marked experimental; what optuna-dashboard shows
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives)
        set_study(study, objectives=objectives, proxy_settings=settings or {},
                  split_seed=split_seed, space=problem.space.model_dump(mode="json"),
                  plain={"params": problem.plain_params, "flops": problem.plain_flops})
        for params in problem.references() + list(enqueue):
            study.enqueue_trial(params)


def changed_setting(started: dict, now: dict) -> str | None:
    """The first proxy setting both record with different values (None: they agree)."""
    return next((k for k in started if k in now and started[k] != now[k]), None)


def _calibration_only(store: Store, name: str) -> bool:
    """A study `se-design calibrate` made and no search has run in yet (it is taken over):
    nothing but the queued references and the calibration's own trials."""
    study = optuna.load_study(study_name=name, storage=store.storage)
    return StudyRecord.of(study).calibration is not None and all(
        t.state == TrialState.WAITING or TrialRecord.of(t).calibration
        for t in study.get_trials(deepcopy=False))


def split_seed(name: str, store: Store, default: int) -> int:
    """The seed of the study's held-out split (a new study, or one from before it was
    recorded: `default`, the --seed)."""
    if name not in optuna.get_all_study_names(store.storage):
        return default
    study = optuna.load_study(study_name=name, storage=store.storage)
    recorded = StudyRecord.of(study).split_seed
    return default if recorded is None else recorded


def join(name: str, store: Store, sampler: str, sampler_seed: int, problem: Problem | None = None,
         budget: Budget = Budget()) -> tuple[optuna.Study, int]:
    """This worker's handle on the study and its arrival index. The sampler is seeded with
    sampler_seed + index, so concurrent workers and resumed runs don't all draw the same
    designs (a lone first worker keeps sampler_seed); the model sampler also takes the
    problem, the budget and the study's design seed (the first worker's sampler_seed,
    recorded), so that every worker and resumed run completes the same initial design."""
    with store.lock(name):
        study = optuna.load_study(study_name=name, storage=store.storage)
        record = StudyRecord.of(study)
        index = record.workers
        set_study(study, workers=index + 1)
        if record.design_seed is None:
            set_study(study, design_seed=sampler_seed)
    design_seed = sampler_seed if record.design_seed is None else record.design_seed
    chosen = make_sampler(sampler, sampler_seed + index, problem, budget, design_seed)
    return optuna.load_study(study_name=name, storage=store.storage, sampler=chosen), index


def make_sampler(name: str, seed: int, problem: Problem | None = None,
                 budget: Budget = Budget(), design_seed: int | None = None
                 ) -> optuna.samplers.BaseSampler:
    if name == "model":
        return ModelSampler(problem, budget, seed, design_seed)
    with warnings.catch_warnings():  # BruteForceSampler and GPSampler are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[name](seed=seed)


class Objective:
    """Cost the target analytically; unless cost-only, train the proxy on the design's seeds
    and return its mean held-out accuracy. `trainer(design, seed, on_epoch)` returns the
    per-epoch accuracies of one seed (evaluate.TorchTrainer; the benchmark passes a simulated
    one); `train_seed` is the first training seed, `epochs` the proxy's."""

    def __init__(self, problem: Problem, cost_only: bool, trainer: Trainer | None = None,
                 epochs: int = 0, train_seed: int = 0, device: str = "cpu", keep_dir=None):
        self.problem, self.cost_only, self.trainer = problem, cost_only, trainer
        self.keep_dir = keep_dir  # where the trained proxies are kept (--keep-checkpoints)
        self.epochs, self.train_seed, self.device = epochs, train_seed, device
        self.references = problem.references()

    def __call__(self, trial: optuna.Trial):
        design = self.problem.suggest(trial)
        costs = self.record(trial, design)
        if self.cost_only:
            return [TrialRecord.of(trial).se_blocks] + costs
        replicates = Replicates(self, trial, design, costs)
        accuracy = replicates.run()
        if self.keep_dir is not None and replicates.model is not None:
            keep_checkpoint(self.keep_dir, trial, self.trainer, *replicates.model)
        return [accuracy] + costs

    def record(self, trial: optuna.Trial, design: Design) -> list[int]:
        """Store the design's spec, costs and constraints with `trial`; its cost objectives."""
        space = self.problem.space
        target = design.apply(self.problem.target)
        c = cost(target, space.convention)
        spec = to_dict(target)
        set_trial(trial, target_spec=spec, design_key=design_key(spec), design=design.label(),
                  params=c.params, flops=c.flops,
                  se_blocks=sum(len(u.ses) for gr in c.groups for _, u in gr.units))
        if trial.params in self.references:
            set_trial(trial, reference=REFERENCES[self.references.index(trial.params)])
        violations = self.problem.violations(c.params, c.flops)
        set_trial(trial, budget=violations)
        with warnings.catch_warnings():  # a retried trial inherits its design's constraints
            warnings.filterwarnings("ignore", "The constraint value is ignored")
            for key, value in violations.items():
                trial.set_constraint(key, value)
        if "latency" in space.objectives:
            from se_design.latency import measure  # torch: only when latency is an objective

            how = space.latency
            lat = measure(target, how.backend, self.device, rounds=how.rounds,
                          threads=how.threads)
            set_trial(trial, latency_ms=lat.median,
                      latency_interval=[lat.interval.lo, lat.interval.hi])
        values = {"params": c.params, "flops": c.flops,
                  "latency": TrialRecord.of(trial).latency_ms}
        out = [values[o] for o in space.objectives[1:]]
        set_trial(trial, rung_cost=out[0])
        return out


def keep_checkpoint(folder, trial: optuna.Trial, trainer, seed: int, proxy, model) -> None:
    """The trained proxy of one seed as an se-design checkpoint (for `excitation`, `fold`)."""
    from se_design.checkpoint import Checkpoint, save
    from se_design.train import _stats

    train_set, rec = trainer.data[0], TrialRecord.of(trial)
    d = trainer.problem.space.proxy.data
    study = StudyRecord.of(trial.study)
    data = {"source": study.proxy_settings.get("data", d.source), "val_fraction": d.val_fraction,
            "split_seed": trainer.cfg.seed if study.split_seed is None else study.split_seed,
            "size": d.size or proxy.resolution}  # what excitation/fold resize the images to
    mean, std = (v.flatten().tolist() for v in _stats(train_set.x))
    # named as `export --trial` names the design, so a kept file says which trial it is
    proxy = proxy.model_copy(update={"name": f"{trial.study.study_name}-trial{trial.number}-proxy"})
    save(Checkpoint(proxy, model.state_dict(), mean, std, list(train_set.classes),
                    {"study": trial.study.study_name, "trial": trial.number,
                     "design": rec.design, "seed": seed, "data": data,
                     "held_out_accuracy": rec.seed_acc[seed]}),
         checkpoint_path(folder, trial.study.study_name, trial.number))


def checkpoint_path(folder, study: str, number: int):
    from pathlib import Path

    return Path(folder) / f"{study}-trial{number}.pt"
