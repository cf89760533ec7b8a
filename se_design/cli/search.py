"""`search`, `report`, `export`, `calibrate`: the Optuna study of where SE goes. optuna and
torch are imported inside these commands, so that `cost` never loads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from se_design import render
from se_design.cli.common import (
    SPACES,
    Config,
    Epochs,
    Json,
    MaxTrain,
    SpaceDevice,
    Storage,
    Study,
    StudyName,
    err,
    flag,
    out,
)
from se_design.errors import UserError
from se_design.search import GRACE, HEARTBEAT


def search(
        space: Annotated[Path, typer.Option("--space", help="Search space file (search_spaces/*.yaml).")],
        n_trials: Annotated[int | None, typer.Option("--n-trials", min=2, help="Search trials the study ends with, over all workers and runs (at least the 2 reference designs; a calibration's trials not counted; a retry of a killed trial reuses its slot).", show_default="20, or no limit with --budget-epochs")] = None,
        budget_epochs: Annotated[int | None, typer.Option("--budget-epochs", min=1, help="Stop starting trials once the search has trained this many epochs, over all trials and seeds (a calibration's not counted).")] = None,
        timeout: Annotated[float | None, typer.Option("--timeout", help="Stop starting trials after this many seconds, per worker.")] = None,
        storage: Storage = None, study: Study = None,
        sampler: Annotated[str | None, typer.Option("--sampler", help="model (an accuracy model of the space) | nsga2 | tpe | gp | random | brute (enumerate; for --cost-only).", show_default="model, nsga2 with --cost-only")] = None,
        data: Annotated[str | None, typer.Option("--data", help="As for train: digits (bundled), cifar10:DIR, cifar100:DIR, folder:DIR (class subfolders of images) or DIR (kind recognised from its files).", show_default=SPACES)] = None,
        device: SpaceDevice = None,
        resume: Annotated[bool, flag("--resume", "Continue or join an existing study (created if missing).")] = False,
        cost_only: Annotated[bool, flag("--cost-only", "No training: print the params/FLOPs frontier of the whole space, computed in memory.")] = False,
        store: Annotated[bool, flag("--store", "With --cost-only: store every design as an Optuna study instead (one trial each).")] = False,
        as_json: Annotated[bool, flag("--json", "With --cost-only: print the frontier as JSON.")] = False,
        epochs: Epochs = None, max_train: MaxTrain = None,
        seed: Annotated[int, typer.Option("--seed", help="Seeds the sampler, the validation split and training.")] = 0,
        seeds: Annotated[int | None, typer.Option("--seeds", min=1, help="Training seeds per design.", show_default="the space's seeds, else 1")] = None,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Local worker processes (one per GPU when several are visible); needs a postgresql:// or journal: storage.")] = 1,
        heartbeat: Annotated[int, typer.Option("--heartbeat", min=1, help=f"Seconds between a running trial's heartbeats; a trial that misses {GRACE} is failed and retried once.")] = HEARTBEAT,
        enqueue: Annotated[list[Path], typer.Option("--enqueue-config", metavar="<path>", help="Also run this design first (e.g. from se-design fold --export); repeatable.")] = (),
        keep_checkpoints: Annotated[Path | None, typer.Option("--keep-checkpoints", help="Keep the trained proxies of the Pareto front here (single worker).")] = None):
    """Multi-objective Optuna search over per-stage r and SE placement."""
    from se_design.search import run
    from se_design.search.request import SearchRequest

    for name, given in (("--store", store), ("--json", as_json)):
        if given and not cost_only:
            raise UserError(f"{name} goes with --cost-only (a search that trains stores its "
                            "trials and prints its log anyway).")
    if cost_only and not store:
        if sampler is not None:
            run.check_sampler(sampler, cost_only)
        for name, given in (("--enqueue-config", enqueue), ("--workers", workers > 1)):
            if given:
                raise UserError(f"{name} needs a stored study: with --cost-only add --store.")
        return _frontier(space, as_json)
    req = SearchRequest.make(
        space=space, n_trials=n_trials, timeout=timeout, storage=storage, study=study,
        sampler=sampler, data=data, device=device, resume=resume, cost_only=cost_only,
        epochs=epochs, max_train=max_train, seeds=seeds, split_seed=seed, train_seed=seed,
        sampler_seed=seed, heartbeat=heartbeat, workers=workers, enqueue=list(enqueue),
        keep_checkpoints=keep_checkpoints, budget_epochs=budget_epochs)
    out.print(run.search(req, out), highlight=False)  # wrapped at the terminal's width


def _frontier(space: Path, as_json: bool) -> None:
    import time

    from se_design.search.frontier import frontier
    from se_design.search.space import load_space

    problem = load_space(space)
    start = time.perf_counter()
    points = frontier(problem)
    seconds = time.perf_counter() - start
    if as_json:
        print(json.dumps({"space": problem.space.name, "designs": problem.size(),
                          "seconds": seconds, "frontier": render.frontier_dicts(problem, points)},
                         indent=2))
    else:
        out.print(render.frontier_table(problem, points, seconds))


def report(study: StudyName, storage: Storage = None,
           out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for STUDY.csv, .json and .png.")] = Path("results"),
           as_json: Json = False):
    """Pareto-optimal trials of a study, deltas vs the reference designs, CSV/JSON/PNG."""
    from se_design.search import report as rep
    from se_design.search.storage import DEFAULT_STORAGE
    from se_design.search.study import load

    st = load(study, storage or DEFAULT_STORAGE)
    table = rep.rows(st)
    if not table:
        raise UserError(f"study {study!r} has no finished trials yet.")
    paths = rep.write(st, out_dir)
    if as_json:
        print(Path(f"{out_dir / study}.json").read_text())
        return
    out.print(render.front_table(rep.front(st, table)))
    saved, planned = rep.epochs_saved(st)
    if planned:
        out.print(f"early stopping saved {saved} of {planned} epochs ({saved / planned:.0%})")
    for line in [*rep.noise_lines(st), rep.running_line(st)]:
        if line:
            out.print(line, highlight=False)
    out.print("wrote " + ", ".join(map(str, paths)))


def export(out_file: Annotated[Path, typer.Option("--out", help="FILE.yaml, .yml, .json (the spec), .py (a PyTorch file needing only torch) or .onnx.")],
           study: Annotated[str | None, typer.Option("--study", help="Study to export a trial of (as printed by search).")] = None,
           storage: Storage = None,
           trial: Annotated[int | None, typer.Option("--trial", help="Trial number (see report).")] = None,
           pick: Annotated[str | None, typer.Option("--pick", help="knee | best-under-budget.")] = None,
           config: Config = None,
           arch: Annotated[str | None, typer.Option("--arch", "-a", help="Zoo name (see `se-design archs`).")] = None,
           checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="MODEL.pt whose trained weights go with it (alone: its own design).")] = None):
    """Write a design in the format --out's suffix names, with a checkpoint's weights.

    The design: a study's trial, a spec file, a zoo network or a checkpoint's own."""
    from se_design import api

    for line in api.export(out_file, study=study, storage=storage, trial=trial, pick=pick,
                           config=config, arch=arch, checkpoint=checkpoint):
        out.print(line, highlight=False)  # wrapped at the terminal width


def calibrate(
        space: Annotated[Path, typer.Option("--space", help="Search space file.")],
        seeds: Annotated[int, typer.Option("--seeds", min=2, help="Training seeds per design.")] = 3,
        designs: Annotated[int, typer.Option("--designs", min=0, help="Designs sampled besides the two references.")] = 3,
        storage: Storage = None, study: Study = None,
        data: Annotated[str | None, typer.Option("--data", help="As for search.", show_default=SPACES)] = None,
        device: SpaceDevice = None, epochs: Epochs = None, max_train: MaxTrain = None,
        seed: Annotated[int, typer.Option("--seed", help="First training seed; the split's seed of a new study.")] = 0,
        as_json: Annotated[bool, flag("--json", "Machine-readable output (accuracies as fractions, not points).")] = False):
    """Measure the proxy's seed noise, rung fidelity and SE-vs-no-SE gap (kept with the study)."""
    from se_design.search import calibrate as cal

    result, problem = cal.run(space, seeds, designs, storage, study, data, device,
                              {"epochs": epochs, "max_train": max_train}, seed,
                              log=lambda s: err.print(s, highlight=False))
    if as_json:
        print(json.dumps(result.model_dump() | {"warning": cal.warning(result, problem)},
                         indent=2))
    else:
        for line in cal.text(result, problem):
            out.print(line, highlight=False)


def effects(study: StudyName, storage: Storage = None,
            out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for STUDY_effects.json and .png.")] = Path("results"),
            as_json: Json = False):
    """The SE paper's ablation tables for your network: each choice's accuracy effect per stage, with 95% intervals and exact costs."""
    from se_design.files import write_text
    from se_design.search.effects import effects as fitted
    from se_design.search.effects import lines
    from se_design.search.plot import forest
    from se_design.search.storage import DEFAULT_STORAGE
    from se_design.search.study import load

    e = fitted(load(study, storage or DEFAULT_STORAGE))
    base = out_dir / f"{study}_effects"
    text = json.dumps(e.to_dict(), indent=2)
    paths = [write_text(f"{base}.json", text, "effects"), forest(e, Path(f"{base}.png"))]
    if as_json:
        print(text)
        return
    out.print(render.effects_table(e))
    for line in lines(e):
        out.print(line, highlight=False)
    out.print("wrote " + ", ".join(map(str, paths)))
