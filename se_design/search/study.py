"""The Optuna study: storage, sampler, reference designs, the objective and early stopping.

Every trial stores its target spec (user attr `target_spec`) and costs, so report and
export need nothing but the storage. Finished trials are written by Optuna as they finish,
so any crash or Ctrl-C keeps them; `--resume` continues the same study, and workers on other
processes or machines join it the same way (se_design.search.worker).
"""

from __future__ import annotations

import logging
import warnings

import optuna

from se_design.cost import cost
from se_design.errors import UserError
from se_design.search.space import Design, Problem
from se_design.search.storage import Store, open_storage, shown
from se_design.spec import to_dict

DEFAULT_STORAGE = "sqlite:///results/search.db"
SAMPLERS = {"nsga2": optuna.samplers.NSGAIISampler, "tpe": optuna.samplers.TPESampler,
            "brute": optuna.samplers.BruteForceSampler}  # brute: enumerate (cost-only)
REFERENCES = ("no SE", "SE r=16 everywhere")

# Our trial log line says why a trial failed; Optuna's would add a traceback.
optuna.logging.set_verbosity(logging.ERROR)


def load(name: str, url: str) -> optuna.Study:
    storage = open_storage(url, create=False).storage
    if name not in optuna.get_all_study_names(storage):
        known = ", ".join(optuna.get_all_study_names(storage)) or "none"
        raise UserError(f"no study named {name!r} in {shown(url)} (studies there: {known}).")
    return optuna.load_study(study_name=name, storage=storage)


def prepare(problem: Problem, name: str, store: Store, sampler: str = "nsga2",
            resume: bool = False, cost_only: bool = False, settings: dict | None = None,
            enqueue: list[dict] = ()) -> None:
    """Create the study with the reference designs (and `enqueue`'s) queued, or check
    the one to resume; `settings` (the proxy's data and training) must match the ones it
    was started with."""
    if sampler not in SAMPLERS:
        raise UserError(f"unknown sampler {sampler!r}; use {' or '.join(SAMPLERS)}.")
    # Without training, the benefit axis is how many blocks get SE: the front is then the
    # most SE each cost level allows.
    objectives = ["se_blocks" if cost_only else "accuracy"] + problem.space.objectives[1:]
    directions = ["maximize"] + ["minimize"] * (len(objectives) - 1)
    with store.lock(name):  # workers starting at once: one creates, the others join
        exists = name in optuna.get_all_study_names(store.storage)
        if exists and not resume:
            raise UserError(f"study {name!r} already exists in {shown(store.url)}; pass --resume "
                            "to continue or join it, or choose another --study.")
        study = optuna.create_study(study_name=name, storage=store.storage,
                                    directions=directions, load_if_exists=True)
        if exists:
            if study.user_attrs.get("objectives") != objectives:
                raise UserError(f"study {name!r} optimises {study.user_attrs.get('objectives')}"
                                f", not {objectives}: resume it with the space it was started "
                                "with.")
            _same_settings(name, study.user_attrs.get("proxy_settings", {}), settings or {})
            return
        with warnings.catch_warnings():  # marked experimental; what optuna-dashboard shows
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives)
        study.set_user_attr("objectives", objectives)
        study.set_user_attr("proxy_settings", settings or {})
        study.set_user_attr("space", problem.space.model_dump(mode="json"))
        study.set_user_attr("plain", {"params": problem.plain_params,
                                      "flops": problem.plain_flops})
        for params in problem.references() + [p for p in enqueue if p not in problem.references()]:
            study.enqueue_trial(params)


def _same_settings(name: str, started: dict, now: dict) -> None:
    changed = [k for k in started if k in now and started[k] != now[k]]
    if changed:
        k = changed[0]
        raise UserError(f"study {name!r} was started with {k}={started[k]}, not {k}={now[k]}: "
                        "resume it with the same proxy settings (data, epochs, max_train, "
                        "training) or start another --study.")


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
    """Cost the target analytically; unless cost-only, short-train the proxy and return its
    held-out accuracy. `data` is (train, val) and `train_cfg` a TrainConfig."""

    def __init__(self, problem: Problem, cost_only: bool, data=None, train_cfg=None,
                 device: str = "cpu", progress: bool = False, keep_dir=None):
        self.problem, self.cost_only, self.keep_dir = problem, cost_only, keep_dir
        self.data, self.train_cfg, self.device, self.progress = data, train_cfg, device, progress
        self.references = problem.references()

    def __call__(self, trial: optuna.Trial):
        design = self.problem.suggest(trial)
        costs = self._record(trial, design)
        if self.cost_only:
            return [trial.user_attrs["se_blocks"]] + costs
        return [self._train(trial, design, costs[0])] + costs

    def _record(self, trial: optuna.Trial, design: Design) -> list[int]:
        space = self.problem.space
        target = design.apply(self.problem.target)
        c = cost(target, space.convention)
        trial.set_user_attr("target_spec", to_dict(target))
        trial.set_user_attr("design", design.label())
        trial.set_user_attr("params", c.params)
        trial.set_user_attr("flops", c.flops)
        trial.set_user_attr("se_blocks", sum(len(u.ses) for gr in c.groups  # SE modules,
                                             for _, u in gr.units))  # nested ones too
        if trial.params in self.references:
            trial.set_user_attr("reference", REFERENCES[self.references.index(trial.params)])
        for key, value in self.problem.violations(c.params, c.flops).items():
            trial.set_constraint(key, value)
        if "latency" in space.objectives:
            from se_design.latency import latency_ms

            trial.set_user_attr("latency_ms", latency_ms(target, self.device))
        values = {"params": c.params, "flops": c.flops, "latency": trial.user_attrs.get("latency_ms")}
        return [values[o] for o in space.objectives[1:]]

    def _train(self, trial: optuna.Trial, design: Design, first_cost: int) -> float:
        import torch

        from se_design.build import build_model
        from se_design.train import Diverged, train

        train_set, val_set = self.data
        proxy = design.apply(self.problem.proxy(len(train_set.classes)))
        trial.set_user_attr("epochs_planned", self.train_cfg.epochs)
        torch.manual_seed(self.train_cfg.seed)  # reproducible initial weights
        model = build_model(proxy)
        rule = RungRule(self.problem.space.early_stopping, trial, first_cost)
        try:
            result = train(model, train_set, val_set, self.train_cfg, self.device,
                           on_epoch=rule, progress=self.progress)
        except Diverged as err:
            trial.set_user_attr("failed_because", str(err))
            trial.set_user_attr("epochs_run", rule.epochs)
            raise
        trial.set_user_attr("epochs_run", result.epochs_run)
        trial.set_user_attr("history", result.history)
        if self.keep_dir is not None:
            d = self.problem.space.proxy.data  # the split as load_proxy_data made it
            data = {"source": f"{d.source}:{d.path}" if d.path else d.source,
                    "val_fraction": d.val_fraction, "split_seed": self.train_cfg.seed}
            keep_checkpoint(self.keep_dir, trial, proxy, model, train_set,
                            {"data": data, "held_out_accuracy": result.val_acc})
        return result.val_acc


class RungRule:
    """Multi-objective early stopping (Optuna's pruners don't support multi-objective
    studies): at each rung epoch the candidate stops if at least `dominators` trials that
    reached the same epoch were at most as costly and more accurate there, among at least
    `min_peers` such trials. Reference designs always run to the end."""

    def __init__(self, cfg, trial: optuna.Trial, first_cost: int):
        self.cfg, self.trial, self.cost, self.epochs = cfg, trial, first_cost, 0

    def __call__(self, epoch: int, acc: float) -> None:
        self.epochs = epoch
        if epoch not in self.cfg.rungs:
            return
        key = f"acc@{epoch}"
        self.trial.set_user_attr(key, acc)
        self.trial.set_user_attr("rung_cost", self.cost)
        if "reference" in self.trial.user_attrs:
            return
        peers = [t.user_attrs for t in self.trial.study.get_trials(deepcopy=False)
                 if t.number != self.trial.number and key in t.user_attrs]
        better = sum(p[key] > acc and p["rung_cost"] <= self.cost for p in peers)
        if len(peers) >= self.cfg.min_peers and better >= self.cfg.dominators:
            self.trial.set_user_attr("epochs_run", epoch)
            self.trial.set_user_attr("pruned_because",
                                     f"{better} of {len(peers)} trials at epoch {epoch} were "
                                     "as cheap and more accurate")
            raise optuna.TrialPruned(f"dominated at epoch {epoch}")


def keep_checkpoint(folder, trial: optuna.Trial, proxy, model, train_set, record: dict) -> None:
    """The trained proxy as an se-design checkpoint (for `excitation` and `fold`)."""
    from se_design.checkpoint import Checkpoint, save
    from se_design.train import _stats

    mean, std = (v.flatten().tolist() for v in _stats(train_set.x))
    save(Checkpoint(proxy, model.state_dict(), mean, std, list(train_set.classes),
                    {"study": trial.study.study_name, "trial": trial.number,
                     "design": trial.user_attrs["design"]} | record),
         checkpoint_path(folder, trial.study.study_name, trial.number))


def checkpoint_path(folder, study: str, number: int):
    from pathlib import Path

    return Path(folder) / f"{study}-trial{number}.pt"
