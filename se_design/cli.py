"""`se-design`: thin typer commands that call the library and render with rich."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import typer
from rich.console import Console

from se_design import files, render
from se_design.analysis import commands as analysis_commands
from se_design.calibrate_cmd import register as register_calibrate
from se_design.cost import cost as compute_cost
from se_design.errors import Interrupted, UserError
from se_design.files import write_text
from se_design.options import DEVICE_HELP, flag
from se_design.search import GRACE, HEARTBEAT
from se_design.spec import Arch, load_config, override
from se_design.zoo import get_arch, names


class _Group(typer.core.TyperGroup):
    """Shows -h/--help without a type, as the other switches (also for commands other
    modules register)."""

    def get_help_option(self, ctx):
        return _untyped(super().get_help_option(ctx))

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            _untyped(command.get_help_option(ctx))
        return command


def _untyped(option):
    if option is not None:
        option.metavar = ""
    return option


app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Design CNNs with Squeeze-and-Excitation blocks: cost, search, export.")
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"se-design {version('se-design')}")
        except PackageNotFoundError:  # run from a checkout without installing
            print("se-design (not installed)")
        raise typer.Exit()


@app.callback()
def main(_: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                metavar="", show_default=False,
                                help="Print the version and exit.")):
    """Design CNNs with Squeeze-and-Excitation blocks: cost, search, export."""


def user_errors(fn):
    """Bad input -> one sentence on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        files.created.clear()
        try:
            return fn(*args, **kwargs)
        except Interrupted as e:  # 130 = 128 + SIGINT, what shells expect after Ctrl-C
            err.print(str(e), highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            err.print("interrupted.")
            raise typer.Exit(130) from None
        except UserError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        finally:  # a folder a write needed is made, and named (on stderr: stdout may be JSON)
            for path in files.created:
                err.print(f"created folder '{path}'", highlight=False, soft_wrap=True)

    return wrapper


def resolve_arch(arch: str | None, config: Path | None, r: int | None, resolution: int | None,
                 num_classes: int | None, width: float | None, stride_at: str | None) -> Arch:
    if (arch is None) == (config is None):
        raise UserError("give either --arch NAME or --config FILE.")
    if arch is not None:
        return get_arch(arch, r=r, resolution=resolution, num_classes=num_classes, width=width,
                        stride_at=stride_at)
    if (r, width, stride_at) != (None, None, None):
        raise UserError("--r, --width and --stride-at apply to --arch; edit the config instead.")
    return override(load_config(config), resolution=resolution, num_classes=num_classes)


ARCH = typer.Option(None, "--arch", "-a", help="Zoo name (see `se-design archs`).")
CONFIG = typer.Option(None, "--config", "-c", help="Spec file (.yaml/.yml/.json).")
R = typer.Option(None, "--r", help="SE reduction ratio for se_* archs.", show_default="16")
RES = typer.Option(None, "--resolution", help="Input size in pixels.", show_default="the arch's")
CLASSES = typer.Option(None, "--num-classes", help="Classifier outputs.",
                       show_default="the arch's")
WIDTH = typer.Option(None, "--width", help="Channel width multiplier.", show_default="1.0")
STRIDE = typer.Option(None, "--stride-at", help="ResNet bottleneck stride: 1x1 (paper) | 3x3 (v1.5).",
                      show_default="1x1 for resnet*, 3x3 for resnext*")
JSON = flag("--json", "Machine-readable output on stdout.")


@app.command()
@user_errors
def cost(arch: str | None = ARCH, config: Path | None = CONFIG, r: int | None = R,
         resolution: int | None = RES, num_classes: int | None = CLASSES,
         width: float | None = WIDTH, stride_at: str | None = STRIDE,
         convention: str = typer.Option("fvcore", help="fvcore | paper (see docs)."),
         verify: bool = flag("--verify", "Count with fvcore too; exit 1 unless they agree."),
         layers: bool = flag("--layers", "Also print every layer."), as_json: bool = JSON):
    """Params and FLOPs per stage and in total, from the spec alone (no tracing)."""
    spec = resolve_arch(arch, config, r, resolution, num_classes, width, stride_at)
    c = compute_cost(spec, convention)
    check = None
    if verify:
        from se_design.verify import verify as run_verify  # imports torch: only when asked

        check = run_verify(spec)
    if as_json:
        data = render.cost_dict(c)
        if check:
            data["verify"] = render.check_dict(check)
        print(json.dumps(data, indent=2))
    else:
        out.print(render.cost_table(c, check.fvcore_flops if check and convention == "fvcore" else None))
        if layers:
            out.print(render.layer_table(c))
        if check:
            out.print(render.check_text(check))
    if check and not check.ok:
        raise typer.Exit(1)


@app.command()
@user_errors
def archs(as_json: bool = JSON):
    """List the model zoo with params and GFLOPs at each arch's default resolution."""
    rows = []
    for name in names():
        spec = get_arch(name)
        fv, paper = compute_cost(spec, "fvcore"), compute_cost(spec, "paper")
        rows.append({"name": name, "resolution": spec.resolution, "num_classes": spec.num_classes,
                     "params": fv.params, "gflops_paper": paper.flops / 1e9,
                     "gflops_fvcore": fv.flops / 1e9})
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        out.print(render.archs_table(rows))


@app.command("paper-table")
@user_errors
def paper_table(out_file: Path | None = typer.Option(None, "--out", help="Also write the table as markdown to this file.")):
    """The SE paper's params/GFLOPs next to ours; exit 1 if a row misses the tolerance."""
    from se_design import paper

    comparisons = paper.compare()
    text = paper.markdown(comparisons)
    if out_file:
        write_text(out_file, paper.PREAMBLE + text, "output file")
    out.print(render.paper_table(comparisons))
    if not all(c.ok for c in comparisons):
        raise typer.Exit(1)


STORAGE = typer.Option(None, "--storage", help="sqlite:///FILE, postgresql://HOST/DB or journal:FILE.",
                       show_default="SQLite results/search.db")
STUDY = typer.Option(None, "--study", help="Study name.", show_default="the space's name")


@app.command()
@user_errors
def search(space: Path = typer.Option(..., "--space", help="Search space file (search_spaces/*.yaml)."),
           n_trials: int = typer.Option(20, "--n-trials", min=2, help="Trials the study ends with, over all workers and runs (at least the 2 reference designs; a retry of a killed trial reuses its slot)."),
           timeout: float | None = typer.Option(None, "--timeout", help="Stop starting trials after this many seconds, per worker.", show_default="none"),
           storage: str | None = STORAGE, study: str | None = STUDY,
           sampler: str = typer.Option("nsga2", "--sampler", help="nsga2 | tpe | brute (enumerate; for --cost-only)."),
           data: str | None = typer.Option(None, "--data", help="As for train: digits (bundled), cifar10:DIR, cifar100:DIR, folder:DIR (class subfolders of images) or DIR (kind recognised from its files).", show_default="the space's"),
           device: str | None = typer.Option(None, "--device", help=DEVICE_HELP, show_default="the space's"),
           resume: bool = flag("--resume", "Continue or join an existing study (created if missing)."),
           cost_only: bool = flag("--cost-only", "No training: print the params/FLOPs frontier of the whole space, computed in memory."),
           store: bool = flag("--store", "With --cost-only: store every design as an Optuna study instead (one trial each)."),
           as_json: bool = flag("--json", "With --cost-only: print the frontier as JSON."),
           as_worker: bool = typer.Option(False, "--as-worker", hidden=True),  # --workers' children
           epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override the proxy's epochs.", show_default="the space's"),
           max_train: int | None = typer.Option(None, "--max-train", min=10, help="Override the proxy's training images.", show_default="the space's"),
           seed: int = typer.Option(0, "--seed", help="Seeds the sampler, the validation split and training."),
           seeds: int | None = typer.Option(None, "--seeds", min=1, help="Training seeds per design.", show_default="the space's seeds, else 1"),
           workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes (one per GPU when several are visible); needs a postgresql:// or journal: storage."),
           heartbeat: int = typer.Option(HEARTBEAT, "--heartbeat", min=1, help=f"Seconds between a running trial's heartbeats; a trial that misses {GRACE} is failed and retried once."),
           enqueue: list[Path] = typer.Option([], "--enqueue-config", metavar="<path>", help="Also run this design first (e.g. from se-design fold --export); repeatable."),
           keep_checkpoints: Path | None = typer.Option(None, "--keep-checkpoints", help="Keep the trained proxies of the Pareto front here (single worker).")):
    """Multi-objective Optuna search over per-stage r and SE placement."""
    from se_design.search import run

    for name, given in (("--store", store), ("--json", as_json)):
        if given and not cost_only:
            raise UserError(f"{name} goes with --cost-only (a search that trains stores its "
                            "trials and prints its log anyway).")
    if cost_only and not store:
        run.check_sampler(sampler)
        for name, given in (("--enqueue-config", enqueue), ("--workers", workers > 1)):
            if given:
                raise UserError(f"{name} needs a stored study: with --cost-only add --store.")
        return _frontier(space, as_json)
    given = {"--space": space, "--n-trials": n_trials, "--timeout": timeout, "--storage": storage,
             "--study": study, "--sampler": sampler, "--data": data, "--device": device,
             "--epochs": epochs, "--max-train": max_train, "--seed": seed, "--seeds": seeds,
             "--heartbeat": heartbeat}
    worker_args = [str(x) for k, v in given.items() if v is not None for x in (k, v)]
    worker_args += ["--resume", "--as-worker"] + ["--cost-only", "--store"] * cost_only
    result = run.search(space, n_trials=n_trials, timeout=timeout, storage=storage, study=study,
                        sampler=sampler, data=data, device=device, resume=resume,
                        cost_only=cost_only, seed=seed, console=out,
                        overrides={"epochs": epochs, "max_train": max_train, "seeds": seeds},
                        heartbeat=heartbeat, workers=workers, worker_args=worker_args,
                        enqueue=enqueue, keep_checkpoints=keep_checkpoints)
    if not as_worker:  # the parent of --workers prints the one summary
        out.print(result, highlight=False, soft_wrap=True)


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


@app.command()
@user_errors
def report(study: str = typer.Option(..., "--study", help="Study name (as printed by search)."),
           storage: str | None = STORAGE,
           out_dir: Path = typer.Option(Path("results"), "--out-dir", help="Folder for STUDY.csv, .json and .png."),
           as_json: bool = JSON):
    """Pareto-optimal trials of a study, deltas vs the reference designs, CSV/JSON/PNG."""
    from se_design.search import report as rep
    from se_design.search.study import DEFAULT_STORAGE, load

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


@app.command()
@user_errors
def export(study: str = typer.Option(..., "--study", help="Study name (as printed by search)."),
           storage: str | None = STORAGE,
           trial: int | None = typer.Option(None, "--trial", help="Trial number (see report).", show_default="none"),
           pick: str | None = typer.Option(None, "--pick", help="knee | best-under-budget.", show_default="none"),
           out_file: Path = typer.Option(..., "--out", help="FILE.yaml or FILE.json")):
    """Write the chosen trial's target architecture as a config file."""
    from se_design.search import export as ex
    from se_design.search.study import DEFAULT_STORAGE, load

    url = storage or DEFAULT_STORAGE
    for line in ex.export(load(study, url), url, trial, pick, out_file):
        out.print(line, highlight=False, soft_wrap=True)


analysis_commands.register(app, user_errors)  # train, excitation, fold
register_calibrate(app)  # calibrate
