"""How fast is `search --cost-only` (the in-memory frontier) on SE-ResNet-50's spaces, against
costing every design one by one? Prints the measured times and their ratio."""

from __future__ import annotations

import itertools
import os
import platform
import tempfile
import time
from pathlib import Path

import yaml

from se_design.cost import cost
from se_design.search.frontier import frontier
from se_design.search.space import SE, Design, load_space

ROOT = Path(__file__).resolve().parents[1]


def per_stage_r_space(folder: Path) -> Path:
    """se_resnet50.yaml with the cost bench's 2,401 choices: r in none/2/4/8/16/32/64 per
    stage, standard variant."""
    data = yaml.safe_load((ROOT / "search_spaces/se_resnet50.yaml").read_text())
    data["variables"] = {"r": ["none", 2, 4, 8, 16, 32, 64], "variant": ["standard"]}
    path = folder / "se_resnet50_r.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def one_by_one(problem) -> float:
    v = problem.space.variables
    start = time.perf_counter()
    for rs in itertools.product(v.r, repeat=len(problem.stages)):
        design = Design({s: None if r == "none" else SE(r=r) for s, r in zip(problem.stages, rs)})
        cost(design.apply(problem.target))
    return time.perf_counter() - start


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, CPU only")
    with tempfile.TemporaryDirectory() as tmp:
        for path in (per_stage_r_space(Path(tmp)), ROOT / "search_spaces/se_resnet50.yaml"):
            problem = load_space(path)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                points = frontier(problem)
                times.append(time.perf_counter() - start)
            line = (f"{path.name}: {problem.size():,} designs, frontier of {len(points)} in "
                    f"{min(times) * 1e3:.1f} ms (best of 5, first run {times[0] * 1e3:.1f} ms)")
            if problem.space.variables.variant == ["standard"]:
                brute = one_by_one(problem)
                line += (f"; costing each design: {brute:.3f} s "
                         f"({brute / times[0]:.0f}x the first run)")
            print(line + f"   target < 1 s: {'PASS' if times[0] < 1 else 'MISS'}")


if __name__ == "__main__":
    main()
