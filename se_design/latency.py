"""Measured inference latency of a spec's model: the cost FLOPs do not capture (memory
traffic, the SE's global pooling and elementwise ops), where it runs: torch eager or ONNX
Runtime.

One round times `per_round` forward passes and keeps their median; rounds vary a lot on a
shared CPU (±30% in results/se_latency.md), so a latency is the median over rounds with a
distribution-free 95% interval, and two designs are told apart only when a Mann-Whitney
test on their rounds says so.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from se_design.build import build_model
from se_design.errors import UserError
from se_design.spec import Arch

BACKENDS = ("torch", "onnxruntime")
LEVEL = 0.95


class Interval(NamedTuple):
    lo: float
    hi: float
    coverage: float  # the interval's exact coverage of the median (>= the level asked when n allows)


def median_interval(samples: Sequence[float], level: float = LEVEL) -> Interval:
    """Distribution-free interval for the median of n samples: the order statistics x_(j)
    and x_(n+1-j) with the largest j whose coverage 1 - 2·P(B <= j-1), B ~ Bin(n, 1/2),
    is at least `level`. With too few samples for the level (n < 6 at 95%) it is the whole
    range, whose coverage is then below the level."""
    from scipy.stats import binom

    x, n = sorted(samples), len(samples)
    if n == 0:
        raise ValueError("no samples")
    tail = (1 - level) / 2
    j = max(1, sum(binom.cdf(k, n, 0.5) <= tail for k in range(n)))
    return Interval(x[j - 1], x[n - j], float(1 - 2 * binom.cdf(j - 1, n, 0.5)))


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value: do two sets of rounds differ in location?"""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def told_apart(a: Sequence[float], b: Sequence[float], alpha: float = 1 - LEVEL) -> bool:
    return mann_whitney_p(a, b) < alpha


@dataclass(frozen=True)
class Latency:
    """Per-round times (ms) of one model on one backend."""

    rounds: tuple[float, ...]
    backend: str = "torch"

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    @property
    def interval(self) -> Interval:
        return median_interval(self.rounds)

    def __str__(self) -> str:
        lo, hi, cover = self.interval
        return (f"{self.median:.2f} ms ({cover:.0%} interval {lo:.2f}-{hi:.2f}, "
                f"{len(self.rounds)} rounds, {self.backend})")


def forward_pass(arch: Arch, backend: str = "torch", device: str = "cpu", batch: int = 1,
                 threads: int | None = None) -> Callable[[], None]:
    """A function running one forward pass of the spec's model (eval mode, random input at
    the spec's resolution) on `backend`, built once; ONNX Runtime runs on `threads` threads."""
    if backend == "torch":
        return _torch_forward(arch, device, batch)
    if backend == "onnxruntime":
        return _ort_forward(arch, device, batch, threads)
    raise UserError(f"unknown latency backend {backend!r} (known: {', '.join(BACKENDS)}).")


def time_rounds(forward: Callable[[], None], rounds: int, per_round: int = 1, warmup: int = 2,
                threads: int | None = None) -> list[float]:
    """Milliseconds per round (the median of its passes) after `warmup` passes (allocator,
    kernel selection), with torch on `threads` threads (None: as set)."""
    with torch_threads(threads):
        for _ in range(warmup):
            forward()
        return [statistics.median(_time(forward) for _ in range(per_round)) for _ in range(rounds)]


def measure(arch: Arch, backend: str = "torch", device: str = "cpu", batch: int = 1,
            rounds: int = 15, per_round: int = 1, warmup: int = 2,
            threads: int | None = None) -> Latency:
    """`rounds` rounds of the spec's model on `backend` (see forward_pass, time_rounds)."""
    forward = forward_pass(arch, backend, device, batch, threads)
    return Latency(tuple(time_rounds(forward, rounds, per_round, warmup, threads)), backend)


def latency_ms(arch: Arch, device: str = "cpu", batch: int = 1, repeats: int = 10,
               backend: str = "torch", threads: int | None = None) -> float:
    """Median forward time in milliseconds at the spec's resolution, eval mode, after warm-up
    (`repeats` single passes: the search's latency objective)."""
    return measure(arch, backend, device, batch, rounds=repeats, threads=threads).median


@contextmanager
def torch_threads(threads: int | None):
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _time(forward: Callable[[], None]) -> float:
    start = time.perf_counter()
    forward()
    return (time.perf_counter() - start) * 1e3


def _torch_forward(arch: Arch, device: str, batch: int) -> Callable[[], None]:
    model = build_model(arch).eval().to(device, memory_format=torch.channels_last)
    x = torch.randn(batch, arch.in_chans, arch.resolution, arch.resolution, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    cuda = device.startswith("cuda")

    @torch.no_grad()
    def forward():
        model(x)
        if cuda:  # the kernels are queued: wait for them
            torch.cuda.synchronize()

    return forward


def _ort_forward(arch: Arch, device: str, batch: int, threads: int | None) -> Callable[[], None]:
    if device != "cpu":
        raise UserError(f"the onnxruntime latency backend runs on the CPU, not {device!r}.")
    from se_design.onnx_export import export_model, require_onnx, session

    require_onnx()
    with tempfile.TemporaryDirectory() as folder:  # the session keeps the model in memory
        path = Path(folder) / "model.onnx"
        export_model(build_model(arch).eval(), arch, path)
        sess = session(path, threads)
    x = {"input": torch.randn(batch, arch.in_chans, arch.resolution, arch.resolution).numpy()}
    return lambda: sess.run(None, x)
