"""What does one proxy run cost? Wall time of one seed of SE r=16 everywhere, trained as each
space file's proxy says (epochs, image size, batch, gates), on synthetic images of that size;
rounds interleave the spaces so that a change of load hits them alike.

Run: python bench/proxy_cost.py SPACE [SPACE ...] [--rounds 3] [--images 4068]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import replace

import torch

from se_design.build import build_model
from se_design.data import synthetic
from se_design.search.space import load_space
from se_design.spec import SE, with_se
from se_design.train import TrainConfig, train


def one_run(space: str, images: int) -> tuple[float, str]:
    problem = load_space(space)
    proxy = problem.space.proxy
    size = proxy.data.size or problem.proxy().resolution
    cfg = replace(TrainConfig(**proxy.train), seed=0)
    data = synthetic(images, size=size)
    torch.manual_seed(0)
    model = build_model(with_se(problem.proxy(10), SE(r=16)))
    t = time.perf_counter()
    train(model, data, synthetic(256, size=size, seed=1), cfg, progress=False)
    return time.perf_counter() - t, f"{cfg.epochs} epochs at {size}x{size}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spaces", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=4068, help="training images (CIFAR subset's)")
    args = ap.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), CPU; {args.images} training images")
    times: dict[str, list[float]] = {s: [] for s in args.spaces}
    what = {}
    for _ in range(args.rounds):
        for s in args.spaces:
            seconds, what[s] = one_run(s, args.images)
            times[s].append(seconds)
    first = statistics.median(times[args.spaces[0]])
    for s in args.spaces:
        med = statistics.median(times[s])
        print(f"{s}: {what[s]}: median {med:.1f} s per run over {args.rounds} rounds "
              f"(min {min(times[s]):.1f}, max {max(times[s]):.1f}); {med / first:.2f}x the first")


if __name__ == "__main__":
    main()
