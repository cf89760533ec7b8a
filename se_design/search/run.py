"""`se-design search`: load the space and data, run the study, report progress."""

from __future__ import annotations

from pathlib import Path

import optuna
from rich.console import Console

from se_design.errors import UserError
from se_design.search.space import Problem, load_space
from se_design.search.study import DEFAULT_STORAGE, Objective, create
from se_design.search.study import storage as storage_of


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


def _log(console: Console):
    def callback(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        a = t.user_attrs
        values = "" if t.values is None else " ".join(f"{v:.4g}" for v in t.values)
        why = a.get("pruned_because") or a.get("failed_because") or ""
        console.print(f"trial {t.number:>3} {t.state.name.lower():<8} {a.get('design', '')}  "
                      f"{values}  {why}", highlight=False)
    return callback


def search(space: Path, n_trials: int, timeout: float | None, storage: str | None,
           study: str | None, sampler: str, data: str | None, device: str | None, resume: bool,
           cost_only: bool, seed: int, console: Console, overrides: dict | None = None) -> str:
    problem = load_space(space, overrides or {})
    name = study or problem.space.name + ("-cost" if cost_only else "")
    url = storage or DEFAULT_STORAGE
    if url == DEFAULT_STORAGE:
        Path("results").mkdir(exist_ok=True)
    storage_of(url)  # an unreachable storage fails before any data is loaded
    catch: tuple = ()
    if cost_only:
        timed = "latency" in problem.space.objectives  # else no torch needed
        objective = Objective(problem, True, device=pick_device(device or "cpu") if timed else "cpu")
    else:
        from se_design.train import Diverged, TrainConfig

        catch = (Diverged,)  # a diverging candidate fails with its reason; the search goes on
        cfg = TrainConfig(**{"seed": seed} | problem.space.proxy.train)
        dev = pick_device(device or problem.space.proxy.device)
        objective = Objective(problem, False, load_proxy_data(problem, data, seed), cfg, dev,
                              progress=True)
    st = create(problem, name, url, sampler, resume, cost_only, seed)
    try:
        st.optimize(objective, n_trials=n_trials, timeout=timeout, catch=catch,
                    callbacks=[_log(console)])
    except KeyboardInterrupt:
        raise UserError(f"interrupted: the finished trials of study {name!r} are kept in {url}; "
                        "continue with --resume.") from None
    done = len(st.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return (f"study {name!r} in {url}: {done} finished trials. "
            f"Next: se-design report --study {name}" + (f" --storage {url}" if storage else ""))
