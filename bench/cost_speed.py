"""How fast is the analytic cost model: the `se-design cost` command, against fvcore, and over a
per-stage-r search space? Prints the three figures against their targets, met or missed.

Run: python bench/cost_speed.py [--against CHECKOUT] [--reps N]   (CPU only; prints everything
it measures, and the load)

The command's figure includes the interpreter's start-up, which grows with the environment
(see machine()): the recorded figures come from the quickstart's environment, a fresh venv
with `pip install torch==2.13.0 -e .` and nothing else.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import site
import statistics
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import torch
from fvcore.nn import FlopCountAnalysis

from se_design.build import build_model
from se_design.cost import clear_memos, cost  # memos cleared for cold runs
from se_design.spec import SE, with_se
from se_design.zoo import get_arch

EXPECTED_FLOPS = 3_887_282_176  # se_resnet50, fvcore convention, 224x224
TARGET_CLI_S = 0.25  # median wall of CLI below, a fresh process each
TARGET_RATIO = 1000  # fvcore trace / analytic cold
TARGET_SWEEP_S = 0.3
CLI = [sys.executable, "-m", "se_design", "cost", "--arch", "se_resnet50"]
ROOT = Path(__file__).resolve().parents[1]  # the checkout whose se_design the CLI runs
RS = (None, 2, 4, 8, 16, 32, 64)  # None = no SE in that stage


def median_time(fn, reps: int, setup=lambda: None) -> float:
    """Median wall time of fn() over reps runs; setup() runs untimed before each."""
    times = []
    for _ in range(reps):
        setup()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fvcore_total(model: torch.nn.Module) -> int:
    with warnings.catch_warnings():  # torch.jit deprecation noise from fvcore's tracer
        warnings.simplefilter("ignore")
        fca = FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224))
        fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(fca.total())


# What the command's start-up is made of: each line a fresh interpreter doing a little more.
FLOOR = {
    "python -c pass": "pass",
    "+ pydantic, typer, rich imported, one model built":
        "import pydantic, typer.main, rich.console, rich.table\n"
        "class M(pydantic.BaseModel):\n    x: int",
    "+ se_design's CLI imported": "import se_design.cli.main",
}


def cli_wall(against: Path | None, reps: int) -> float:
    """Median wall time of the cost command, each run a fresh interpreter (imports included),
    with bytecode compiled once, as an installed package runs (PYTHONDONTWRITEBYTECODE would
    compile every module on every run, about 0.1 s more). The FLOOR steps, and the command
    from the checkout `against` if given, run interleaved with it: the machine's speed moves
    by more than a change does, so only figures taken side by side compare."""
    def env(root: Path) -> dict:
        path = [str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
            "PYTHONPATH": os.pathsep.join(path)}

    commands = {name: ([sys.executable, "-c", code], ROOT) for name, code in FLOOR.items()}
    command = "se-design cost --arch se_resnet50 (python -m)"
    commands[command] = CLI, ROOT
    if against:
        commands[f"the same from {against}"] = CLI, against.resolve()
    times: dict[str, list[float]] = {name: [] for name in commands}
    for rep in range(reps + 1):  # the first round compiles the bytecode, fills the file cache
        for name, (cmd, root) in commands.items():
            t = time.perf_counter()
            # run in the checkout: -m and -c put the working folder first on sys.path, ahead
            # of PYTHONPATH, so elsewhere the command would import another checkout's code
            subprocess.run(cmd, env=env(root), cwd=root, check=True, stdout=subprocess.DEVNULL)
            if rep:
                times[name].append(time.perf_counter() - t)
    print(f"start-up, median of {reps} fresh processes each, interleaved:")
    for name, ts in times.items():
        print(f"  {name:<51} {statistics.median(ts):.3f} s")
    return statistics.median(times[command])


def vs_fvcore() -> float:
    """Analytic cost vs fvcore's count; returns fvcore's trace time / the analytic cold time."""
    arch = get_arch("se_resnet50")
    analytic = cost(arch, "fvcore").flops
    model = build_model(arch).eval()
    counted = fvcore_total(model)
    assert analytic == counted == EXPECTED_FLOPS, (analytic, counted)
    print(f"se_resnet50 FLOPs: analytic {analytic:,} == fvcore {counted:,}")

    cold = median_time(lambda: cost(arch, "fvcore"), 200, clear_memos)
    warm = median_time(lambda: cost(arch, "fvcore"), 2000)  # memo kept, as a search
    trace = median_time(lambda: fvcore_total(model), 5)
    built = median_time(lambda: fvcore_total(build_model(arch).eval()), 5)  # as cost --verify
    print(f"analytic cold (memo cleared, median of 200): {cold * 1e3:9.3f} ms")
    print(f"analytic warm (memo kept, median of 2000):   {warm * 1e3:9.3f} ms")
    print(f"fvcore trace only (median of 5):             {trace * 1e3:9.1f} ms")
    print(f"fvcore build + trace (median of 5):          {built * 1e3:9.1f} ms")
    for name, f, a in [("trace / cold", trace, cold), ("trace / warm", trace, warm),
                       ("build+trace / cold", built, cold), ("build+trace / warm", built, warm)]:
        print(f"  fvcore {name:<19} {f / a:10.0f}x")
    return trace / cold


def sweep() -> float:
    """Every per-stage r of ResNet-50 built and costed from cold memos; returns the time."""
    base = get_arch("resnet50")
    stages = base.stage_names()
    choices = list(itertools.product(RS, repeat=len(stages)))

    def make(rs):
        arch = base
        for st, r in zip(stages, rs):
            arch = with_se(arch, SE(r=r) if r else None, [st])
        return arch

    clear_memos()
    t = time.perf_counter()
    params = [cost(make(rs), "fvcore").params for rs in choices]
    total = time.perf_counter() - t

    # Costing alone: specs built beforehand, memo cleared again so the work is the same.
    specs = [make(rs) for rs in choices]
    clear_memos()
    t = time.perf_counter()
    for spec in specs:
        cost(spec, "fvcore")
    costing = time.perf_counter() - t

    print(f"per-stage r sweep: {len(choices)} specs "
          f"(r in none/2/4/8/16/32/64 x {len(stages)} stages)")
    print(f"  build specs + cost: {total:.3f} s")
    print(f"  cost only:          {costing:.3f} s")
    print(f"  params min {min(params):,} / max {max(params):,}")
    return total


def machine() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, torch {torch.__version__}, run on CPU")
    # The command's start-up grows with the environment: site runs every .pth file, and
    # pydantic reads every installed distribution's entry points for plugins.
    kind = "a venv" if sys.prefix != sys.base_prefix else "the base interpreter"
    pth = sorted(p.name for d in site.getsitepackages() for p in Path(d).glob("*.pth"))
    print(f"environment: {kind} ({sys.prefix}), {len(list(metadata.distributions()))} "
          f"distributions, .pth files: {', '.join(pth) or 'none'}")


def load() -> str:
    """The 1-minute load average: figures measured above about 1 per CPU are slowed."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def report(cli: float, ratio: float, total: float) -> None:
    for name, ok, figure in [
            ("cost command, median wall", cli <= TARGET_CLI_S, f"{cli:.3f} s <= {TARGET_CLI_S} s"),
            ("fvcore trace / analytic cold", ratio >= TARGET_RATIO, f"{ratio:.0f}x >= {TARGET_RATIO}x"),
            ("2401-spec sweep", total < TARGET_SWEEP_S, f"{total:.3f} s < {TARGET_SWEEP_S} s")]:
        print(f"  {name:<29} {figure:<22} {'met' if ok else 'missed'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, metavar="CHECKOUT",
                        help="also time the cost command from this checkout, interleaved")
    parser.add_argument("--reps", type=int, default=30, help="runs of each start-up command")
    args = parser.parse_args()
    torch.set_grad_enabled(False)  # counting only, as verify.py does under no_grad
    machine()
    print(f"start: {load()}")
    figures = cli_wall(args.against, args.reps), vs_fvcore(), sweep()
    print(f"targets ({load()}):")
    report(*figures)
