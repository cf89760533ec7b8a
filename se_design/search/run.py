"""`se-design search`: load the space and data, run the study, report progress."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import optuna
from optuna.trial import TrialState
from rich.console import Console

from se_design.errors import Interrupted, UserError
from se_design.files import folder
from se_design.search.space import Problem, load_space
from se_design.search.storage import (
    HEARTBEAT,
    Store,
    first_line,
    open_storage,
    shown,
    storage_failure,
)
from se_design.search.study import (
    DEFAULT_STORAGE,
    REFERENCES,
    SAMPLERS,
    Objective,
    join,
    prepare,
    split_seed,
)
from se_design.search.worker import DONE, plan, slots_used, work
from se_design.spec import load_config

DEVICES = "cpu, cuda, cuda:N or auto"


def data_source(problem: Problem, data: str | None) -> tuple[str, str | None]:
    """(source, path) of the proxy's data: --data (as `train` takes it: a built-in name,
    KIND:DIR, or a folder whose contents say what it is) over the space's."""
    from se_design.analysis.source import parse
    from se_design.data import BUILT_IN

    if data:
        source, path = parse(data)
        return source, path and str(Path(path).resolve())
    cfg = problem.space.proxy.data
    if cfg.source not in BUILT_IN and cfg.path is None:
        raise UserError(f"space {problem.space.name!r} trains its proxy on {cfg.source} data, "
                        "which is not bundled: pass --data DIR (CIFAR python batches or an image "
                        "folder).")
    return cfg.source, cfg.path and str(Path(cfg.path).resolve())


def load_proxy_data(problem: Problem, source: str, path: str | None, seed: int):
    """(train, val): the proxy's training data with a held-out validation split."""
    from se_design.data import holdout, load_data

    cfg = problem.space.proxy.data
    # the test split is never used here; built-in sets are drawn at the proxy's resolution
    train, _ = load_data(source, path, cfg.size or problem.proxy().resolution)
    if cfg.size:
        train = train.resized(cfg.size)
    train, val = holdout(train, cfg.val_fraction, seed)
    if cfg.max_train and cfg.max_train < len(train):
        train, _ = holdout(train, 1 - cfg.max_train / len(train), seed)
    return train, val


def pick_device(wanted: str) -> str:
    if wanted != "auto" and wanted != "cpu" and wanted.partition(":")[0] != "cuda":
        raise UserError(f"unknown device {wanted!r}: use {DEVICES}.")
    if wanted == "cpu":
        return wanted
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    index = wanted.partition(":")[2]
    if index and not index.isdigit():
        raise UserError(f"unknown device {wanted!r}: use {DEVICES}.")
    if not torch.cuda.is_available() or int(index or 0) >= torch.cuda.device_count():
        raise UserError(f"--device {wanted} was asked for but no such CUDA GPU is visible.")
    return wanted


def _log(console: Console, prefix: str, objectives: list[str]):
    """One line per finished trial, under a header printed before the first."""
    from se_design.render import compact

    head = f"{'trial':>5} {'state':<9}" + "".join(f"{o:>10}" for o in objectives) + "  design"
    console.print(prefix + head, highlight=False)

    def callback(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        a = t.user_attrs
        values = t.values or [_recorded(o, a) for o in objectives]  # stopped or failed
        cells = "".join(f"{_cell(o, v, compact):>10}" for o, v in zip(objectives, values))
        why = a.get("pruned_because") or a.get("failed_because") or ""
        console.print(f"{prefix}{t.number:>5} {_STATE.get(t.state, t.state.name.lower()):<9}"
                      f"{cells}  {a.get('design', '')}" + (f"  ({why})" if why else ""),
                      highlight=False, soft_wrap=True)
    return callback


def _recorded(objective: str, attrs: dict):
    if objective == "accuracy":  # a stopped trial's accuracy at its last rung
        rungs = sorted((int(k[4:]), v) for k, v in attrs.items() if k.startswith("acc@"))
        return rungs[-1][1] if rungs else None
    return attrs.get("latency_ms" if objective == "latency" else objective)


_STATE = {TrialState.COMPLETE: "done", TrialState.PRUNED: "stopped", TrialState.FAIL: "failed"}


def _cell(objective: str, value, compact) -> str:
    if value is None:
        return "-"
    if objective == "accuracy":
        return f"{value:.3f}"
    if objective == "latency":
        return f"{value:.2f}ms"
    return compact(value) if objective in ("params", "flops") else f"{value:g}"


def search(space: Path, n_trials: int, timeout: float | None, storage: str | None,
           study: str | None, sampler: str, data: str | None, device: str | None, resume: bool,
           cost_only: bool, seed: int, console: Console, overrides: dict | None = None,
           heartbeat: int = HEARTBEAT, workers: int = 1, worker_args: list[str] = (),
           enqueue: list[Path] = (), keep_checkpoints: Path | None = None) -> str:
    """Run the search in this process, or in `workers` local processes started with
    `se-design search WORKER_ARGS`. Everything is checked (space, data, device, training
    settings, storage) before the study is created, so a failed start leaves nothing."""
    check_sampler(sampler)
    if timeout is not None and timeout <= 0:
        raise UserError(f"--timeout must be a positive number of seconds, not {timeout:g}.")
    if keep_checkpoints is not None and (workers > 1 or cost_only):
        raise UserError("--keep-checkpoints keeps trained models: it needs training and one worker.")
    problem = load_space(space, overrides or {})
    queued = _queued(problem, enqueue, console)
    name = study or problem.space.name + ("-cost" if cost_only else "")
    url = storage or DEFAULT_STORAGE
    if not cost_only:  # checked before anything is created: a failed start leaves nothing
        where = data_source(problem, data)
        dev = pick_device(device or problem.space.proxy.device)
    if url == DEFAULT_STORAGE:
        folder("results")
    store = open_storage(url, heartbeat)
    if cost_only:
        timed = "latency" in problem.space.objectives  # else no torch needed
        objective, settings = Objective(
            problem, True, device=pick_device(device or "cpu") if timed else "cpu"), {}
    else:  # the held-out split is the study's, if it exists
        objective, settings = _objective(problem, where, dev, seed, split_seed(name, store, seed),
                                         workers, keep_checkpoints)
    if workers > 1 and not store.shared:
        raise UserError(f"--workers needs a storage several processes can write at once, not "
                        f"{shown(url)}: use --storage postgresql://... or --storage journal:FILE.")
    if sampler == "brute":  # nothing left to enumerate after this many
        n_trials = min(n_trials, problem.size())
    interrupted = (f"interrupted: the finished trials of study {name!r} are kept in "
                   f"{shown(url)}; continue with --resume.")
    try:
        prepare(problem, name, store, resume, cost_only, settings, queued, seed)
        st = optuna.load_study(study_name=name, storage=store.storage)
        trials = st.get_trials(deepcopy=False)
        if plan(trials, n_trials) == DONE:
            return (f"nothing to do: study {name!r} has {slots_used(trials)} of {n_trials} "
                    "trials; ask for more with a larger --n-trials.")
        if workers > 1:
            _spawn(worker_args, workers, store, device or problem.space.proxy.device, cost_only,
                   interrupted)
        else:
            _work(objective, problem, name, store, n_trials, timeout, sampler, seed, console,
                  interrupted, keep_checkpoints)
        count = Counter(t.state for t in st.get_trials(deepcopy=False))
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


def check_sampler(sampler: str) -> None:
    if sampler not in SAMPLERS:
        raise UserError(f"unknown sampler {sampler!r}; use {' or '.join(SAMPLERS)}.")


def _queued(problem: Problem, enqueue: list[Path], console: Console) -> list[dict]:
    """The params of the --enqueue-config designs; a reference design is run by every
    study anyway, so it is not queued twice (and the user is told)."""
    refs, out = problem.references(), []
    for path in enqueue:
        params = problem.params_for(load_config(path), f"--enqueue-config {path}")
        if params in refs:
            console.print(f"--enqueue-config {path} is the reference design "
                          f"{REFERENCES[refs.index(params)]!r}, which every study runs: not "
                          "queued twice.", highlight=False, soft_wrap=True)
        else:
            out.append(params)
    return out


def _objective(problem: Problem, where: tuple[str, str | None], dev: str, seed: int,
               split: int, workers: int, keep: Path | None = None) -> tuple[Objective, dict]:
    """The training objective, with its data loaded from `where` (source, path; held-out
    split drawn with `split`, the study's), and the proxy settings a resumed study must share
    (what its accuracies mean)."""
    from se_design.search.evaluate import TorchTrainer
    from se_design.train_config import TrainConfig

    cfg = TrainConfig(**{"seed": seed} | problem.space.proxy.train)
    source, path = where
    loaded = load_proxy_data(problem, source, path, split)
    settings = proxy_settings(problem, where, cfg)
    bar = workers == 1 and sys.stderr.isatty()  # a bar drawn into a log is blank lines
    trainer = TorchTrainer(problem, loaded, cfg, dev, progress=bar)
    return Objective(problem, False, trainer, cfg.epochs, seed, dev, keep_dir=keep), settings


def proxy_settings(problem: Problem, where: tuple[str, str | None], cfg) -> dict:
    """What a study's accuracies mean: the proxy, its data (`where`) and its training (all
    of `cfg` but the seed); runs under other settings are not comparable."""
    source, path = where
    data = problem.space.proxy.data
    settings = {"data": path or source, "val_fraction": data.val_fraction,
                "max_train": data.max_train, "size": data.size,
                "proxy": problem.proxy().name, "resolution": problem.proxy().resolution}
    return settings | {k: v for k, v in asdict(cfg).items() if k != "seed"}


def _work(objective: Objective, problem: Problem, name: str, store: Store, n_trials: int,
          timeout: float | None, sampler: str, seed: int, console: Console,
          interrupted: str, keep: Path | None = None) -> None:
    catch: tuple = ()
    if not objective.cost_only:
        from se_design.train import Diverged

        catch = (Diverged,)  # a diverging candidate fails with its reason; the search goes on
    if objective.trainer is not None:
        objective.trainer.progress = objective.trainer.progress and not store.shared
    st, index = join(name, store, sampler, seed)
    prefix = f"[worker {index}] " if store.shared else ""
    objectives = st.user_attrs["objectives"]
    try:
        work(st, store, objective, n_trials, timeout, catch, [_log(console, prefix, objectives)],
             log=lambda text: console.print(prefix + text, highlight=False))
    except KeyboardInterrupt:
        raise Interrupted(interrupted) from None
    if keep is not None:
        _keep_front(st, keep)


def _keep_front(study: optuna.Study, folder: Path) -> None:
    """Delete the kept checkpoints of trials that are not on the Pareto front."""
    from se_design.search.study import checkpoint_path

    front = {t.number for t in study.best_trials}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.number not in front:
            checkpoint_path(folder, study.study_name, t.number).unlink(missing_ok=True)


def _spawn(args: list[str], n: int, store: Store, device: str, cost_only: bool,
           interrupted: str) -> None:
    from se_design.search.worker import spawn, visible_gpus

    gpus = [] if cost_only or device == "cpu" else visible_gpus()
    try:
        codes = spawn(args, n, gpus)
    except KeyboardInterrupt:
        raise Interrupted(interrupted) from None
    failed = [c for c in codes if c != 0]
    if failed:
        raise UserError(f"{len(failed)} of {len(codes)} workers exited with an error (exit codes "
                        f"{', '.join(map(str, failed))}); finished trials are kept, continue "
                        "with --resume.")
