"""One accuracy model of a whole design space, fitted to every per-seed measurement.

    accuracy(design i, seed j) = x_i'beta + u_i + e_ij,  u_i ~ N(0, tau^2),  e_ij ~ N(0, sigma^2)

x_i: an intercept, the main effects of every factor (treatment coding: each level against the
factor's baseline, so "r=16 in stage 1" reads as the effect of SE at r=16 vs none there, at the
standard variant), and the pairwise interactions the data support. u_i is what the additive
model misses for design i (lack of fit); e_ij the seed noise.

- sigma^2 is the pure error of the replicates (seeds of one design), pooled with a calibrated
  value when one is given (as that many extra degrees of freedom).
- tau^2 is estimated by the method of moments from the lack-of-fit sum of squares (the
  DerSimonian-Laird estimator of meta-regression), truncated at 0: it is never assumed 0,
  it is estimated as 0 when the design means scatter no more than the seeds explain.
- beta is the generalised least squares fit of the design means with weights
  1 / (tau^2 + sigma^2 / n_i) (statsmodels WLS).
- Interactions enter one column at a time (forward selection): a column is the product of
  two factors' level indicators ("r=16 in stage 1 and r=16 in stage 2"), so a single cell
  costs one degree of freedom, not a whole factor pair's. The candidate that reduces the
  weighted residual sum of squares the most enters when its extra-sum-of-squares F test on
  the design means beats the Bonferroni level over the candidates; the F denominator is the
  design-level scatter (noise and lack of fit), so a design's own deviation is not taken for
  an interaction. The model always keeps MIN_LACK_DF lack-of-fit degrees of freedom.
- The true mean of a design is x'beta + u. Its posterior (flat prior on beta, variance
  components plugged in) is the BLUP: a measured design shrinks from its own seed mean toward
  the model in proportion sigma^2/n_i : tau^2; an unmeasured one gets the prediction with
  tau^2 added. Intervals use Student's t on Satterthwaite degrees of freedom for the estimated
  variance components: per design, over the part of its variance that is its own seeds'
  noise (sigma^2's df) and the rest (the lack of fit's).
- Prediction over an enumerated space is vectorised on integer codes: one column index per
  factor, the mean by gathering beta, the variance by one float32 product with the
  covariance.

A measurement is a final-epoch accuracy of one seed, worth one seed (weight 1), or an
accuracy of another epoch linked to the final epoch's scale and worth `weight` final seeds
(variance sigma^2 / weight: a design the rung rule stopped, se_design.search.stopped). A
design's mean is then the weighted mean of its measurements, its seed count the sum of their
weights, and the pure error sum_j w_j (y_j - mean)^2 on (measurements - 1) degrees of freedom.
Variance components are common to all designs: a design whose seeds sometimes fail
(stats.noise_model's "unstable") inflates sigma^2 for all; leave such designs out or pass
them with their failures removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import statsmodels.api as sm
from scipy import stats

from se_design.search.factors import Factors
from se_design.search.stats import Diff

MIN_LACK_DF = 3  # lack-of-fit degrees of freedom kept when interactions enter
CHUNK = 1 << 16  # designs per block of the design matrix when predicting

# A model column: the product of level indicators ((factor index, level code), ...); () is
# the intercept, one pair a main effect, two pairs an interaction.
Term = tuple[tuple[int, int], ...]


class Measurement(NamedTuple):
    design: Mapping  # factor name -> level (see se_design.search.factors)
    seed: int
    accuracy: float  # a fraction
    weight: float = 1.0  # final-epoch seeds it is worth: its variance is sigma^2 / weight


@dataclass(frozen=True)
class LackOfFit:
    """Lack of fit of the final model against pure error: F = MS_lack / sigma^2."""

    f: float
    df_lack: int
    df_pure: float
    p_value: float


@dataclass(frozen=True)
class _Interval:
    effect: float
    se: float
    low: float
    high: float
    p_value: float

    @property
    def distinct(self) -> bool:
        """The 95% interval excludes 0 (else: not distinguishable from 0)."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, kw_only=True)
class Effect(_Interval):
    """A main effect: the accuracy change from `baseline` to `level` of `factor`, all other
    factors at their baselines (interactions aside)."""

    factor: str
    stage: str | None
    kind: str
    level: object
    baseline: object


@dataclass(frozen=True, kw_only=True)
class Interaction(_Interval):
    """What two factors' levels add together beyond their two main effects."""

    factors: tuple[str, str]
    levels: tuple


@dataclass(frozen=True)
class Posterior:
    """Per design: the posterior mean, sd and 95% interval of its true mean accuracy, its
    seed count (0 if none; a fraction for a design stopped early: Measurement's weight) and
    its own mean (nan if none). A design using a level the data
    cannot estimate (never measured, or confounded) is not `estimable`: mean nan, sd inf."""

    mean: np.ndarray
    sd: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: np.ndarray
    own_mean: np.ndarray
    estimable: np.ndarray


@dataclass
class AccuracyModel:
    factors: Factors
    terms: list[Term]
    beta: np.ndarray
    cov: np.ndarray  # of beta
    sigma2: float  # seed noise variance
    sigma2_df: float  # its degrees of freedom (inf: known)
    tau2: float  # lack-of-fit variance of a design's true mean around the model
    df: float  # of the t quantiles of the effects and of unmeasured designs
    lack_of_fit: LackOfFit
    not_estimable: list[Term]  # main-effect columns dropped
    measured: np.ndarray  # codes of the measured designs
    means: np.ndarray  # their (weighted) seed means
    seeds: np.ndarray  # their seed counts: the sums of their measurements' weights
    _columns: list[np.ndarray] = field(init=False, repr=False)

    def __post_init__(self):
        # Per factor, the column of each code (+1: inactive is -1); baseline, inactive and
        # dropped levels point at a zero pad column p.
        pad = len(self.terms)
        self._columns = [np.full(len(f.levels) + 1, pad, dtype=np.intp) for f in self.factors]
        for j, term in enumerate(self.terms):
            if len(term) == 1:
                (f, c), = term
                self._columns[f][c + 1] = j
        self._beta_pad = np.append(self.beta, 0.0)
        self._cov_pad = np.pad(self.cov, (0, 1)).astype(np.float32)

    @property
    def t95(self) -> float:
        return float(stats.t.ppf(0.975, self.df))

    def effects(self) -> list[Effect]:
        """Every estimable main effect, with its 95% interval and p-value."""
        out = []
        for j, ((i, c),) in self._terms(1):
            f = self.factors.list[i]
            out.append(Effect(*self._interval(j), factor=f.name, stage=f.stage, kind=f.kind,
                              level=f.levels[c], baseline=f.baseline))
        return out

    def interactions(self) -> list[Interaction]:
        """The interaction columns that entered."""
        fs = self.factors.list
        return [Interaction(*self._interval(j), factors=(fs[i].name, fs[k].name),
                            levels=(fs[i].levels[a], fs[k].levels[b]))
                for j, ((i, a), (k, b)) in self._terms(2)]

    def _terms(self, order: int):
        return [(j, t) for j, t in enumerate(self.terms) if len(t) == order]

    def _interval(self, j: int) -> tuple[float, ...]:
        b, se = float(self.beta[j]), float(np.sqrt(self.cov[j, j]))
        p = float(2 * stats.t.sf(abs(b / se), self.df)) if se > 0 else 0.0
        return b, se, b - self.t95 * se, b + self.t95 * se, p

    def predict(self, designs) -> Posterior:
        """Posterior of the true mean of each design (dicts, or code rows from Factors)."""
        codes = self._codes(designs)
        parts = [self._parts(codes[i:i + CHUNK]) for i in range(0, len(codes), CHUNK)]
        mean, var, own_var, seeds, own, ok = (np.concatenate(x) for x in
                                              zip(*(parts or [self._parts(codes)])))
        sd = np.where(ok, np.sqrt(var), np.inf)
        half = self._t95(var, own_var) * sd
        return Posterior(mean, sd, mean - half, mean + half, seeds, own, ok)

    def draws(self, designs, n: int, rng: np.random.Generator) -> np.ndarray:
        """n joint posterior draws of the designs' true means, shape (n, designs): beta drawn
        once per draw for all designs (their correlation), then each design's own part, so
        list each design once. Gaussian given the variance components (the intervals' t
        quantiles are not drawn)."""
        codes = self._codes(designs)
        shifts = rng.multivariate_normal(np.zeros(len(self.beta)), self.cov, size=n)
        shifts = np.pad(shifts, ((0, 0), (0, 1))).astype(np.float32)  # beta draws - beta
        out = np.empty((n, len(codes)))
        for i in range(0, len(codes), CHUNK):
            block = codes[i:i + CHUNK]
            idx = self._index(block)
            lam, own, _, own_var = self._shrinkage(block)
            model = self._beta_pad[idx].sum(1) + (_onehot(idx, len(self.terms)) @ shifts.T).T
            noise = rng.standard_normal((n, len(block))) * np.sqrt(own_var)
            out[:, i:i + CHUNK] = (1 - lam) * model + lam * np.nan_to_num(own) + noise
            out[:, i:i + CHUNK][:, ~self._estimable(block)] = np.nan
        return out

    def difference(self, a, b) -> Diff:
        """Posterior of true mean(a) - true mean(b) for pairs of designs (two equally long
        lists of dicts or code rows; a Diff of arrays): the model parts share beta, so designs
        with common choices differ by less than their two intervals suggest; the own parts are
        independent. t on Satterthwaite df as `predict`."""
        (xa, lam_a, own_a, n_a, var_a), (xb, lam_b, own_b, n_b, var_b) = (
            self._own_parts(self._codes(d)) for d in (a, b))
        d = (1 - lam_a)[:, None] * xa - (1 - lam_b)[:, None] * xb
        seed_var = np.where(n_a > 0, var_a, 0.0) + np.where(n_b > 0, var_b, 0.0)
        var = ((d @ np.pad(self.cov, (0, 1))) * d).sum(1) + var_a + var_b
        mean = d @ self._beta_pad + lam_a * np.nan_to_num(own_a) - lam_b * np.nan_to_num(own_b)
        den = seed_var ** 2 / self.sigma2_df + (var - seed_var) ** 2 / self.df
        df = np.divide(var ** 2, den, out=np.full(len(var), self.df), where=den > 0)
        return Diff(mean, np.sqrt(var), df)

    def _own_parts(self, codes: np.ndarray):
        """Design matrix rows (float64) and `_shrinkage`'s parts."""
        return (_onehot(self._index(codes), len(self.terms)).astype(float),
                *self._shrinkage(codes))

    def _codes(self, designs) -> np.ndarray:
        if isinstance(designs, np.ndarray):
            return designs
        return self.factors.encode(designs)

    def _index(self, codes: np.ndarray) -> np.ndarray:
        """Per design, the column of each of its terms (the pad column where a term is 0)."""
        pairs = self._terms(2)
        idx = np.zeros((len(codes), 1 + len(self._columns) + len(pairs)), dtype=np.intp)
        for f, m in enumerate(self._columns):  # column 0 stays the intercept's
            idx[:, 1 + f] = m[codes[:, f] + 1]
        for k, (j, ((f, a), (g, b))) in enumerate(pairs, 1 + len(self._columns)):
            idx[:, k] = np.where((codes[:, f] == a) & (codes[:, g] == b), j, len(self.terms))
        return idx

    def _shrinkage(self, codes: np.ndarray):
        """Per design: the weight lambda of its own seed mean, that mean, its seed count, and
        the posterior variance of its own part (lambda sigma^2 / n measured, tau^2 not)."""
        idx = row_index(self.measured, codes)
        hit = idx >= 0
        seeds = np.where(hit, self.seeds[idx], 0)
        own = np.where(hit, self.means[idx], np.nan)
        noise = self.sigma2 / np.where(hit, seeds, 1)  # seeds may be fractional (weights)
        lam = np.where(hit, self.tau2 / (self.tau2 + noise), 0.0)
        return lam, own, seeds, np.where(hit, lam * noise, self.tau2)

    def _estimable(self, codes: np.ndarray) -> np.ndarray:
        bad = np.zeros(len(codes), dtype=bool)
        for ((f, c),) in self.not_estimable:
            bad |= codes[:, f] == c
        return ~bad

    def _parts(self, codes: np.ndarray):
        idx = self._index(codes)
        x = _onehot(idx, len(self.terms))
        lam, own, seeds, own_var = self._shrinkage(codes)
        mean = (1 - lam) * self._beta_pad[idx].sum(1) + lam * np.nan_to_num(own)
        var = (1 - lam) ** 2 * ((x @ self._cov_pad) * x).sum(1, dtype=float) + own_var
        ok = self._estimable(codes)
        return np.where(ok, mean, np.nan), var, np.where(seeds > 0, own_var, 0.0), seeds, own, ok

    def _t95(self, var: np.ndarray, seed_var: np.ndarray) -> np.ndarray:
        """t quantiles per design: Satterthwaite over the part of its variance that is seed
        noise (a measured design's own seeds: sigma^2's df) and the rest (the model's df)."""
        t = np.full(len(var), self.t95)
        own = seed_var > 0
        if own.any():
            rest = var[own] - seed_var[own]
            df = var[own] ** 2 / (seed_var[own] ** 2 / self.sigma2_df + rest ** 2 / self.df)
            t[own] = stats.t.ppf(0.975, df)
        return t


def _onehot(idx: np.ndarray, pad: int) -> np.ndarray:
    """float32 design matrix with the pad column last (zero in beta and its covariance)."""
    x = np.zeros((len(idx), pad + 1), dtype=np.float32)
    np.put_along_axis(x, idx, 1.0, axis=1)
    return x


def fit(factors: Factors, measurements: Iterable[Measurement | tuple],
        sigma2: float | None = None, sigma2_df: float = np.inf, level: float = 0.05,
        max_interactions: int | None = None) -> AccuracyModel:
    """Fit the model to per-seed measurements (design, seed, accuracy). `sigma2`: a
    calibrated seed-noise variance, worth `sigma2_df` degrees of freedom (inf: known), pooled
    with the replicates' pure error. `level`: family-wise level of each interaction step."""
    codes, means, seeds, ss_pure, df_pure = _group(factors, measurements)
    s2, s2_df = _pool(ss_pure, df_pure, sigma2, sigma2_df)
    terms, dropped = _estimable_terms(codes, [()], main_terms(factors))
    if len(means) - len(terms) < 1:
        raise ValueError(f"{len(means)} designs for {len(terms)} model terms: tau^2 (lack of fit) "
                         "cannot be estimated; measure more designs")
    terms = _select_interactions(codes, means, seeds, s2, terms, level, max_interactions)
    x = design_matrix(codes, terms)
    tau2, ss_lack, c = _tau2(x, means, seeds, s2)
    res = sm.WLS(means, x, weights=1 / (tau2 + s2 / seeds)).fit()
    df_lack = len(means) - len(terms)
    f = ss_lack / df_lack / s2
    return AccuracyModel(
        factors, terms, np.asarray(res.params), np.asarray(res.normalized_cov_params), s2, s2_df,
        tau2, _satterthwaite(tau2, s2, s2_df, ss_lack, df_lack, c, seeds),
        LackOfFit(f, df_lack, s2_df, _f_sf(f, df_lack, s2_df)), dropped, codes, means, seeds)


def _group(factors: Factors, measurements):
    """Design codes, weighted means, seed counts (summed weights), and the pure-error sum of
    squares and its degrees of freedom; a seed given twice for one design (a reused result)
    counts once."""
    ms = [Measurement(*m) for m in measurements]
    if not ms:
        raise ValueError("no measurements")
    rows = factors.encode([m.design for m in ms])
    codes, inv = np.unique(rows, axis=0, return_inverse=True)
    per = {(int(d), m.seed): (m.accuracy, m.weight) for d, m in zip(inv.ravel(), ms)}
    d = np.array([k[0] for k in per])
    y, w = np.array(list(per.values()), dtype=float).T
    seeds = np.bincount(d, w, minlength=len(codes))
    means = np.bincount(d, w * y, minlength=len(codes)) / seeds
    ss = float((w * (y - means[d]) ** 2).sum())
    return codes, means, seeds, ss, float(len(y) - len(codes))


def _pool(ss: float, df: float, sigma2: float | None, sigma2_df: float) -> tuple[float, float]:
    if sigma2 is None:
        if df == 0 or ss == 0:  # no replicate, or replicates that agree exactly
            raise ValueError("the seed noise is unknown: measure some design on 2+ seeds or give "
                             "a calibrated sigma2")
        return ss / df, df
    if np.isinf(sigma2_df):
        return sigma2, np.inf
    return (ss + sigma2_df * sigma2) / (df + sigma2_df), df + sigma2_df


def main_terms(factors: Factors) -> list[Term]:
    """One column per factor level off its baseline."""
    return [((i, c),) for i, f in enumerate(factors) for c in range(1, len(f.levels))]


def design_matrix(codes: np.ndarray, terms: Sequence[Term]) -> np.ndarray:
    """The model's columns for design code rows: 1 where every (factor, level) of the term
    holds (an inactive factor holds no level)."""
    x = np.ones((len(codes), len(terms)))
    for j, term in enumerate(terms):
        for f, c in term:
            x[:, j] *= codes[:, f] == c
    return x


def _estimable_terms(codes: np.ndarray, base: list[Term], new: list[Term]):
    """`base` plus the terms of `new` that add to the rank on the measured designs (in order),
    and those that do not."""
    kept, dropped = list(base), []
    rank = np.linalg.matrix_rank(design_matrix(codes, kept))
    for term in new:
        r = np.linalg.matrix_rank(design_matrix(codes, [*kept, term]))
        (kept if r > rank else dropped).append(term)
        rank = max(rank, r)
    return kept, dropped


def _tau2(x: np.ndarray, means: np.ndarray, seeds: np.ndarray, s2: float):
    """Method-of-moments tau^2 from the lack-of-fit sum of squares of the seed-count weighted
    fit: E[SS_lack] = (m - p) sigma^2 + tau^2 c, c = sum n_i (1 - h_ii)."""
    res = sm.WLS(means, x, weights=seeds).fit()
    h = ((x @ res.normalized_cov_params) * x).sum(1) * seeds
    c = float((seeds * (1 - h)).sum())
    ss_lack = float(res.ssr)
    return max(0.0, (ss_lack - (len(means) - x.shape[1]) * s2) / c), ss_lack, c


def _satterthwaite(tau2, s2, s2_df, ss_lack, df_lack, c, seeds) -> float:
    """Degrees of freedom of tau^2 + sigma^2 / n (n: the harmonic mean seed count), a linear
    combination of the lack-of-fit and pure-error mean squares."""
    if tau2 == 0:
        return s2_df
    n = len(seeds) / (1 / seeds).sum()
    a = df_lack / c
    b = 1 / n - a
    v = tau2 + s2 / n
    pure = 0.0 if np.isinf(s2_df) else (b * s2) ** 2 / s2_df
    return float(v ** 2 / ((a * ss_lack / df_lack) ** 2 / df_lack + pure))


def _f_sf(f: float, d1: float, d2: float) -> float:
    if np.isinf(d2):
        return float(stats.chi2.sf(f * d1, d1))
    return float(stats.f.sf(f, d1, d2))


def _select_interactions(codes, means, seeds, s2, terms, level, max_interactions):
    """Forward selection of interaction columns (see the module docstring)."""
    candidates = _pair_terms(codes)
    for _ in range(len(candidates) if max_interactions is None else max_interactions):
        if not candidates or len(means) - len(terms) - 1 < MIN_LACK_DF:
            break
        x = design_matrix(codes, terms)
        w = 1 / (_tau2(x, means, seeds, s2)[0] + s2 / seeds)
        base = sm.WLS(means, x, weights=w).fit()
        gain = _added_ss(x, design_matrix(codes, candidates), w, base.wresid)
        if not np.isfinite(gain).any():
            break
        best = candidates[int(np.nanargmax(gain))]
        p = sm.WLS(means, design_matrix(codes, [*terms, best]), weights=w).fit().compare_f_test(base)[1]
        if not p < level / np.isfinite(gain).sum():  # nan: nothing left to explain
            break
        terms = [*terms, best]
        candidates.remove(best)
    return terms


def _added_ss(x: np.ndarray, z: np.ndarray, w: np.ndarray, wresid: np.ndarray) -> np.ndarray:
    """Per candidate column of z, the drop in weighted residual sum of squares if it joined
    x (Frisch-Waugh: its part orthogonal to x against the residuals); nan when that part is
    0 (not estimable beside x)."""
    sw = np.sqrt(w)[:, None]
    zw = z * sw
    q = np.linalg.qr(x * sw)[0]  # x has full column rank: its terms were kept estimable
    zr = zw - q @ (q.T @ zw)
    norm = (zr ** 2).sum(0)
    ok = norm > 1e-9 * np.maximum((zw ** 2).sum(0), 1e-300)
    return np.where(ok, (zr.T @ wresid) ** 2 / np.where(ok, norm, 1), np.nan)


def _pair_terms(codes: np.ndarray) -> list[Term]:
    """Every interaction column non-zero on some measured design: two factors off their
    baselines together."""
    out = []
    for f in range(codes.shape[1]):
        for g in range(f + 1, codes.shape[1]):
            on = (codes[:, f] > 0) & (codes[:, g] > 0)
            out += [((f, int(a)), (g, int(b))) for a, b in np.unique(codes[on][:, [f, g]], axis=0)]
    return out


def row_index(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For each row of `codes`, its row index in `table` (-1 if absent): rows keyed by one
    integer (mixed radix, or where that overflows a wrapping random hash), hits checked in
    full."""
    width = int(max(table.max(initial=0), codes.max(initial=0))) + 2  # codes run from -1
    if width ** codes.shape[1] < 2 ** 62:
        weights = width ** np.arange(codes.shape[1], dtype=np.int64)
    else:
        weights = np.random.default_rng(0).integers(1, 2**62, codes.shape[1], dtype=np.int64)
    tk = (table.astype(np.int64) + 1) @ weights
    order = np.argsort(tk)
    qk = (codes.astype(np.int64) + 1) @ weights
    pos = np.clip(np.searchsorted(tk[order], qk), 0, max(len(tk) - 1, 0))
    idx = order[pos]
    hit = (tk[idx] == qk) & (table[idx] == codes).all(1)
    return np.where(hit, idx, -1)
