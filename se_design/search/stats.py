"""Statistics for a noisy search: intervals, differences, power, rank agreement and the
bootstrap probability of being on the Pareto front. Student's t, Fisher's F and Spearman's
correlation are scipy.stats'; no torch, so the search and report can call it at every rung.

Accuracies are fractions (0.39), seeds are replicate trainings of one design. The noise model
(`noise_model`) pools the seed std over the designs whose seeds agree about as well as the
others' (measured on the CIFAR proxy: within 2x) and sets aside as unstable the designs whose
spread is significantly larger (on the digits proxy some SE designs fail to learn on one seed
in three: a 0.1 among 0.95s). A stable design's interval uses the pool, an unstable one's its
own seeds, so one failing design no longer widens every other design's interval.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from scipy import stats

from se_design.search.pareto import front_share

Z95 = NormalDist().inv_cdf(0.975)  # 1.960
Z80 = NormalDist().inv_cdf(0.80)  # 0.842: power 80%


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
    if pooled is None:
        if len(xs) < 2:
            return None
        pooled = Pooled(std(xs), len(xs) - 1)
    return t95(pooled.df) * pooled.std / math.sqrt(len(xs))


@functools.lru_cache(maxsize=256)
def t95(df: float) -> float:
    """The t distribution's 97.5% quantile; cached, as a report asks it per design of one
    pool (scipy takes about 0.1 ms a call)."""
    return float(stats.t.ppf(0.975, df))


@dataclass(frozen=True)
class Diff:
    """mean(a) - mean(b), its standard error and degrees of freedom (or arrays of them, one
    per pair of designs)."""

    mean: float
    se: float
    df: float

    def half_width(self, level: float = 0.95) -> float:
        return stats.t.ppf(0.5 + level / 2, self.df) * self.se

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
    return _welch(m, (std(xa), len(xa) - 1, len(xa)), (std(xb), len(xb) - 1, len(xb)))


def _welch(m: float, *terms: tuple[float, float, int]) -> Diff:
    """A difference of means whose variances are estimated apart: terms (std, its df, seeds);
    the Welch-Satterthwaite degrees of freedom."""
    v = [s * s / n for s, _, n in terms]
    se = math.sqrt(sum(v))
    if se == 0:
        return Diff(m, 0.0, sum(df for _, df, _ in terms))
    return Diff(m, se, sum(v) ** 2 / sum(x * x / df for x, (_, df, _) in zip(v, terms)))


UNSTABLE_LEVEL = 0.05  # family-wise level of the test that sets a design aside as unstable
MIN_POOL_DF = 4  # the pool's degrees of freedom before it tests a design


@dataclass(frozen=True)
class Noise:
    """The seed noise of a set of designs (`groups`: each one's per-seed accuracies): the std
    pooled over the stable designs, and per design whether it is unstable (its seeds spread
    significantly more than the pool: set aside from it, measured by its own seeds)."""

    groups: tuple[tuple[float, ...], ...]
    pooled: Pooled | None
    unstable: tuple[bool, ...]

    def spread(self, i: int) -> Pooled | None:
        """The std (and df) behind design i's mean: its own seeds' if it is unstable, else the
        pool; None for one seed and no pool."""
        xs = self.groups[i]
        if self.unstable[i] or self.pooled is None:
            return Pooled(std(xs), len(xs) - 1) if len(xs) > 1 else None
        return self.pooled

    def ci95(self, i: int) -> float | None:
        """Half-width of the 95% t-interval of design i's mean."""
        return ci95(self.groups[i], self.spread(i))

    def difference(self, i: int, j: int) -> Diff:
        """mean(i) - mean(j): on the pool's df when both are stable, else Welch-Satterthwaite
        over the two std estimates (an unstable design's own, on n - 1 df)."""
        a, b = self.groups[i], self.groups[j]
        sa, sb = self.spread(i), self.spread(j)
        if sa is None or sb is None:
            raise ValueError("a difference needs a pooled std or 2 or more seeds per design")
        if sa is sb:  # both use the pool
            return difference(dict(enumerate(a)), dict(enumerate(b)), sa)
        return _welch(mean(a) - mean(b), (sa.std, sa.df, len(a)), (sb.std, sb.df, len(b)))


def noise_model(groups: Sequence[Sequence[float]], level: float = UNSTABLE_LEVEL) -> Noise:
    """Pool the designs measured on 2+ seeds in order of increasing spread; once the pool has
    MIN_POOL_DF degrees of freedom, each next design joins it unless an F test finds its
    variance larger than the pool's at level / m (Bonferroni over the m designs measured,
    one-sided): then it is unstable. Starting from the quietest designs keeps a majority of
    failing designs from hiding each other, as they would in a test against the pool of all
    the others; testing only against 4 df or more keeps two seeds that agree by chance from
    setting every other design aside. Simulated with equal true noise, 5 to 50 designs of 2
    or 3 seeds: some design is wrongly set aside in 6-9% of studies, 3 or more in under 2.5%."""
    groups = tuple(tuple(g) for g in groups)
    measured = sorted((i for i, g in enumerate(groups) if len(g) > 1),
                      key=lambda i: std(groups[i]))
    unstable = [False] * len(groups)
    ss, df = 0.0, 0
    for i in measured:
        k, var = len(groups[i]) - 1, std(groups[i]) ** 2
        if df >= MIN_POOL_DF and ss > 0 and stats.f.sf(var / (ss / df), k, df) < level / len(measured):
            unstable[i] = True
        else:
            ss, df = ss + k * var, df + k
    return Noise(groups, Pooled(math.sqrt(ss / df), df) if df else None, tuple(unstable))


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


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (ties share their average rank); None where it is undefined:
    either sequence constant, or fewer than 3 pairs."""
    if len(x) != len(y):
        raise ValueError("spearman needs two sequences of equal length")
    if len(x) < 3 or len(set(x)) == 1 or len(set(y)) == 1:
        return None
    return float(stats.spearmanr(x, y).statistic)


def p_front(accs: Sequence[Sequence[float]], costs: Sequence[Sequence[float]],
            pooled: Pooled | None = None, unstable: Sequence[bool] = (), n_boot: int = 1000,
            seed: int = 0) -> list[float]:
    """For each design (its per-seed accuracies, maximised; its costs, minimised): the share
    of bootstrap replicates (mean_draws) in which it is on the Pareto front. Deterministic
    for a given `seed`."""
    return front_share(mean_draws(accs, pooled, unstable, n_boot, seed), costs).tolist()


def mean_draws(accs: Sequence[Sequence[float]], pooled: Pooled | None = None,
               unstable: Sequence[bool] = (), n_boot: int = 1000, seed: int = 0):
    """Bootstrap replicates of each design's mean accuracy, shape (n_boot, designs), drawn
    independently per design: from N(mean, pooled.std / sqrt(n)) when there is a pool and the
    design is not `unstable` (its few seeds say little about its own spread; the pool does),
    else by resampling its seeds with replacement (an unstable design's failures included; a
    single seed keeps its value)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sims = np.empty((n_boot, len(accs)))
    for j, xs in enumerate(accs):
        xs = np.asarray(xs, dtype=float)
        if pooled is not None and not (unstable and unstable[j]):
            sims[:, j] = xs.mean() + pooled.std / math.sqrt(len(xs)) * rng.standard_normal(n_boot)
        else:
            sims[:, j] = xs[rng.integers(0, len(xs), (n_boot, len(xs)))].mean(1)
    return sims
