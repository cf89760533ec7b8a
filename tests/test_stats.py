"""Search statistics against hand-computed cases and printed tables."""

import math

import pytest
from scipy.stats import f as fisher_f
from scipy.stats import t as student_t

from se_design.search import stats


@pytest.mark.parametrize("p,df,table", [  # Student's t table (two-sided 95%: p = 0.975)
    (0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 3, 3.182), (0.975, 4, 2.776),
    (0.975, 10, 2.228), (0.975, 30, 2.042), (0.95, 5, 2.015), (0.995, 8, 3.355),
    (0.025, 3, -3.182)])
def test_t_quantile_matches_the_table(p, df, table):
    assert student_t.ppf(p, df) == pytest.approx(table, abs=6e-4)


def test_t_quantile_tends_to_the_normal():
    assert student_t.ppf(0.975, 1e6) == pytest.approx(1.95996, abs=1e-4)


def test_interval_of_a_mean():
    # [1, 2, 3]: mean 2, s = 1, half-width t(0.975, 2) / sqrt(3) = 4.3027 / 1.7321
    assert stats.ci95([1, 2, 3]) == pytest.approx(4.3027 / math.sqrt(3), abs=1e-4)
    assert stats.ci95([0.4]) is None  # one seed and no pooled std: no interval
    # with a pool (s = 0.016 on 15 df) four seeds give t(0.975, 15) * 0.016 / 2 = 2.1314 * 0.008
    assert stats.ci95([0.4] * 4, stats.Pooled(0.016, 15)) == pytest.approx(0.017051, abs=1e-6)


def test_pooled_std():
    # s^2 = 1 on 2 df and s^2 = 2 on 1 df: sqrt((2*1 + 1*2) / 3); a single seed adds nothing
    p = stats.pooled_std([[1, 2, 3], [4, 6], [9]])
    assert (p.std, p.df) == (pytest.approx(math.sqrt(4 / 3)), 3)
    assert stats.pooled_std([[1], [2]]) is None


def test_welch_difference():
    # a = [1,2,3] (var 1), b = [4,6] (var 2): se = sqrt(1/3 + 2/2), df = (4/3)^2 / ((1/3)^2/2 + 1)
    d = stats.difference({0: 1, 1: 2, 2: 3}, {0: 4, 1: 6})
    assert (d.mean, d.se, d.df) == (-3, pytest.approx(math.sqrt(4 / 3)), pytest.approx(32 / 19))
    assert d.half_width() == pytest.approx(student_t.ppf(0.975, 32 / 19) * math.sqrt(4 / 3))


def test_paired_difference_uses_the_shared_seeds():
    # differences per seed 1, 2, 3: mean 2, sd 1, se 1/sqrt(3) on 2 df
    d = stats.difference({0: 1, 1: 2, 2: 4}, {0: 0, 1: 0, 2: 1})
    assert (d.mean, d.se, d.df) == (2, pytest.approx(1 / math.sqrt(3)), 2)
    assert not d.distinct()  # |2| < t(0.975, 2) / sqrt(3) = 2.484: within noise
    # seeds shared: differences 1, 0.9, 1.1 (sd 0.1) are clearly apart, which Welch on the
    # same numbers (se 0.81 from the spread between seeds) could not see
    a, b = {0: 2, 1: 3, 2: 4}, {0: 1, 1: 2.1, 2: 2.9}
    assert stats.difference(a, b).distinct() and stats.difference(a, b).se == pytest.approx(0.1 / math.sqrt(3))
    assert not stats.difference(a, {k + 10: v for k, v in b.items()}).distinct()


def test_difference_with_a_pool_and_too_few_seeds():
    d = stats.difference({0: 0.40}, {0: 0.37, 1: 0.39}, stats.Pooled(0.016, 15))
    assert (d.mean, d.se, d.df) == (pytest.approx(0.02), pytest.approx(0.016 * math.sqrt(1.5)), 15)
    with pytest.raises(ValueError):
        stats.difference({0: 0.40}, {0: 0.37})


def test_min_detectable_difference():
    # (1.95996 + 0.84162) * sigma * sqrt(2 / n): 1.6 points, 1 seed -> 6.34 points; 4 seeds -> 3.17
    assert stats.min_detectable_difference(1.6, 1) == pytest.approx(6.339, abs=1e-3)
    assert stats.min_detectable_difference(1.6, 4) == pytest.approx(6.339 / 2, abs=1e-3)


def test_false_stop_rate_is_the_normal_tail():
    assert stats.false_stop_rate(1.645) == pytest.approx(0.05, abs=1e-3)
    assert stats.false_stop_rate(0) == 0.5


def test_spearman():
    # d = (-1, 1, -1, 1, 0): 1 - 6 * 4 / (5 * 24) = 0.8
    assert stats.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # ties take the average rank: y ranks (1, 2.5, 2.5, 4) -> 4.5 / sqrt(5 * 4.5)
    assert stats.spearman([1, 2, 3, 4], [1, 2, 2, 3]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert stats.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert stats.spearman([1, 2], [1, 2]) is None and stats.spearman([1, 2, 3], [5, 5, 5]) is None


def test_bootstrap_front_probability_on_a_constructed_front():
    # A (cheapest) has seeds 0.5 and 0.7: its resampled mean is 0.5, 0.6 or 0.7 with
    # probability 1/4, 1/2, 1/4. B costs more and always scores 0.6: on the front only when
    # A's mean is below 0.6 (a tie goes to the cheaper A): probability 1/4. C costs more
    # than A and B and scores 0.4: never. D is as cheap as A in params but costs more FLOPs
    # and is far better: always.
    p = stats.p_front([[0.5, 0.7], [0.6, 0.6], [0.4, 0.4], [0.9, 0.9]],
                      [[1, 1], [2, 2], [3, 3], [1, 5]], n_boot=4000, seed=1)
    assert p[0] == 1 and p[2] == 0 and p[3] == 1
    assert p[1] == pytest.approx(0.25, abs=0.03)  # 4000 draws: sd of the estimate 0.007
    assert p == stats.p_front([[0.5, 0.7], [0.6, 0.6], [0.4, 0.4], [0.9, 0.9]],
                              [[1, 1], [2, 2], [3, 3], [1, 5]], n_boot=4000, seed=1)


def test_single_seed_front_probability_uses_the_pool():
    # one seed each, 0.01 apart, pooled std 0.01: B (costlier) is on the front when its
    # draw beats A's: P(N(0.01, 0.01 * sqrt(2)) > 0) = Phi(0.01 / 0.01414) = 0.760
    p = stats.p_front([[0.40], [0.41]], [[1], [2]], stats.Pooled(0.01, 10), n_boot=20000)
    assert p[0] == 1 and p[1] == pytest.approx(0.760, abs=0.015)
    assert stats.p_front([[0.40], [0.41]], [[1], [2]]) == [1, 1]  # no pool: the point estimate


@pytest.mark.parametrize("f,d1,d2,p", [  # F table upper points; d1 = 2: (1 + 2f/d2)^(-d2/2)
    (4.103, 2, 10, 0.05), (7.709, 1, 4, 0.05), (4.938, 3, 20, 0.01), (2.534, 5, 30, 0.05),
    (3.0, 2, 8, (1 + 6 / 8) ** -4)])
def test_f_upper_tail_matches_the_table(f, d1, d2, p):
    assert fisher_f.sf(f, d1, d2) == pytest.approx(p, abs=2e-4)


STABLE = [[m - 0.01, m, m + 0.01] for m in (0.95, 0.93, 0.96, 0.94, 0.92)]  # s = 0.01 each
FAILED = [0.95, 0.96, 0.10]  # one seed failed to learn: s^2 = (0.28^2 + 0.29^2 + 0.57^2) / 2


def test_a_failed_seed_does_not_widen_the_other_designs_intervals():
    noise = stats.noise_model(STABLE + [FAILED])
    assert noise.unstable == (False,) * 5 + (True,)
    assert (noise.pooled.std, noise.pooled.df) == (pytest.approx(0.01), 10)  # 5 designs x 2 df
    # a stable design: t(0.975, 10) * 0.01 / sqrt(3) = 2.2281 * 0.01 / 1.7321, as without FAILED
    assert noise.ci95(0) == pytest.approx(0.012864, abs=1e-6)
    assert noise.ci95(0) == pytest.approx(stats.noise_model(STABLE).ci95(0))
    # pooling FAILED in (as before) would give every design +-0.25
    assert stats.ci95(STABLE[0], stats.pooled_std(STABLE + [FAILED])) > 0.25
    # the failed design: its own seeds, t(0.975, 2) * sqrt(0.2437) / sqrt(3) = 1.2266
    assert noise.ci95(5) == pytest.approx(4.3027 * math.sqrt(0.2437) / math.sqrt(3), abs=1e-3)


def test_differences_under_the_noise_model():
    noise = stats.noise_model(STABLE + [FAILED])
    d = noise.difference(0, 1)  # both stable: the pool, 0.01 * sqrt(2/3) on 10 df
    assert (d.mean, d.se, d.df) == (pytest.approx(0.02), pytest.approx(0.01 * math.sqrt(2 / 3)), 10)
    assert d.distinct()  # 0.02 > t(0.975, 10) * 0.00816 = 0.0182
    # stable vs unstable: Welch-Satterthwaite, va = 0.0001/3 on 10 df, vb = 0.2437/3 on 2 df
    va, vb = 0.0001 / 3, 0.2437 / 3
    d = noise.difference(0, 5)
    assert d.mean == pytest.approx(0.95 - 0.67)
    assert d.se == pytest.approx(math.sqrt(va + vb), rel=1e-4)
    assert d.df == pytest.approx((va + vb) ** 2 / (va**2 / 10 + vb**2 / 2), rel=1e-3)
    assert not d.distinct()  # 28 points apart, but the failed design's own seeds can't tell


@pytest.mark.parametrize("ratio,unstable", [(2.9, True), (2.75, False)])
def test_the_instability_test_at_its_stated_level(ratio, unstable):
    # against the pool of the 5 stable designs (10 df), a 3-seed design with std ratio c has
    # F = c^2 on (2, 10) df, p = (1 + c^2 / 5)^-5; set aside when p < 0.05 / 6 designs, i.e.
    # c^2 > 5 * ((0.05 / 6)^-0.2 - 1) = 8.026, c > 2.833
    wider = [0.9 - 0.01 * ratio, 0.9, 0.9 + 0.01 * ratio]
    assert stats.noise_model(STABLE + [wider]).unstable[-1] is unstable


def test_a_majority_of_failing_designs_does_not_hide_them():
    # as in the digits calibration: 2 references agree within a point, 3 designs fail on some
    # seed; tested against the pool of all the others, no failing design would stand out
    failing = [[0.61, 0.64, 0.89], [0.93, 0.95, 0.63], [0.36, 0.76, 0.29]]
    noise = stats.noise_model(STABLE[:2] + failing)
    assert noise.unstable == (False, False, True, True, True)
    assert (noise.pooled.std, noise.pooled.df) == (pytest.approx(0.01), 4)


def test_one_seed_designs_cannot_be_tested_and_use_the_pool():
    noise = stats.noise_model(STABLE + [[0.10]])
    assert noise.unstable[-1] is False
    assert noise.ci95(5) == pytest.approx(2.2281 * 0.01, abs=1e-5)
    assert stats.noise_model([[0.4], [0.5]]).pooled is None


def test_stable_designs_draw_their_front_probability_from_the_pool():
    # identical seeds say nothing about their noise: B (costlier, 0.51) beats A (0.50) when
    # N(0.01, 0.01 * sqrt(1/2 + 1/2)) > 0: Phi(1) = 0.841 (resampling its seeds would say 1)
    accs, costs = [[0.50, 0.50], [0.51, 0.51]], [[1], [2]]
    p = stats.p_front(accs, costs, stats.Pooled(0.01, 10), n_boot=20000)
    assert p[0] == 1 and p[1] == pytest.approx(0.841, abs=0.01)
    assert stats.p_front(accs, costs, n_boot=200) == [1, 1]
    # B unstable: its own seeds (always 0.51) against A ~ N(0.50, 0.01 / sqrt(2)): Phi(1.414)
    p = stats.p_front(accs, costs, stats.Pooled(0.01, 10), [False, True], n_boot=20000)
    assert p[1] == pytest.approx(0.921, abs=0.01)


def test_two_seeds_that_agree_by_chance_do_not_set_the_others_aside():
    # the quietest design (2 seeds 0.0001 apart, 1 df) alone is no pool to test against: the
    # others join until the pool has 4 df, then the F tests start (none is set aside here)
    groups = [[0.5, 0.5001]] + STABLE
    noise = stats.noise_model(groups)
    assert not any(noise.unstable) and noise.pooled.df == 11
