"""Statistics for a noisy search: intervals, differences, power, rank agreement and the
bootstrap probability of being on the Pareto front. Pure Python plus numpy (no torch, no
scipy), so the search and report can call it at every rung for free.

Accuracies are fractions (0.39), seeds are replicate trainings of one design. Where a design
has too few seeds for its own spread, callers pass the seed std pooled over designs (`pooled`),
which assumes every design is about as noisy as the others (measured: it is, within 2x).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)  # 1.960
Z80 = NormalDist().inv_cdf(0.80)  # 0.842: power 80%


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta (Lentz; Numerical Recipes 6.4)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((qam + 2 * m) * (a + 2 * m)),
                    -(a + m) * (qab + m) * x / ((a + 2 * m) * (qap + 2 * m))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c if abs(1 + num / c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0 or x >= 1:
        return max(0.0, min(1.0, x))
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom."""
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


@lru_cache(maxsize=512)
def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t (df may be fractional, as Welch's is); bisection on
    t_cdf to 1e-10."""
    if not 0 < p < 1 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, not p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def std(xs: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


@dataclass(frozen=True)
class Pooled:
    """A seed std pooled over designs, with its degrees of freedom (sum of n_i - 1)."""

    std: float
    df: int


def pooled_std(groups: Sequence[Sequence[float]]) -> Pooled | None:
    """Pooled within-design std: sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)); None without any
    design measured on 2 or more seeds."""
    df = sum(len(g) - 1 for g in groups if len(g) > 1)
    if df == 0:
        return None
    ss = sum((len(g) - 1) * std(g) ** 2 for g in groups if len(g) > 1)
    return Pooled(math.sqrt(ss / df), df)


def ci95(xs: Sequence[float], pooled: Pooled | None = None) -> float | None:
    """Half-width of the 95% t-interval of the mean of xs: from the pooled std when given
    (its df), else from xs's own spread; None when neither exists (one seed, no pool)."""
    if pooled is not None:
        return t_quantile(0.975, pooled.df) * pooled.std / math.sqrt(len(xs))
    if len(xs) < 2:
        return None
    return t_quantile(0.975, len(xs) - 1) * std(xs) / math.sqrt(len(xs))


@dataclass(frozen=True)
class Diff:
    """mean(a) - mean(b), its standard error and degrees of freedom."""

    mean: float
    se: float
    df: float

    def half_width(self, level: float = 0.95) -> float:
        return t_quantile(0.5 + level / 2, self.df) * self.se

    def distinct(self, level: float = 0.95) -> bool:
        """True when the interval excludes 0: the two are distinguishable at this level."""
        return abs(self.mean) > self.half_width(level)


def difference(a: dict[int, float], b: dict[int, float], pooled: Pooled | None = None) -> Diff:
    """Compare two designs' per-seed accuracies ({seed: acc}). Paired on their shared seeds
    when there are at least 3 and no pool is given; else Welch's unequal-variance test; with a
    pool, sigma * sqrt(1/n_a + 1/n_b) on the pool's df."""
    xa, xb = list(a.values()), list(b.values())
    m = mean(xa) - mean(xb)
    if pooled is not None:
        return Diff(m, pooled.std * math.sqrt(1 / len(xa) + 1 / len(xb)), pooled.df)
    shared = sorted(set(a) & set(b))
    if len(shared) >= 3 and len(shared) == len(a) == len(b):
        d = [a[s] - b[s] for s in shared]
        return Diff(m, std(d) / math.sqrt(len(d)), len(d) - 1)
    if len(xa) < 2 or len(xb) < 2:
        raise ValueError("a difference needs 2 or more seeds per design, or a pooled std")
    va, vb = std(xa) ** 2 / len(xa), std(xb) ** 2 / len(xb)
    se = math.sqrt(va + vb)
    if se == 0:
        return Diff(m, 0.0, len(xa) + len(xb) - 2)
    df = (va + vb) ** 2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1))  # Welch-Satterthwaite
    return Diff(m, se, df)


def min_detectable_difference(seed_std: float, seeds: int, power: float = 0.8,
                              level: float = 0.95) -> float:
    """Smallest true difference between two designs, each measured on `seeds` seeds, that a
    two-sided test at `level` detects with probability `power` (normal approximation):
    (z_{1-alpha/2} + z_power) * sigma * sqrt(2 / seeds)."""
    z = NormalDist().inv_cdf(0.5 + level / 2) + NormalDist().inv_cdf(power)
    return z * seed_std * math.sqrt(2 / seeds)


def false_stop_rate(z: float) -> float:
    """Probability that a design truly as good as one peer falls more than z standard errors
    below it (normal model): the chance one noise-aware rung comparison wrongly stops it."""
    return 1 - NormalDist().cdf(z)


def _ranks(xs: Sequence[float]) -> list[float]:
    order = sorted(range(len(xs)), key=xs.__getitem__)
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):  # ties share their average rank
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (Pearson on average ranks); None when either is constant or
    there are fewer than 3 pairs."""
    if len(x) != len(y):
        raise ValueError("spearman needs two sequences of equal length")
    if len(x) < 3:
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = mean(rx), mean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def p_front(accs: Sequence[Sequence[float]], costs: Sequence[Sequence[float]],
            pooled: Pooled | None = None, n_boot: int = 1000, seed: int = 0) -> list[float]:
    """For each design (its per-seed accuracies, maximised; its costs, minimised): the share
    of bootstrap replicates in which it is on the Pareto front. A replicate resamples each
    design's seeds with replacement; a design with one seed draws its mean from
    N(acc, pooled.std) instead (with no pool it keeps its single value). Deterministic for
    a given `seed`."""
    import numpy as np

    n = len(accs)
    if n == 0:
        return []
    rng = np.random.default_rng(seed)
    sims = np.empty((n_boot, n))
    for j, xs in enumerate(accs):
        xs = np.asarray(xs, dtype=float)
        if len(xs) >= 2:
            sims[:, j] = xs[rng.integers(0, len(xs), (n_boot, len(xs)))].mean(1)
        else:
            sims[:, j] = xs[0] + (pooled.std if pooled else 0.0) * rng.standard_normal(n_boot)
    c = np.asarray(costs, dtype=float).reshape(n, -1)
    no_worse = (c[:, None, :] <= c[None, :, :]).all(2)  # [o, d]: o costs no more than d
    cheaper = no_worse & (c[:, None, :] < c[None, :, :]).any(2)
    np.fill_diagonal(no_worse, False)
    dominated = np.zeros((n_boot, n), dtype=bool)
    for o in range(n):  # o dominates d: no costlier, and more accurate (or as accurate and cheaper)
        if not no_worse[o].any():
            continue
        a_o, a_d = sims[:, o:o + 1], sims
        beats = (a_o > a_d) | ((a_o >= a_d) & cheaper[o][None, :])
        dominated |= beats & no_worse[o][None, :]
    return (1 - dominated.mean(0)).tolist()
