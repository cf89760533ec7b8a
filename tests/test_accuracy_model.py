"""The accuracy model and the initial design against hand-computed cases (torch-free, fast)."""


import numpy as np
import pytest
from scipy import stats

from se_design.search.accuracy_model import design_matrix, fit, main_terms
from se_design.search.factors import Factor, Factors, se_factors
from se_design.search.initial_design import initial_design


def crossed(*levels: int) -> Factors:
    """Unconditional factors a, b, c, ... with 0..L-1 as levels."""
    return Factors([Factor(name, tuple(range(n))) for name, n in zip("abcdef", levels)])


def every_design(factors: Factors) -> list[dict]:
    return factors.decode(factors.enumerate())


def measure(designs, true_mean, seeds, sigma, rng):
    return [(d, s, true_mean(d) + sigma * rng.standard_normal()) for d in designs
            for s in range(seeds)]


# --- a balanced 2^3 factorial: estimates and intervals by hand -------------------------------

EFFECTS = {"a": 0.02, "b": -0.01, "c": 0.005}
D = 0.003  # each design measured at its true mean +- D: exact means, s^2 = 2 D^2


def additive(d):
    return 0.7 + sum(EFFECTS[k] * v for k, v in d.items())


def exact_factorial():
    designs = every_design(crossed(2, 2, 2))
    return [(d, s, additive(d) + (D if s == 0 else -D)) for d in designs for s in (0, 1)]


def test_factorial_effects_equal_the_known_effects_with_hand_t_intervals():
    model = fit(crossed(2, 2, 2), exact_factorial())
    assert model.sigma2 == pytest.approx(2 * D**2)  # pure error: 8 designs x (2 - 1) df
    assert model.sigma2_df == 8 and model.tau2 == 0 and model.df == 8
    # Effect = difference of two means of 4 designs x 2 seeds: se = sigma / sqrt(8) * sqrt(2)
    se = np.sqrt(2 * D**2) * np.sqrt(1 / 8 + 1 / 8)
    half = stats.t.ppf(0.975, 8) * se
    for e in model.effects():
        true = EFFECTS[e.factor]
        assert (e.level, e.baseline) == (1, 0)
        assert e.effect == pytest.approx(true, abs=1e-12)
        assert e.se == pytest.approx(se)
        assert (e.low, e.high) == pytest.approx((true - half, true + half))
        assert e.p_value == pytest.approx(2 * stats.t.sf(abs(true) / se, 8))
        assert e.distinct == (abs(true) > half)
    assert model.interactions() == []
    assert model.lack_of_fit.p_value == pytest.approx(1.0)


def test_factorial_posterior_of_a_measured_design_is_the_model_when_tau2_is_zero():
    model = fit(crossed(2, 2, 2), exact_factorial())
    post = model.predict([{"a": 1, "b": 0, "c": 1}])
    # tau^2 = 0: the design's true mean is the model's; its variance x'Cx by hand
    x = np.array([1.0, 1, 0, 1])
    var = 2 * D**2 * x @ np.linalg.inv(_xtx_factorial()) @ x
    assert post.mean[0] == pytest.approx(additive({"a": 1, "b": 0, "c": 1}))
    assert post.sd[0] == pytest.approx(np.sqrt(var))
    assert (post.seeds[0], post.own_mean[0]) == (2, pytest.approx(0.725))


def _xtx_factorial():
    """X'X of the 2^3 factorial, 2 seeds per design, treatment coding."""
    x = design_matrix(crossed(2, 2, 2).enumerate(), [(), ((0, 1),), ((1, 1),), ((2, 1),)])
    return 2 * x.T @ x


# --- interactions ---------------------------------------------------------------------------

def test_an_interaction_in_the_data_is_selected_and_estimated():
    rng = np.random.default_rng(1)
    factors = crossed(3, 3, 2)

    def truth(d):  # a=2 and b=2 together add 4 points beyond their main effects
        return 0.6 + 0.01 * d["a"] - 0.005 * d["b"] + 0.01 * d["c"] + 0.04 * (d["a"] == 2 == d["b"])

    model = fit(factors, measure(every_design(factors), truth, 2, 0.005, rng))
    (inter,) = model.interactions()  # one column: the cell that carries it
    assert (inter.factors, inter.levels) == (("a", "b"), (2, 2))
    assert inter.low < 0.04 < inter.high and inter.distinct
    main = {e.factor: e for e in model.effects() if e.level == 2}
    assert main["a"].low < 0.02 < main["a"].high and main["b"].low < -0.01 < main["b"].high
    assert model.lack_of_fit.p_value > 0.05


def test_additive_data_select_no_interaction():
    rng = np.random.default_rng(2)
    factors = crossed(3, 3, 2)
    model = fit(factors, measure(every_design(factors), lambda d: 0.6 + 0.01 * d["a"], 2, 0.005, rng))
    assert model.interactions() == []


# --- lack of fit ----------------------------------------------------------------------------

def test_additive_data_pass_the_lack_of_fit_test_and_give_tau2_near_zero():
    rng = np.random.default_rng(3)
    factors = crossed(3, 3, 2)
    model = fit(factors, measure(every_design(factors), lambda d: 0.6 + 0.01 * d["a"], 3, 0.01, rng),
                max_interactions=0)
    assert model.lack_of_fit.p_value > 0.05
    assert model.tau2 < 0.1 * model.sigma2 / 3  # small beside the noise of a design mean


def test_design_specific_deviations_reject_and_measured_designs_keep_their_own_mean():
    rng = np.random.default_rng(4)
    factors = crossed(3, 3, 2)
    designs = every_design(factors)
    u = dict(zip(map(str, designs), 0.02 * rng.standard_normal(len(designs))))
    data = measure(designs, lambda d: 0.6 + 0.01 * d["a"] + u[str(d)], 3, 0.005, rng)
    model = fit(factors, data, max_interactions=0)
    assert model.lack_of_fit.p_value < 0.001 and model.tau2 > 0
    # Balanced (3 seeds each): c = n (m - p), so tau^2 = (MS_lack - sigma^2) / n by hand
    y = np.array([[acc for d, _, acc in data if d == e] for e in designs])
    x = design_matrix(factors.encode(designs), model.terms)
    lack = y.mean(1) - x @ np.linalg.lstsq(x, y.mean(1), rcond=None)[0]
    ms_lack = 3 * (lack**2).sum() / (18 - 6)
    sigma2 = y.var(1, ddof=1).mean()
    assert model.sigma2 == pytest.approx(sigma2)
    assert model.tau2 == pytest.approx((ms_lack - sigma2) / 3)
    assert model.tau2 == pytest.approx(0.02**2, rel=0.6)
    post = model.predict(designs)
    fitted = design_matrix(factors.encode(designs), model.terms) @ model.beta
    lam = model.tau2 / (model.tau2 + model.sigma2 / 3)  # the BLUP's weight on the own mean
    assert post.mean == pytest.approx((1 - lam) * fitted + lam * post.own_mean)
    assert np.all(np.abs(post.mean - post.own_mean) < 0.2 * np.abs(fitted - post.own_mean))


def test_lack_of_fit_f_is_ms_lack_over_pure_error():
    rng = np.random.default_rng(5)
    factors = crossed(3, 2)
    data = measure(every_design(factors), lambda d: 0.5 + 0.03 * (d == {"a": 1, "b": 1}), 2, 0.01, rng)
    model = fit(factors, data, max_interactions=0)
    y = np.array([acc for _, _, acc in data]).reshape(6, 2)
    x = design_matrix(factors.encode([d for d, s, _ in data if s == 0]), model.terms)
    lack = x @ np.linalg.lstsq(x, y.mean(1), rcond=None)[0] - y.mean(1)
    ms_lack = 2 * (lack**2).sum() / (6 - 4)
    ms_pure = ((y - y.mean(1, keepdims=True)) ** 2).sum() / 6
    assert model.lack_of_fit.f == pytest.approx(ms_lack / ms_pure)
    assert model.lack_of_fit.p_value == pytest.approx(stats.f.sf(ms_lack / ms_pure, 2, 6))


# --- posterior draws and coverage -----------------------------------------------------------

def test_draws_converge_to_the_stated_posterior():
    rng = np.random.default_rng(6)
    factors = crossed(3, 3, 2)
    designs = every_design(factors)
    u = dict(zip(map(str, designs), 0.01 * rng.standard_normal(len(designs))))
    measured = [d for i, d in enumerate(designs) if i % 3]  # a third predicted only
    model = fit(factors, measure(measured, lambda d: 0.6 + 0.01 * d["b"] + u[str(d)], 2, 0.01, rng),
                max_interactions=0)
    assert model.tau2 > 0
    draws = model.draws(designs, 40_000, np.random.default_rng(7))
    post = model.predict(designs)
    # The stated joint covariance, by hand: (1 - lam_i)(1 - lam_j) x_i'Cx_j + own variance
    x = design_matrix(factors.encode(designs), model.terms)
    n = post.seeds
    lam = np.where(n > 0, model.tau2 / (model.tau2 + model.sigma2 / np.maximum(n, 1)), 0)
    a = (1 - lam)[:, None] * x
    own = np.where(n > 0, lam * model.sigma2 / np.maximum(n, 1), model.tau2)
    cov = a @ model.cov @ a.T + np.diag(own)
    assert np.sqrt(np.diag(cov)) == pytest.approx(post.sd)
    assert draws.mean(0) == pytest.approx(post.mean, abs=4 * post.sd.max() / np.sqrt(40_000))
    assert np.cov(draws.T) == pytest.approx(cov, abs=0.05 * cov.max())


def test_difference_of_two_designs_is_the_effect_between_them_in_a_factorial():
    """tau^2 = 0: a measured design's estimate is the model's, so two designs that differ in
    factor a alone differ by a's effect, with its standard error and df (not the two
    designs' intervals combined as if independent)."""
    model = fit(crossed(2, 2, 2), exact_factorial())
    diff = model.difference([{"a": 1, "b": 1, "c": 0}], [{"a": 0, "b": 1, "c": 0}])
    (effect,) = [e for e in model.effects() if e.factor == "a"]
    assert (diff.mean[0], diff.se[0], diff.df[0]) == pytest.approx((effect.effect, effect.se, 8))


def test_difference_has_the_variance_of_the_joint_posterior():
    """With tau^2 > 0 and a predicted design: var(a - b) = C_aa + C_bb - 2 C_ab of the joint
    posterior written out by hand in the draws test's terms."""
    rng = np.random.default_rng(6)
    factors = crossed(3, 3, 2)
    designs = every_design(factors)
    u = dict(zip(map(str, designs), 0.01 * rng.standard_normal(len(designs))))
    measured = [d for i, d in enumerate(designs) if i % 3]
    model = fit(factors, measure(measured, lambda d: 0.6 + 0.01 * d["b"] + u[str(d)], 2, 0.01, rng),
                max_interactions=0)
    post = model.predict(designs)
    x = design_matrix(factors.encode(designs), model.terms)
    n = post.seeds
    lam = np.where(n > 0, model.tau2 / (model.tau2 + model.sigma2 / np.maximum(n, 1)), 0)
    a = (1 - lam)[:, None] * x
    cov = a @ model.cov @ a.T + np.diag(np.where(n > 0, lam * model.sigma2 / np.maximum(n, 1),
                                                 model.tau2))
    i, j = [0, 1, 4], [1, 2, 17]  # predicted vs measured, both measured, ...
    diff = model.difference([designs[k] for k in i], [designs[k] for k in j])
    assert diff.mean == pytest.approx(post.mean[i] - post.mean[j])
    assert diff.se ** 2 == pytest.approx(cov[i, i] + cov[j, j] - 2 * cov[i, j])


@pytest.mark.parametrize("tau", [0.0, 0.01])
def test_intervals_cover_the_true_means_and_effects(tau):
    """Additive truth (+ design deviations of sd tau), 12 of 18 designs on 2 seeds: 95%
    intervals cover the true means of all 18 designs and the true effects 90-98% of the time."""
    rng = np.random.default_rng(8)
    factors = crossed(3, 3, 2)
    designs = every_design(factors)
    x = design_matrix(factors.encode(designs), [(), *main_terms(factors)])
    beta = np.array([0.6, 0.01, 0.02, -0.01, 0.0, 0.015])
    hit_means, hit_effects = [], []
    for _ in range(150):
        truth = x @ beta + tau * rng.standard_normal(len(designs))
        pick = rng.choice(len(designs), 12, replace=False)
        data = [(designs[i], s, truth[i] + 0.01 * rng.standard_normal()) for i in pick for s in (0, 1)]
        model = fit(factors, data)
        post = model.predict(designs)
        hit_means += list((post.low <= truth) & (truth <= post.high))
        hit_effects += [e.low <= b <= e.high for e, b in zip(model.effects(), beta[1:])]
    assert 0.90 <= np.mean(hit_means) <= 0.98
    assert 0.90 <= np.mean(hit_effects) <= 0.98


# --- estimability and the seed noise --------------------------------------------------------

def test_a_level_never_measured_is_not_estimable():
    factors = crossed(3, 2, 2)
    data = [(d, s, additive(d) + D * (-1) ** s) for d in every_design(crossed(2, 2, 2)) for s in (0, 1)]
    model = fit(factors, data)
    assert model.not_estimable == [((0, 2),)]
    post = model.predict([{"a": 2, "b": 0, "c": 0}, {"a": 1, "b": 0, "c": 0}])
    assert list(post.estimable) == [False, True] and np.isnan(post.mean[0])
    assert np.isnan(model.draws([{"a": 2, "b": 0, "c": 0}], 3, np.random.default_rng(0))).all()


def test_seed_noise_comes_from_replicates_or_a_calibration():
    single = [(d, 0, acc) for d, s, acc in exact_factorial() if s == 0]
    with pytest.raises(ValueError, match="seed noise is unknown"):
        fit(crossed(2, 2, 2), single)
    known = fit(crossed(2, 2, 2), single, sigma2=1e-4)
    assert (known.sigma2, known.sigma2_df) == (1e-4, np.inf)
    pooled = fit(crossed(2, 2, 2), exact_factorial(), sigma2=1e-4, sigma2_df=8)
    assert pooled.sigma2 == pytest.approx((8 * 2 * D**2 + 8 * 1e-4) / 16)


def test_measured_designs_are_found_in_large_spaces_too():
    """45 two-level factors overflow a mixed-radix key: rows are hashed, hits checked."""
    factors = Factors([Factor(f"f{i}", (0, 1)) for i in range(45)])
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 2, (60, 45)).astype(np.int16)
    designs = factors.decode(codes)
    data = [(d, s, 0.5 + 0.01 * d["f0"] + 0.01 * rng.standard_normal()) for d in designs for s in (0, 1)]
    model = fit(factors, data, max_interactions=0)
    others = 1 - codes[:5]  # flipped: never measured
    post = model.predict(np.concatenate([codes, others]))
    assert list(post.seeds) == [2] * 60 + [0] * 5


def test_a_seed_given_twice_counts_once():
    data = exact_factorial()
    assert fit(crossed(2, 2, 2), data + data[:4]).sigma2 == pytest.approx(2 * D**2)



def test_weighted_measurements_pool_as_their_weights_in_seeds():
    """Seed 1 of every design worth 3 seeds (variance sigma^2 / 3) at mu - D/3: the design's
    weighted mean is mu = (mu + D + 3 (mu - D/3)) / 4, its seed count 4, and its pure error
    D^2 + 3 (D/3)^2 = 4 D^2 / 3 on 1 df."""
    data = [(d, s, additive(d) + (D if s == 0 else -D / 3), 1.0 if s == 0 else 3.0)
            for d in every_design(crossed(2, 2, 2)) for s in (0, 1)]
    model = fit(crossed(2, 2, 2), data)
    assert model.sigma2 == pytest.approx(4 * D**2 / 3) and model.sigma2_df == 8
    assert list(model.seeds) == [4.0] * 8
    se = np.sqrt(4 * D**2 / 3 * (1 / 16 + 1 / 16))  # 4 designs x 4 seeds on each side
    for e in model.effects():
        assert e.effect == pytest.approx(EFFECTS[e.factor], abs=1e-12)
        assert e.se == pytest.approx(se)


def test_a_measurement_of_weight_n_is_n_seeds_at_its_value():
    """With the seed noise known, a design's seeds enter only through their mean and count:
    one measurement at the mean, worth 2 seeds, gives the very same model."""
    rng = np.random.default_rng(8)
    factors = crossed(3, 3, 2)
    designs = every_design(factors)
    u = dict(zip(map(str, designs), 0.01 * rng.standard_normal(len(designs))))
    seeds = measure(designs, lambda d: 0.6 + 0.01 * d["a"] + u[str(d)], 2, 0.005, rng)
    means = [(d, 0, (seeds[2 * i][2] + seeds[2 * i + 1][2]) / 2, 2.0)
             for i, d in enumerate(designs)]
    a, b = (fit(factors, data, sigma2=0.005**2, max_interactions=0) for data in (seeds, means))
    assert a.tau2 > 0 and b.tau2 == pytest.approx(a.tau2)
    assert b.beta == pytest.approx(a.beta) and b.cov == pytest.approx(a.cov)
    pa, pb = a.predict(designs), b.predict(designs)
    assert pb.mean == pytest.approx(pa.mean) and pb.sd == pytest.approx(pa.sd)

# --- SE factors: conditional levels ---------------------------------------------------------

SE = se_factors(["s1", "s2"], ["none", 4, 16], ["standard", "post"], ["avg", "max"])
NO_SE = {"r_s1": "none", "r_s2": "none", "squeeze": "avg", "gate": "sigmoid"}
PAPER = {"r_s1": "16", "r_s2": "16", "variant_s1": "standard", "variant_s2": "standard",
         "squeeze": "avg", "gate": "sigmoid"}


def test_se_factors_drop_what_does_not_apply_and_enumerate_distinct_designs():
    assert SE.decode(SE.encode([NO_SE])) == [{"r_s1": "none", "r_s2": "none"}]
    with pytest.raises(ValueError, match="unknown factor"):
        SE.encode([NO_SE | {"r_s3": "4"}])
    with pytest.raises(ValueError, match="is not one of"):
        SE.encode([PAPER | {"r_s1": "8"}])
    # per stage 1 + 2 r x 2 variants; squeeze x gate (2) only with SE somewhere
    assert len(SE.enumerate()) == 5 * 5 * 2 - 1
    assert len(np.unique(SE.enumerate(), axis=0)) == 49


def test_se_effects_read_against_no_se():
    rng = np.random.default_rng(9)
    designs = every_design(SE)

    def truth(d):
        return 0.8 + sum(0.02 * (d[f"r_{s}"] == "16") + 0.01 * (d.get(f"variant_{s}") == "post")
                         for s in ("s1", "s2"))

    model = fit(SE, measure(designs, truth, 2, 0.002, rng))
    eff = {(e.factor, e.level): e for e in model.effects()}
    assert eff[("r_s1", "16")].baseline == "none" and eff[("r_s1", "16")].stage == "s1"
    assert eff[("r_s1", "16")].low < 0.02 < eff[("r_s1", "16")].high
    assert eff[("variant_s2", "post")].kind == "variant"
    assert eff[("variant_s2", "post")].low < 0.01 < eff[("variant_s2", "post")].high
    assert not eff[("squeeze", "max")].distinct


# --- the initial design ---------------------------------------------------------------------

def test_initial_design_keeps_the_references_and_estimates_every_main_effect():
    designs = initial_design(SE, [NO_SE, PAPER], seed=0)
    terms = [(), *main_terms(SE)]
    assert len(designs) == len(terms) + 3
    assert designs[:2] == SE.decode(SE.encode([NO_SE, PAPER]))
    x = design_matrix(SE.encode(designs), terms)
    assert np.linalg.matrix_rank(x) == len(terms)
    assert len({str(d) for d in designs}) == len(designs)
    for d in designs:  # conditional factors respected
        for s in ("s1", "s2"):
            assert (f"variant_{s}" in d) == (d[f"r_{s}"] != "none")


def test_initial_design_is_the_half_fraction_of_a_two_level_factorial():
    factors = crossed(2, 2, 2)
    designs = initial_design(factors, [{"a": 0, "b": 0, "c": 0}, {"a": 1, "b": 1, "c": 0}], k=4)
    assert {tuple(d.values()) for d in designs} == {(0, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1)}


def test_initial_design_needs_as_many_designs_as_terms():
    with pytest.raises(ValueError, match="main effects"):
        initial_design(crossed(3, 3), [{"a": 0, "b": 0}], k=4)


def test_initial_design_then_fit():
    """The start is fittable: every main effect estimable, tau^2 estimable."""
    rng = np.random.default_rng(10)
    designs = initial_design(SE, [NO_SE, PAPER], seed=1)
    data = measure(designs, lambda d: 0.8 + 0.01 * (d["r_s1"] != "none"), 1, 0.005, rng)
    data += [(d, 1, acc + 0.005) for d, _, acc in data[:2]]  # the references' second seeds
    model = fit(SE, data)
    assert model.not_estimable == [] and model.lack_of_fit.df_lack >= 3
