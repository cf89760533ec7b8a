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
from se_design.search import evaluate as ev
from se_design.search import racing
from se_design.search.rungs import CALIBRATION, RUNG_COST, RungRule
from se_design.search.space import Design, Problem
from se_design.search.storage import Store, open_storage, shown
from se_design.spec import to_dict

DEFAULT_STORAGE = "sqlite:///results/search.db"
SAMPLERS = {"nsga2": optuna.samplers.NSGAIISampler, "tpe": optuna.samplers.TPESampler,
            "brute": optuna.samplers.BruteForceSampler}  # brute: enumerate (cost-only)
REFERENCES = ("no SE", "SE r=16 everywhere")
SPLIT_SEED = "split_seed"  # study user attr

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
            seed: int = 0) -> None:
    """Create the study with the reference designs (and `enqueue`'s, none of them a
    reference) queued, or check the one to resume (queueing `enqueue`'s not there yet);
    `settings` (the proxy's data and training) must match the ones it was started with. A
    new study records `seed` as its held-out split's seed (SPLIT_SEED): every design, worker
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
            if study.user_attrs.get("objectives") != objectives:
                raise UserError(f"study {name!r} optimises {study.user_attrs.get('objectives')}"
                                f", not {objectives}: resume it with the space it was started "
                                "with.")
            started = study.user_attrs.get("proxy_settings") or {}
            key = changed_setting(started, settings or {})
            if key is not None:
                raise UserError(f"study {name!r} was started with {key}={started[key]}, not "
                                f"{key}={settings[key]}: resume it with the same proxy settings "
                                "(data, epochs, max_train, training) or start another --study.")
            if settings and not started:  # a calibration's study: the search records its proxy
                study.set_user_attr("proxy_settings", settings)
            for params in enqueue:  # a design asked for on --resume, unless queued or run
                study.enqueue_trial(params, skip_if_exists=True)
            return
        with warnings.catch_warnings():  # marked experimental; what optuna-dashboard shows
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives)
        study.set_user_attr("objectives", objectives)
        study.set_user_attr("proxy_settings", settings or {})
        study.set_user_attr(SPLIT_SEED, seed)
        study.set_user_attr("space", problem.space.model_dump(mode="json"))
        study.set_user_attr("plain", {"params": problem.plain_params,
                                      "flops": problem.plain_flops})
        for params in problem.references() + list(enqueue):
            study.enqueue_trial(params)


def changed_setting(started: dict, now: dict) -> str | None:
    """The first proxy setting both record with different values (None: they agree)."""
    return next((k for k in started if k in now and started[k] != now[k]), None)


def _calibration_only(store: Store, name: str) -> bool:
    """A study `se-design calibrate` made and no search has run in yet (it is taken over):
    nothing but the queued references and the calibration's own trials."""
    study = optuna.load_study(study_name=name, storage=store.storage)
    return CALIBRATION in study.user_attrs and all(
        t.state == TrialState.WAITING or t.user_attrs.get(CALIBRATION)
        for t in study.get_trials(deepcopy=False))


def split_seed(name: str, store: Store, default: int) -> int:
    """The seed of the study's held-out split (a new study, or one from before it was
    recorded: `default`, the --seed)."""
    if name not in optuna.get_all_study_names(store.storage):
        return default
    study = optuna.load_study(study_name=name, storage=store.storage)
    return study.user_attrs.get(SPLIT_SEED, default)


def join(name: str, store: Store, sampler: str, seed: int) -> tuple[optuna.Study, int]:
    """This worker's handle on the study and its arrival index. The sampler is seeded with
    seed + index, so concurrent workers and resumed runs don't all draw the same designs
    (a lone first worker keeps --seed)."""
    with store.lock(name):
        study = optuna.load_study(study_name=name, storage=store.storage)
        index = study.user_attrs.get("workers", 0)
        study.set_user_attr("workers", index + 1)
    with warnings.catch_warnings():  # BruteForceSampler is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        chosen = SAMPLERS[sampler](seed=seed + index)
    return optuna.load_study(study_name=name, storage=store.storage, sampler=chosen), index


class Objective:
    """Cost the target analytically; unless cost-only, train the proxy on the design's seeds
    and return its mean held-out accuracy. `trainer(design, seed, on_epoch)` returns the
    per-epoch accuracies of one seed (evaluate.TorchTrainer; the benchmark passes a simulated
    one); `base_seed` numbers the seeds, `epochs` is the proxy's."""

    def __init__(self, problem: Problem, cost_only: bool, trainer: ev.Trainer | None = None,
                 epochs: int = 0, base_seed: int = 0, device: str = "cpu", keep_dir=None):
        self.problem, self.cost_only, self.trainer = problem, cost_only, trainer
        self.keep_dir = keep_dir  # where the trained proxies are kept (--keep-checkpoints)
        self.epochs, self.base_seed, self.device = epochs, base_seed, device
        self.references = problem.references()

    def __call__(self, trial: optuna.Trial):
        design = self.problem.suggest(trial)
        costs = self.record(trial, design)
        if self.cost_only:
            return [trial.user_attrs["se_blocks"]] + costs
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
        trial.set_user_attr("target_spec", to_dict(target))
        trial.set_user_attr(ev.DESIGN_KEY, ev.design_key(to_dict(target)))
        trial.set_user_attr("design", design.label())
        trial.set_user_attr("params", c.params)
        trial.set_user_attr("flops", c.flops)
        trial.set_user_attr("se_blocks", sum(len(u.ses) for gr in c.groups  # SE modules,
                                             for _, u in gr.units))  # nested ones too
        if trial.params in self.references:
            trial.set_user_attr("reference", REFERENCES[self.references.index(trial.params)])
        with warnings.catch_warnings():  # a retried trial inherits its design's constraints
            warnings.filterwarnings("ignore", "The constraint value is ignored")
            for key, value in self.problem.violations(c.params, c.flops).items():
                trial.set_constraint(key, value)
        if "latency" in space.objectives:
            from se_design.latency import latency_ms

            trial.set_user_attr("latency_ms", latency_ms(target, self.device))
        values = {"params": c.params, "flops": c.flops, "latency": trial.user_attrs.get("latency_ms")}
        out = [values[o] for o in space.objectives[1:]]
        trial.set_user_attr(RUNG_COST, out[0])
        return out


class Replicates:
    """One trial's training: the seeds a design still lacks (an earlier trial of the same
    design lends its seeds), the rung rule on a new design's first seed, then more seeds
    while racing finds its place on the front uncertain; stored as it goes."""

    def __init__(self, objective: Objective, trial: optuna.Trial, design: Design,
                 costs: list[float]):
        self.obj, self.trial, self.design, self.costs = objective, trial, design, costs
        self.acc, self.history, self.trained = {}, {}, 0
        self.model = None  # (seed, proxy spec, trained module) of the last seed trained here

    def run(self) -> float:
        space, trial = self.obj.problem.space, self.trial
        prev = ev.previous(trial.study, trial.user_attrs[ev.DESIGN_KEY], trial.number)
        if prev is not None:
            trial.set_user_attr(ev.REUSED_FROM, prev.number)
            self.acc, self.history = ev.seed_acc(prev.user_attrs), ev.seed_history(prev.user_attrs)
            if prev.state == TrialState.PRUNED:  # same network, same seed: same outcome
                self._store(planned=0)
                trial.set_user_attr("pruned_because", f"the same design as trial {prev.number}, "
                                    "which was stopped early")
                raise optuna.TrialPruned("a stopped design drawn again")
        n = space.seed_cap if "reference" in trial.user_attrs else space.seeds
        todo = [s for s in self.seeds(n) if s not in self.acc]
        self._store(planned=len(todo) * self.obj.epochs)
        for seed in todo:
            self.train(seed)
        key, a = trial.user_attrs[ev.DESIGN_KEY], trial.user_attrs
        feasible = all(v <= 0 for v in self.obj.problem.violations(a["params"], a["flops"]).values())
        while (feasible and len(self.acc) < space.seed_cap
               and racing.uncertain(trial.study, key, self.acc, self.costs)):
            self.train(next(s for s in self.seeds(space.seed_cap) if s not in self.acc))
        return ev.summary(trial.user_attrs)

    def seeds(self, n: int) -> list[int]:
        return [self.obj.base_seed + j for j in range(n)]

    def train(self, seed: int) -> None:
        """Train one more seed; a new design's first seed runs under the rung rule."""
        from se_design.train import Diverged

        first = not self.acc and not self.history
        rule = RungRule(self.obj.problem.space.early_stopping, self.trial, self.costs[0],
                        self.obj.epochs) if first else None
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
                self.trial.set_user_attr("failed_because", str(err))
            self._store()
            raise
        self.acc[seed], self.history[seed] = curve[-1], curve
        self.model = (seed, *self.obj.trainer.last) if hasattr(self.obj.trainer, "last") else None
        self._store()

    def _store(self, planned: int | None = None) -> None:
        t = self.trial
        t.set_user_attr(ev.SEED_ACC, {str(s): a for s, a in self.acc.items()})
        t.set_user_attr(ev.SEED_HISTORY, {str(s): h for s, h in self.history.items()})
        t.set_user_attr(ev.EPOCHS_RUN, self.trained)
        if planned is not None:
            t.set_user_attr(ev.EPOCHS_PLANNED, planned)


def keep_checkpoint(folder, trial: optuna.Trial, trainer, seed: int, proxy, model) -> None:
    """The trained proxy of one seed as an se-design checkpoint (for `excitation`, `fold`)."""
    from se_design.checkpoint import Checkpoint, save
    from se_design.train import _stats

    train_set = trainer.data[0]
    d = trainer.problem.space.proxy.data
    proxy_settings = trial.study.user_attrs.get("proxy_settings", {})  # none before they were kept
    data = {"source": proxy_settings.get("data", d.source), "val_fraction": d.val_fraction,
            "split_seed": trial.study.user_attrs.get(SPLIT_SEED, trainer.cfg.seed)}
    mean, std = (v.flatten().tolist() for v in _stats(train_set.x))
    save(Checkpoint(proxy, model.state_dict(), mean, std, list(train_set.classes),
                    {"study": trial.study.study_name, "trial": trial.number,
                     "design": trial.user_attrs["design"], "seed": seed, "data": data,
                     "held_out_accuracy": ev.seed_acc(trial.user_attrs)[seed]}),
         checkpoint_path(folder, trial.study.study_name, trial.number))


def checkpoint_path(folder, study: str, number: int):
    from pathlib import Path

    return Path(folder) / f"{study}-trial{number}.pt"
