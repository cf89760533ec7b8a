"""Measured inference latency of a spec's model: the cost FLOPs do not capture (memory
traffic, the SE's global pooling and elementwise ops)."""

from __future__ import annotations

import statistics
import time

import torch

from se_design.build import build_model
from se_design.spec import Arch


@torch.no_grad()
def latency_ms(arch: Arch, device: str = "cpu", batch: int = 1, repeats: int = 10) -> float:
    """Median forward time in milliseconds at the spec's resolution, eval mode, after warm-up."""
    model = build_model(arch).eval().to(device, memory_format=torch.channels_last)
    x = torch.randn(batch, arch.in_chans, arch.resolution, arch.resolution, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    times = []
    for i in range(repeats + 2):  # two warm-up runs (allocator, kernel selection)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        model(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= 2:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
