"""`se-design search`: load the space and data, run the study, report progress."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import optuna
from optuna.trial import TrialState
from rich.console import Console

from se_design.errors import UserError
from se_design.search.space import Problem, load_space
from se_design.search.storage import (
    HEARTBEAT,
    Store,
    first_line,
    open_storage,
    shown,
    storage_failure,
)
from se_design.search.study import DEFAULT_STORAGE, Objective, join, prepare, split_seed
from se_design.search.worker import work


def load_proxy_data(problem: Problem, path: str | None, seed: int):
    """(train, val): the proxy's training data with a held-out validation split."""
    from se_design.data import holdout, load_data

    cfg = problem.space.proxy.data
    train, _ = load_data(cfg.source, path or cfg.path)  # the test split is never used here
    train, val = holdout(train, cfg.val_fraction, seed)
    if cfg.max_train and cfg.max_train < len(train):
        train, _ = holdout(train, 1 - cfg.max_train / len(train), seed)
    return train, val


def pick_device(wanted: str) -> str:
    import torch

    if wanted == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is visible.")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


def _log(console: Console, prefix: str):
    def callback(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        a = t.user_attrs
        values = "" if t.values is None else " ".join(f"{v:.4g}" for v in t.values)
        why = a.get("pruned_because") or a.get("failed_because") or ""
        console.print(f"{prefix}trial {t.number:>3} {t.state.name.lower():<8} "
                      f"{a.get('design', '')}  {values}  {why}", highlight=False)
    return callback


def search(space: Path, n_trials: int, timeout: float | None, storage: str | None,
           study: str | None, sampler: str, data: str | None, device: str | None, resume: bool,
           cost_only: bool, seed: int, console: Console, overrides: dict | None = None,
           heartbeat: int = HEARTBEAT, workers: int = 1, worker_args: list[str] = ()) -> str:
    """Run the search in this process, or in `workers` local processes started with
    `se-design search WORKER_ARGS`."""
    problem = load_space(space, overrides or {})
    name = study or problem.space.name + ("-cost" if cost_only else "")
    url = storage or DEFAULT_STORAGE
    if url == DEFAULT_STORAGE:
        Path("results").mkdir(exist_ok=True)
    store = open_storage(url, heartbeat)  # an unreachable storage fails before data loads
    if workers > 1 and not store.shared:
        raise UserError(f"--workers needs a storage several processes can write at once, not "
                        f"{shown(url)}: use --storage postgresql://... or --storage journal:FILE.")
    if sampler == "brute":  # nothing left to enumerate after this many
        n_trials = min(n_trials, problem.size())
    interrupted = (f"interrupted: the finished trials of study {name!r} are kept in "
                   f"{shown(url)}; continue with --resume.")
    try:
        prepare(problem, name, store, sampler, resume, cost_only, seed)
        if workers > 1:
            _spawn(worker_args, workers, store, device or problem.space.proxy.device, cost_only,
                   interrupted)
        else:
            _work(problem, name, store, n_trials, timeout, sampler, data, device, cost_only,
                  seed, console, interrupted)
        finished = optuna.load_study(study_name=name, storage=store.storage)
        count = Counter(t.state for t in finished.get_trials(deepcopy=False))
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
            f"{count[TrialState.PRUNED]} stopped early, {count[TrialState.FAIL]} failed. "
            f"Next: se-design report --study {name}" + (f" --storage {shown(url)}" if storage else ""))


def _work(problem: Problem, name: str, store: Store, n_trials: int, timeout: float | None,
          sampler: str, data: str | None, device: str | None, cost_only: bool, seed: int,
          console: Console, interrupted: str) -> None:
    catch: tuple = ()
    if cost_only:
        timed = "latency" in problem.space.objectives  # else no torch needed
        objective = Objective(problem, True, device=pick_device(device or "cpu") if timed else "cpu")
    else:
        from se_design.search.evaluate import TorchTrainer
        from se_design.train import Diverged, TrainConfig

        catch = (Diverged,)  # a diverging candidate fails with its reason; the search goes on
        cfg = TrainConfig(**{"seed": seed} | problem.space.proxy.train)
        dev = pick_device(device or problem.space.proxy.device)
        split = load_proxy_data(problem, data, split_seed(name, store, seed))
        trainer = TorchTrainer(problem, split, cfg, dev, progress=not store.shared)
        objective = Objective(problem, False, trainer, cfg.epochs, seed, dev)
    st, index = join(name, store, sampler, seed)
    prefix = f"[worker {index}] " if store.shared else ""
    try:
        work(st, store, objective, n_trials, timeout, catch, [_log(console, prefix)],
             log=lambda text: console.print(prefix + text, highlight=False))
    except KeyboardInterrupt:
        raise UserError(interrupted) from None


def _spawn(args: list[str], n: int, store: Store, device: str, cost_only: bool,
           interrupted: str) -> None:
    from se_design.search.worker import spawn, visible_gpus

    gpus = [] if cost_only or device == "cpu" else visible_gpus()
    try:
        codes = spawn(args, n, gpus)
    except KeyboardInterrupt:
        raise UserError(interrupted) from None
    failed = [c for c in codes if c != 0]
    if failed:
        raise UserError(f"{len(failed)} of {len(codes)} workers exited with an error (exit codes "
                        f"{', '.join(map(str, failed))}); finished trials are kept, continue "
                        "with --resume.")
