"""What does SE cost in latency, against what it costs in FLOPs and params? For each network
published with SE: the network against its plain_ version, batch 1, eval mode, on CPU, in
torch eager or ONNX Runtime.

Run: python bench/se_latency.py [--rounds 15] [--threads 1] [--backend torch|onnxruntime]
Rounds alternate the two models so that load from other processes hits both alike; each
round is the median of 10 forward passes. Each latency is the median over rounds with its
distribution-free 95% interval; SE and plain are 'told apart' when a two-sided Mann-Whitney
test on their rounds gives p < 0.05 (se_design.latency).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

import torch

from se_design.cost import cost
from se_design.latency import BACKENDS, Latency, forward_pass, mann_whitney_p, time_rounds
from se_design.zoo import get_arch

NETS = ("mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0", "regnet_y_400mf")


def rounds_of(name: str, rounds: int, backend: str, threads: int) -> dict[str, Latency]:
    """Alternating rounds of the plain and the SE network."""
    passes = {k: forward_pass(get_arch(n), backend, threads=threads)
              for k, n in (("plain", f"plain_{name}"), ("se", name))}
    times: dict[str, list[float]] = {k: [] for k in passes}
    for forward in passes.values():
        time_rounds(forward, 0, warmup=3, threads=threads)  # warm-up only
    for _ in range(rounds):
        for k, forward in passes.items():
            times[k] += time_rounds(forward, 1, per_round=10, warmup=0, threads=threads)
    return {k: Latency(tuple(v), backend) for k, v in times.items()}


def compare(name: str, rounds: int, backend: str, threads: int) -> str:
    lat = rounds_of(name, rounds, backend, threads)
    ratios = [s / p for s, p in zip(lat["se"].rounds, lat["plain"].rounds)]
    p = mann_whitney_p(lat["se"].rounds, lat["plain"].rounds)
    verdict = "told apart" if p < 0.05 else "not told apart"
    c_se, c_plain = cost(get_arch(name), "paper"), cost(get_arch(f"plain_{name}"), "paper")
    return (f"{name:<20} plain {_ms(lat['plain'])}  SE {_ms(lat['se'])}  "
            f"SE/plain median {statistics.median(ratios):5.3f} "
            f"(rounds {min(ratios):.3f}..{max(ratios):.3f}), {verdict} (p={p:.2g})  "
            f"FLOPs +{c_se.flops / c_plain.flops - 1:.2%}  params +{c_se.params / c_plain.params - 1:.1%}")


def _ms(lat: Latency) -> str:
    lo, hi, _ = lat.interval
    return f"{lat.median:7.2f} ms [{lo:.2f}-{hi:.2f}]"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", choices=BACKENDS, default="torch")
    ap.add_argument("--nets", nargs="+", default=NETS, choices=NETS)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.backend} on CPU, {args.threads} thread(s), batch 1, 224x224, {args.rounds} "
          "rounds, latency median [95% interval]")
    for name in args.nets:
        print(compare(name, args.rounds, args.backend, args.threads), flush=True)
