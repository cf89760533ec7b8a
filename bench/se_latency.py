"""What does SE cost in latency, against what it costs in FLOPs and params? For each network
published with SE: the network against its plain_ version, batch 1, eval mode, on CPU.

Run: python bench/se_latency.py [--rounds 7] [--threads 1]
Rounds alternate the two models so that load from other processes hits both alike; each
round is the median of 10 forward passes (se_design.latency.latency_ms).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

import torch

from se_design.cost import cost
from se_design.latency import latency_ms
from se_design.zoo import get_arch

NETS = ("mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0", "regnet_y_400mf")


def compare(name: str, rounds: int) -> str:
    se, plain = get_arch(name), get_arch(f"plain_{name}")
    times = {"se": [], "plain": []}
    for _ in range(rounds):
        times["plain"].append(latency_ms(plain))
        times["se"].append(latency_ms(se))
    ratios = [s / p for s, p in zip(times["se"], times["plain"])]
    c_se, c_plain = cost(se, "paper"), cost(plain, "paper")
    return (f"{name:<20} latency plain {statistics.median(times['plain']):7.2f} ms  "
            f"SE {statistics.median(times['se']):7.2f} ms  "
            f"SE/plain median {statistics.median(ratios):5.3f} "
            f"(rounds {min(ratios):.3f}..{max(ratios):.3f})  "
            f"FLOPs +{c_se.flops / c_plain.flops - 1:.2%}  params +{c_se.params / c_plain.params - 1:.1%}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"CPU, {args.threads} thread(s), batch 1, 224x224, {args.rounds} rounds")
    for name in NETS:
        print(compare(name, args.rounds), flush=True)
