"""How fast is the analytic cost model, against fvcore and over a per-stage-r search space?

Run: python bench/cost_speed.py   (CPU only; prints everything it measures)
"""

from __future__ import annotations

import itertools
import os
import platform
import statistics
import time
import warnings

import torch
from fvcore.nn import FlopCountAnalysis

from se_design.build import build_model
from se_design.cost import clear_memos, cost  # memos cleared for cold runs
from se_design.spec import SE, with_se
from se_design.zoo import get_arch

EXPECTED_FLOPS = 3_887_282_176  # se_resnet50, fvcore convention, 224x224
TARGET_RATIO = 1000
TARGET_SWEEP_S = 2.0
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


def vs_fvcore() -> None:
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
        ratio = f / a
        verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
        print(f"  fvcore {name:<19} {ratio:10.0f}x   target >= {TARGET_RATIO}x: {verdict}")


def sweep() -> None:
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

    verdict = "PASS" if total < TARGET_SWEEP_S else "MISS"
    print(f"per-stage r sweep: {len(choices)} specs "
          f"(r in none/2/4/8/16/32/64 x {len(stages)} stages)")
    print(f"  build specs + cost: {total:.3f} s   target < {TARGET_SWEEP_S:.0f} s: {verdict}")
    print(f"  cost only:          {costing:.3f} s")
    print(f"  params min {min(params):,} / max {max(params):,}")


def machine() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, torch {torch.__version__}, run on CPU")


if __name__ == "__main__":
    torch.set_grad_enabled(False)  # counting only, as verify.py does under no_grad
    machine()
    vs_fvcore()
    sweep()
