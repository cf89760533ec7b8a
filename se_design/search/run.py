"""`se-design search`: load the space and data, run the study, report progress."""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import replace
from pathlib import Path

import optuna
from optuna.trial import TrialState
from rich.console import Console

from se_design import consoles
from se_design.device import pick_device
from se_design.errors import Interrupted, UserError
from se_design.files import check_folder, folder
from se_design.progress import on_terminal
from se_design.search import report
from se_design.search.budget import Budget, epochs_trained, slots_used
from se_design.search.budget import line as budget_line
from se_design.search.evaluate import TorchTrainer
from se_design.search.proxy import data_source, load_proxy_data, proxy_settings
from se_design.search.records import REFERENCES, StudyRecord, TrialRecord
from se_design.search.request import SearchRequest
from se_design.search.space import Problem, load_space
from se_design.search.storage import (
    DEFAULT_STORAGE,
    Store,
    first_line,
    open_storage,
    shown,
    storage_failure,
)
from se_design.search.study import (
    SAMPLERS,
    Objective,
    checkpoint_path,
    join,
    prepare,
    split_seed,
)
from se_design.search.worker import DONE, plan, spawn, visible_gpus, work
from se_design.spec import load_config
from se_design.train_config import Diverged, TrainConfig
from se_design.units import compact


def _log(console: Console, prefix: str, objectives: list[str]):
    """One line per finished trial, under a header printed before the first; a measured
    accuracy with its seed count n (its interval: `report`, from every design's seeds)."""
    seeds = objectives[0] == "accuracy"
    head = (f"{'trial':>5} {'state':<9}" + "".join(f"{o:>10}" for o in objectives[:1])
            + f"{'n':>3}" * seeds + "".join(f"{o:>10}" for o in objectives[1:]) + "  design")
    console.print(prefix + head, highlight=False)

    def callback(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        rec = TrialRecord.of(t)
        values = t.values or [_recorded(o, rec) for o in objectives]  # stopped or failed
        cells = [f"{_cell(o, v, compact):>10}" for o, v in zip(objectives, values)]
        if seeds:
            cells.insert(1, f"{len(rec.seed_history or rec.seed_acc):>3}")
        cells = "".join(cells)
        why = rec.pruned_because or rec.failed_because
        lead = f"{prefix}{t.number:>5} {_STATE.get(t.state, t.state.name.lower()):<9}{cells}  "
        # the design (and why) wrapped under its own column, so a line fits the terminal
        console.print(textwrap.fill(rec.design + (f"  ({why})" if why else ""),
                                    max(console.width, len(lead) + 20), initial_indent=lead,
                                    subsequent_indent=" " * len(lead), break_on_hyphens=False),
                      highlight=False, soft_wrap=True)
    return callback


def _recorded(objective: str, rec: TrialRecord):
    """A stopped or failed trial's values: its accuracy at its last epoch, its costs."""
    if objective == "accuracy":
        return rec.last_accuracy
    return rec.latency_ms if objective == "latency" else getattr(rec, objective)


_STATE = {TrialState.COMPLETE: "done", TrialState.PRUNED: "stopped", TrialState.FAIL: "failed"}


def _cell(objective: str, value, compact) -> str:
    if value is None:
        return "-"
    if objective == "accuracy":
        return f"{value:.3f}"
    if objective == "latency":
        return f"{value:.2f}ms"
    return compact(value) if objective in ("params", "flops") else f"{value:g}"


def search(req: SearchRequest, console: Console) -> str:
    """Run the search in this process, or in `req.workers` local processes, each given the
    request as JSON. Everything is checked (space, data, device, training settings, storage)
    before the study is created, so a failed start leaves nothing."""
    check_sampler(req.chosen_sampler, req.cost_only)
    if req.cost_only and req.budget_epochs is not None:
        raise UserError("--budget-epochs counts training epochs: a --cost-only search trains none.")
    if req.keep_checkpoints is not None and (req.workers > 1 or req.cost_only):
        raise UserError("--keep-checkpoints keeps trained models: it needs training and one worker.")
    if req.keep_checkpoints is not None:
        check_folder(req.keep_checkpoints)  # not after the first trial
    problem = load_space(req.space, req.overrides)
    queued = _queued(problem, req.enqueue, console)
    name = study_name(req, problem)
    url = req.storage or DEFAULT_STORAGE
    if not req.cost_only:  # checked before anything is created: a failed start leaves nothing
        where = data_source(problem, req.data)
        dev = pick_device(req.device or problem.space.proxy.device)
    if url == DEFAULT_STORAGE:
        folder("results")
    store = open_storage(url, req.heartbeat)
    if req.cost_only:
        timed = "latency" in problem.space.objectives  # else no torch needed
        objective, settings = Objective(
            problem, True, device=pick_device(req.device or "cpu") if timed else "cpu"), {}
    else:  # the held-out split is the study's, if it exists
        objective, settings = _objective(problem, where, dev, req,
                                         split_seed(name, store, req.split_seed))
    if req.workers > 1 and not store.shared:
        raise UserError(f"--workers needs a storage several processes can write at once, not "
                        f"{shown(url)}: use --storage postgresql://... or --storage journal:FILE.")
    budget = req.budget
    if req.chosen_sampler == "brute":
        budget = replace(budget, n_trials=min(budget.n_trials or problem.size(), problem.size()))
    interrupted = (f"interrupted: the finished trials of study {name!r} are kept in "
                   f"{shown(url)}; continue with --resume.")
    try:
        prepare(problem, name, store, req.resume, req.cost_only, settings, queued,
                req.split_seed)
        st = optuna.load_study(study_name=name, storage=store.storage)
        trials = st.get_trials(deepcopy=False)
        if plan(trials, budget) == DONE:
            return f"nothing to do: study {name!r} has {spent(trials, budget)}."
        if req.workers > 1:
            _spawn(req, store, req.device or problem.space.proxy.device, interrupted)
        else:
            _work(objective, name, store, budget, req, problem, console, interrupted)
        trials = st.get_trials(deepcopy=False)
        count = Counter(t.state for t in trials)
    except UserError:
        raise
    except Exception as err:
        lost = storage_failure(err)
        if lost is None:
            raise
        raise UserError(f"lost the storage {shown(url)} ({first_line(lost)}); the finished "
                        "trials are kept there and a running one is retried: continue with "
                        "--resume when it is back.") from None
    return (f"study {name!r} in {shown(url)}: {count[TrialState.COMPLETE]} finished, "
            f"{count[TrialState.PRUNED]} stopped early, {count[TrialState.FAIL]} failed"
            + ("" if req.cost_only else f"; {budget_line(trials)}") + ".\n"
            f"Next: se-design report --study {name}"
            + (f" --storage {shown(url)}" if req.storage else ""))


def study_name(req: SearchRequest, problem: Problem) -> str:
    """--study, else the space's name (cost-only studies apart: their objectives differ)."""
    return req.study or problem.space.name + ("-cost" if req.cost_only else "")


def check_sampler(sampler: str, cost_only: bool) -> None:
    if sampler not in SAMPLERS:
        raise UserError(f"unknown sampler {sampler!r}; use {', '.join(SAMPLERS)}.")
    if sampler == "model" and cost_only:
        raise UserError("--sampler model models the measured accuracy: a --cost-only search "
                        "measures none; use nsga2, tpe, gp, random or brute.")
    if sampler == "brute" and not cost_only:
        raise UserError("--sampler brute enumerates the space for --cost-only; a search that "
                        "trains uses model, nsga2, tpe, gp or random.")


def spent(trials: list, budget: Budget) -> str:
    """What a finished study has spent, against the limits that stopped it."""
    parts = []
    if budget.n_trials is not None:
        parts.append(f"{slots_used(trials)} of {budget.n_trials} trials (ask for more with a "
                     "larger --n-trials)")
    if budget.epochs is not None:
        parts.append(f"trained {epochs_trained(trials)} of {budget.epochs} epochs (ask for more "
                     "with a larger --budget-epochs)")
    return " and ".join(parts)


def _queued(problem: Problem, enqueue: list[Path], console: Console) -> list[dict]:
    """The params of the --enqueue-config designs; a reference design is run by every
    study anyway, so it is not queued twice (and the user is told)."""
    refs, out = problem.references(), []
    for path in enqueue:
        params = problem.params_for(load_config(path), f"--enqueue-config {path}")
        if params in refs:
            console.print(f"--enqueue-config {path} is the reference design "
                          f"{REFERENCES[refs.index(params)]!r}, which every study runs: not "
                          "queued twice.", highlight=False)
        else:
            out.append(params)
    return out


def _objective(problem: Problem, where: tuple[str, str | None], dev: str, req: SearchRequest,
               split: int) -> tuple[Objective, dict]:
    """The training objective, with its data loaded from `where` (source, path; held-out
    split drawn with `split`, the study's), and the proxy settings a resumed study must share
    (what its accuracies mean)."""
    cfg = TrainConfig(**{"seed": req.train_seed} | problem.space.proxy.train)
    source, path = where
    loaded = load_proxy_data(problem, source, path, split)
    settings = proxy_settings(problem, where, cfg)
    bar = req.workers == 1 and on_terminal()  # a bar drawn into a log is blank lines
    trainer = TorchTrainer(problem, loaded, cfg, dev, progress=bar)
    return Objective(problem, False, trainer, cfg.epochs, req.train_seed, dev,
                     keep_dir=req.keep_checkpoints), settings


def _work(objective: Objective, name: str, store: Store, budget: Budget, req: SearchRequest,
          problem: Problem, console: Console, interrupted: str) -> None:
    # a diverging candidate fails with its reason; the search goes on
    catch = () if objective.cost_only else (Diverged,)
    if objective.trainer is not None:
        objective.trainer.progress = objective.trainer.progress and not store.shared
        if not objective.trainer.progress:  # no bar: a line per epoch instead, on stderr
            progress = consoles.console(stderr=True, quiet=console.quiet)  # as a bar, not a result
            objective.trainer.log = lambda text: progress.print(prefix + text, highlight=False)
    st, index = join(name, store, req.chosen_sampler, req.sampler_seed, problem, budget)
    prefix = f"[worker {index}] " if store.shared else ""
    objectives = StudyRecord.of(st).objectives
    try:
        work(st, store, objective, budget, req.timeout, catch,
             [_log(console, prefix, objectives)],
             log=lambda text: console.print(prefix + text, highlight=False))
    except KeyboardInterrupt:
        raise Interrupted(interrupted) from None
    if req.keep_checkpoints is not None:
        _keep_front(st, req.keep_checkpoints)


def _keep_front(study: optuna.Study, folder: Path) -> None:
    """Delete the kept checkpoints of trials whose design `report` neither shows on its front
    nor picks (knee, best-under-budget: from the accuracy model where there is one), so that
    every kept file is a row of the report."""
    designs = report.marked(study)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if TrialRecord.of(t).design not in designs:
            checkpoint_path(folder, study.study_name, t.number).unlink(missing_ok=True)


def _spawn(req: SearchRequest, store: Store, device: str, interrupted: str) -> None:
    gpus = [] if req.cost_only or device == "cpu" else visible_gpus()
    try:
        codes = spawn(req.as_worker().model_dump_json(), req.workers, gpus)
    except KeyboardInterrupt:
        raise Interrupted(interrupted) from None
    failed = [c for c in codes if c != 0]
    if failed:
        raise UserError(f"{len(failed)} of {len(codes)} workers exited with an error (exit codes "
                        f"{', '.join(map(str, failed))}); finished trials are kept, continue "
                        "with --resume.")
