"""Does the proxy rank designs as longer training does? Two calibrations of the same designs
(the same --designs and --seed over spaces with the same variables draw the same designs),
one with the search's proxy and one with a longer schedule, compared design by design.

Run:
    se-design calibrate --space SHORT.yaml --seeds 2 --designs 6 --json > short.json
    se-design calibrate --space LONG.yaml --seeds 2 --designs 6 --json > long.json
    python bench/proxy_fidelity.py short.json long.json

Prints each design's mean over its seeds under both, the Spearman correlation of the means
over designs with a bootstrap 95% interval (designs resampled), each run's own repeatability
(Spearman of its first seed against its second: how well it could agree with anything), and
for the pairs of designs the long run tells apart (95%, its pooled seed std), the share the
proxy orders the same way and the share it tells apart itself.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

from se_design.search.stats import Pooled, difference, mean, spearman


def load(path: str) -> tuple[dict[str, dict[int, float]], Pooled]:
    cal = json.loads(Path(path).read_text())
    runs = {r["design"]: {int(s): a for s, a in r["seed_acc"].items()} for r in cal["runs"]}
    return runs, Pooled(cal["seed_std"], cal["seed_std_df"])


def bootstrap(x: list[float], y: list[float], draws: int = 2000) -> tuple[float, float]:
    """95% percentile interval of Spearman over designs resampled with replacement (draws
    whose ranks are constant are skipped)."""
    rng, n, rs = random.Random(0), len(x), []
    for _ in range(draws):
        idx = [rng.randrange(n) for _ in range(n)]
        r = spearman([x[i] for i in idx], [y[i] for i in idx])
        if r is not None:
            rs.append(r)
    rs.sort()
    return rs[int(0.025 * len(rs))], rs[int(0.975 * len(rs)) - 1]


def repeatability(runs: dict[str, dict[int, float]]) -> float | None:
    """Spearman over designs of the first seed's accuracy against the second's."""
    first, second = zip(*[sorted(a.items())[:2] for a in runs.values() if len(a) >= 2])
    return spearman([a for _, a in first], [a for _, a in second])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("short", help="calibrate --json of the proxy")
    ap.add_argument("long", help="calibrate --json of the longer schedule")
    args = ap.parse_args()
    (short, pool_s), (long, pool_l) = load(args.short), load(args.long)
    names = [d for d in short if d in long]
    if len(names) < 3:
        raise SystemExit(f"the two calibrations share {len(names)} designs; 3 or more are "
                         "needed (calibrate both with the same --designs and --seed).")
    print(f"{'design':<58} {'proxy':>7} {'long':>7}  (mean over seeds; seeds)")
    for d in sorted(names, key=lambda d: -mean(list(long[d].values()))):
        print(f"{d:<58} {mean(list(short[d].values())):>7.4f} "
              f"{mean(list(long[d].values())):>7.4f}  ({len(short[d])}; {len(long[d])})")
    xs = [mean(list(short[d].values())) for d in names]
    ys = [mean(list(long[d].values())) for d in names]
    lo, hi = bootstrap(xs, ys)
    print(f"\nSpearman, proxy vs long, over {len(names)} designs: {spearman(xs, ys):.2f} "
          f"(bootstrap 95% interval {lo:.2f} to {hi:.2f})")
    print(f"repeatability, seed against seed: proxy {repeatability(short):.2f}, long "
          f"{repeatability(long):.2f}")
    print(f"seed std: proxy {100 * pool_s.std:.2f} points, long {100 * pool_l.std:.2f} points")
    apart = [(a, b) for a, b in itertools.combinations(names, 2)
             if difference(long[a], long[b], pool_l).distinct()]
    same = [(a, b) for a, b in apart
            if (mean(list(short[a].values())) > mean(list(short[b].values())))
            == (mean(list(long[a].values())) > mean(list(long[b].values())))]
    resolved = [(a, b) for a, b in same if difference(short[a], short[b], pool_s).distinct()]
    pairs = len(names) * (len(names) - 1) // 2
    print(f"pairs the long run tells apart: {len(apart)} of {pairs}; the proxy orders "
          f"{len(same)} of them the same way and tells {len(resolved)} apart itself")


if __name__ == "__main__":
    main()
