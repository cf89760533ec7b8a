"""`se-design`: thin typer commands that call the library and render with rich."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import typer
from rich.console import Console

from se_design import render
from se_design.cost import cost as compute_cost
from se_design.errors import UserError
from se_design.search import GRACE, HEARTBEAT
from se_design.spec import Arch, load_config, override, validate
from se_design.zoo import get_arch, names

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Design CNNs with Squeeze-and-Excitation blocks: cost, search, export.")
out = Console()
if not out.is_terminal:  # piped or captured: don't squeeze tables into 80 columns
    out.width = 160
err = Console(stderr=True)


def user_errors(fn):
    """Bad input -> one sentence on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

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
R = typer.Option(None, "--r", help="SE reduction ratio for se_* archs (default 16).")
RES = typer.Option(None, "--resolution", help="Input size (default: the arch's).")
CLASSES = typer.Option(None, "--num-classes", help="Classifier outputs.")
WIDTH = typer.Option(None, "--width", help="Channel width multiplier.")
STRIDE = typer.Option(None, "--stride-at", help="ResNet bottleneck stride: 1x1 (paper) | 3x3 (v1.5).")


@app.command()
@user_errors
def cost(arch: str | None = ARCH, config: Path | None = CONFIG, r: int | None = R,
         resolution: int | None = RES, num_classes: int | None = CLASSES,
         width: float | None = WIDTH, stride_at: str | None = STRIDE,
         convention: str = typer.Option("fvcore", help="fvcore | paper (see docs)."),
         verify: bool = typer.Option(False, "--verify", help="Count with fvcore too; must agree."),
         layers: bool = typer.Option(False, "--layers", help="Also print every layer."),
         as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
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
def archs(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
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
def paper_table(out_file: Path | None = typer.Option(None, "--out", help="Write markdown here.")):
    """The SE paper's params/GFLOPs next to ours; exit 1 if a row misses the tolerance."""
    from se_design import paper

    comparisons = paper.compare()
    text = paper.markdown(comparisons)
    if out_file:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(paper.PREAMBLE + text)
    out.print(render.paper_table(comparisons))
    if not all(c.ok for c in comparisons):
        raise typer.Exit(1)


STORAGE = typer.Option(None, "--storage", help="sqlite:///FILE | postgresql://USER:PASSWORD@HOST/DB | journal:FILE [default: sqlite:///results/search.db].")
STUDY = typer.Option(None, "--study", help="Study name [default: the space's name].")


@app.command()
@user_errors
def search(space: Path = typer.Option(..., "--space", help="Search space file (search_spaces/*.yaml)."),
           n_trials: int = typer.Option(20, "--n-trials", min=2, help="Trials the study ends with, over all workers and runs (at least the 2 reference designs; a retry of a killed trial reuses its slot)."),
           timeout: float | None = typer.Option(None, "--timeout", help="Seconds, per worker."),
           storage: str | None = STORAGE, study: str | None = STUDY,
           sampler: str = typer.Option("nsga2", "--sampler", help="nsga2 | tpe | brute (enumerate; for --cost-only)."),
           data: str | None = typer.Option(None, "--data", help="Data directory (overrides the space's)."),
           device: str | None = typer.Option(None, "--device", help="cpu | cuda [default: the space's]."),
           resume: bool = typer.Option(False, "--resume", help="Continue or join an existing study (created if missing)."),
           cost_only: bool = typer.Option(False, "--cost-only", help="No training: costs and budgets only."),
           epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override the proxy's epochs."),
           max_train: int | None = typer.Option(None, "--max-train", min=10, help="Override the proxy's training images."),
           seed: int = typer.Option(0, "--seed"),
           seeds: int | None = typer.Option(None, "--seeds", min=1, help="Training seeds per design [default: the space's seeds, else 1]."),
           workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes (one per GPU when several are visible); needs a postgresql:// or journal: storage."),
           heartbeat: int = typer.Option(HEARTBEAT, "--heartbeat", min=1, help=f"Seconds between a running trial's heartbeats; a trial that misses {GRACE} is failed and retried once.")):
    """Multi-objective Optuna search over per-stage r and SE placement."""
    from se_design.search import run

    given = {"--space": space, "--n-trials": n_trials, "--timeout": timeout, "--storage": storage,
             "--study": study, "--sampler": sampler, "--data": data, "--device": device,
             "--epochs": epochs, "--max-train": max_train, "--seed": seed, "--seeds": seeds,
             "--heartbeat": heartbeat}
    worker_args = [str(x) for k, v in given.items() if v is not None for x in (k, v)]
    worker_args += ["--resume"] + ["--cost-only"] * cost_only
    result = run.search(space, n_trials=n_trials, timeout=timeout, storage=storage, study=study,
                        sampler=sampler, data=data, device=device, resume=resume,
                        cost_only=cost_only, seed=seed, console=out,
                        overrides={"epochs": epochs, "max_train": max_train, "seeds": seeds},
                        heartbeat=heartbeat, workers=workers, worker_args=worker_args)
    out.print(result)


@app.command()
@user_errors
def report(study: str = typer.Option(..., "--study"), storage: str | None = STORAGE,
           out_dir: Path = typer.Option(Path("results"), "--out-dir", help="Where CSV/JSON/PNG go."),
           as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
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
    out.print(render.front_table(st, table))
    saved, planned = rep.epochs_saved(st)
    if planned:
        out.print(f"early stopping saved {saved} of {planned} epochs ({saved / planned:.0%})")
    for line in rep.noise_lines(st):
        out.print(line, highlight=False)
    out.print("wrote " + ", ".join(map(str, paths)))


@app.command()
@user_errors
def export(study: str = typer.Option(..., "--study"), storage: str | None = STORAGE,
           trial: int | None = typer.Option(None, "--trial"),
           pick: str | None = typer.Option(None, "--pick", help="knee | best-under-budget."),
           out_file: Path = typer.Option(..., "--out", help="FILE.yaml or FILE.json")):
    """Write the chosen trial's target architecture as a config file."""
    from se_design.search import report as rep
    from se_design.search.study import DEFAULT_STORAGE, load
    from se_design.spec import save_config

    st = load(study, storage or DEFAULT_STORAGE)
    chosen = rep.pick(st, trial, pick)
    save_config(validate(chosen.user_attrs["target_spec"]), out_file)
    out.print(f"trial {chosen.number} ({chosen.user_attrs['design']}): "
              f"{chosen.user_attrs['params']:,} params, {chosen.user_attrs['flops']:,} FLOPs "
              f"-> {out_file}")
    note = rep.pick_note(st, chosen) if pick else None
    if note:
        out.print(f"note: {note}", highlight=False)


from se_design.calibrate_cmd import register as register_calibrate

register_calibrate(app)
