"""The honest report: per design mean, interval, seeds and front probability; designs not
distinguishable from the cheaper reference marked; picks that account for the intervals.
Simulated training (a fake trainer) fills a real study."""

import json
import math
from types import SimpleNamespace

import optuna
import pytest
from conftest import SE_STAGE1, Noisy, cli, write_space
from scipy.stats import t as student_t

from se_design.search import report
from se_design.search.space import load_space
from se_design.search.storage import open_storage
from se_design.search.study import Objective, load, prepare

SE_STAGE3 = {"r_stage1": "none", "r_stage2": "none", "r_stage3": "4",
             "variant_stage3": "standard", "squeeze": "avg", "gate": "sigmoid"}


def study_of(tmp_path, cand, extra=(), seeds=4):
    """References on `seeds` seeds (+-0.01 per seed), SE in stage 1 scoring `cand` raced from
    one seed; `extra` designs (params, score) trained on one seed."""
    db = f"sqlite:///{tmp_path}/s.db"
    problem = load_space(write_space(tmp_path, seeds=1, max_seeds=seeds,
                                     budgets={"params_increase": 0.2}))
    prepare(problem, "tiny", open_storage(db))
    study = load("tiny", db)
    study.enqueue_trial(SE_STAGE1)
    study.optimize(Objective(problem, False, Noisy(cand), 1), n_trials=3)
    for params, score in extra:
        study.enqueue_trial(params)
        study.optimize(Objective(load_space(write_space(tmp_path, seeds=1)), False,
                                 Noisy(score), 1), n_trials=1)
    return db, load("tiny", db)


def test_rows_carry_means_intervals_seeds_and_front_probability(tmp_path):
    _db, study = study_of(tmp_path, 0.505)
    rows = {r.design: r for r in report.rows(study)}
    base, se16 = [next(r for r in rows.values() if r.reference == ref)
                  for ref in ("no SE", "SE r=16 everywhere")]
    cand = next(r for r in rows.values() if not r.reference)
    # every design's seeds are +-0.01 around its score: 4 seeds each, sample variance
    # 4 * 0.01^2 / 3 per design, pooled over 3 designs on 9 df
    std = math.sqrt(4e-4 / 3)
    assert [base.seeds, se16.seeds, cand.seeds] == [4, 4, 4]
    assert base.values[0] == pytest.approx(0.50) and cand.values[0] == pytest.approx(0.505)
    assert base.accuracy_ci95 == pytest.approx(student_t.ppf(0.975, 9) * std / 2)
    assert base.p_front == 1  # the cheapest
    assert se16.p_front == 0  # 5 points below the cheaper no-SE design on every resample
    assert 0 < cand.p_front < 1
    assert cand.indistinct_from == "no SE" and se16.indistinct_from == ""
    # on the front of the means (0.505 > 0.50 at a higher cost) but not resolved from no SE
    assert cand.front and not cand.resolved and base.resolved


def test_a_clear_gain_is_resolved(tmp_path):
    _, study = study_of(tmp_path, 0.60)
    cand = next(r for r in report.rows(study) if not r.reference)
    assert cand.front and cand.resolved and cand.indistinct_from == "" and cand.seeds == 1


def test_report_json_and_text(tmp_path):
    db, _ = study_of(tmp_path, 0.505, extra=[(SE_STAGE3, 0.45)])
    res, text = cli("report", "--study", "tiny", "--storage", db, "--out-dir", tmp_path, "--json")
    assert res.exit_code == 0, text
    data = json.loads(res.stdout)
    assert data["seed_std"] == pytest.approx(math.sqrt(4e-4 / 3))
    assert data["epochs_trained"] == 4 + 4 + 4 + 1  # references and the raced design, then 1
    for rec in data["trials"]:
        assert {"accuracy_mean", "accuracy_ci95", "seeds", "p_front"} <= set(rec)
        assert rec["accuracy_mean"] == pytest.approx(sum(rec["accuracies"]) / rec["seeds"])
    res, text = cli("report", "--study", "tiny", "--storage", db, "--out-dir", tmp_path)
    assert "seed std 1.15 points" in text and "epochs trained: 13" in text


LUCKY = {"r_stage1": "none", "r_stage2": "8", "variant_stage2": "standard",
         "r_stage3": "none", "squeeze": "avg", "gate": "sigmoid"}


def test_pick_accounts_for_the_intervals(tmp_path):
    # one seed scoring 0.51 (score 0.50, seed +0.01) vs no SE at 0.50 on 4 seeds; pooled std
    # 0.0115 on 6 df (the references): the lower ends are 0.51 - 2.447 * 0.0115 = 0.482 and
    # 0.50 - 2.447 * 0.0115 / 2 = 0.486, so best-under-budget takes no SE, not the top mean
    _db, study = study_of(tmp_path, 0.30, extra=[(LUCKY, 0.50)])
    rows = {r.number: r for r in report.rows(study)}
    top = max(rows.values(), key=lambda r: r.values[0])
    assert top.seeds == 1 and top.values[0] == pytest.approx(0.51)
    assert rows[report.pick(study, None, "best-under-budget").number].reference == "no SE"


def test_export_says_when_the_pick_is_within_noise_of_a_cheaper_design(tmp_path):
    # one seed at 0.53: lower end 0.502 beats no SE's 0.486 and is picked, but the gap of 3
    # points is inside the difference's interval (2.447 * 0.0115 * sqrt(1 + 1/4) = 3.2)
    db, _study = study_of(tmp_path, 0.30, extra=[(LUCKY, 0.52)])
    res, text = cli("export", "--study", "tiny", "--storage", db, "--pick", "best-under-budget",
                    "--out", tmp_path / "b.yaml")
    assert res.exit_code == 0, text
    assert text.startswith("tiny-trial3:")  # the lucky design's trial
    assert "accuracy 0.530 ± 0.028, 1 seed, " in text, text  # 2.447 * 0.0115 / sqrt(1)
    assert "not distinguishable from that of the cheaper trial 0" in text, text


def test_without_measured_noise_nothing_is_claimed(tmp_path):
    # one seed per design and no calibration: no interval, no front probability, and no
    # design is distinguishable from no SE, however far apart the single numbers are
    db = f"sqlite:///{tmp_path}/s.db"
    problem = load_space(write_space(tmp_path, seeds=1))
    prepare(problem, "tiny", open_storage(db))
    study = load("tiny", db)
    study.enqueue_trial(SE_STAGE1)
    study.optimize(Objective(problem, False, Noisy(0.9), 1), n_trials=3)
    rows = report.rows(load("tiny", db))
    assert all(r.seeds == 1 and r.accuracy_ci95 is None and r.p_front is None for r in rows)
    assert all(r.indistinct_from == "no SE" for r in rows if r.reference != "no SE")
    assert [r.resolved for r in rows if r.front] == [True, False]  # only the cheapest
    _res, text = cli("report", "--study", "tiny", "--storage", db, "--out-dir", tmp_path)
    assert "seed noise not measured" in text
    assert "early stopping stopped nothing: it needs measured noise" in text  # and no bound
    assert "truly as good" not in text


class Flaky(Noisy):
    """As Noisy, but the candidate fails to learn on seed 1 (0.10)."""

    def __call__(self, design, seed, on_epoch):
        if sum(se is not None for se in design.se.values()) == 1 and seed == 1:
            self.calls.append((design.label(), seed))
            on_epoch(1, 0.10)
            return [0.10]
        return super().__call__(design, seed, on_epoch)


def test_a_design_that_fails_on_one_seed_is_set_aside(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    problem = load_space(write_space(tmp_path, seeds=1, max_seeds=4,
                                     budgets={"params_increase": 0.2}))
    prepare(problem, "tiny", open_storage(db))
    study = load("tiny", db)
    study.enqueue_trial(SE_STAGE1)
    study.optimize(Objective(problem, False, Flaky(0.50), 1), n_trials=3)
    rows = {r.reference or "cand": r for r in report.rows(load("tiny", db))}
    cand, base = rows["cand"], rows["no SE"]
    # raced to the cap (its own seeds never settle it): 0.51, 0.10, 0.51, 0.49
    assert cand.accuracies == pytest.approx([0.51, 0.10, 0.51, 0.49]) and cand.unstable
    # the references' intervals are as if the candidate did not exist: pooled over their
    # 2 x 3 df, std sqrt(4e-4 / 3), t(0.975, 6) / sqrt(4); pooling the candidate in would
    # have made them +-0.13: 2.262 * sqrt((8e-4 + 0.122275) / 9) / 2
    assert not base.unstable
    assert base.accuracy_ci95 == pytest.approx(student_t.ppf(0.975, 6) * math.sqrt(4e-4 / 3) / 2)
    # the candidate's from its own seeds: s^2 = 0.122275 / 3 on 3 df
    assert cand.accuracy_ci95 == pytest.approx(student_t.ppf(0.975, 3) * math.sqrt(0.122275 / 3) / 2)
    assert cand.indistinct_from == "no SE" and not cand.front
    res, text = cli("report", "--study", "tiny", "--storage", db, "--out-dir", tmp_path, "--json")
    data = json.loads(res.stdout)
    assert [t["unstable"] for t in data["trials"]] == [False, False, True]
    assert data["unstable_designs"] == 1 and data["seed_std_df"] == 6
    res, text = cli("report", "--study", "tiny", "--storage", db, "--out-dir", tmp_path)
    assert "1 design(s) set aside as unstable" in text and "seeds 0.510, 0.100, 0.510, 0.490" in text


def test_front_members_whose_latency_intervals_overlap_are_named(tmp_path):
    # intervals [1, 2] and [1.5, 3] overlap: not told apart; [1.5, 3] and [4, 5] do not
    from se_design.search.records import set_study, set_trial

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    set_study(study, objectives=["accuracy", "params", "latency"])
    for lo, hi in ((1.0, 2.0), (1.5, 3.0), (4.0, 5.0)):
        trial = study.ask()
        set_trial(trial, latency_ms=(lo + hi) / 2, latency_interval=[lo, hi])
        study.tell(trial, [0.5, 1, (lo + hi) / 2])
    front = [SimpleNamespace(number=n) for n in (2, 0, 1)]
    assert report.latency_lines(study, front) == [
        "latency cannot tell apart trials 0 and 1 (their medians' 95% intervals overlap)"]
    set_study(study, objectives=["accuracy", "params"])
    assert report.latency_lines(study, front) == []


def test_designs_are_told_apart_by_the_models_difference_where_both_have_estimates():
    """Two designs on one seed each and no calibration: their own seeds cannot tell them
    apart (no noise to compare with), but an exactly measured 2^3 factorial makes the model's
    difference, a's effect of 2 points with a 0.2-point standard error, distinguishable."""
    from se_design.search import stats
    from se_design.search.accuracy_model import fit
    from se_design.search.factors import Factor, Factors

    factors = Factors([Factor(name, (0, 1)) for name in "abc"])
    designs = factors.decode(factors.enumerate())
    model = fit(factors, [(d, s, 0.7 + 0.02 * d["a"] + (0.003 if s else -0.003))
                          for d in designs for s in (0, 1)])
    a, b = {"a": 1, "b": 0, "c": 0}, {"a": 0, "b": 0, "c": 0}
    rows = [report.Row(n, "", [acc, 1.0], 1, 1, True, "") for n, acc in ((0, 0.72), (1, 0.70))]
    m = report.Measured(stats.noise_model([[0.72], [0.70]]), {0: 0, 1: 1})
    assert m.distinct([rows]) == [False]  # seeds alone: nothing measures the noise
    m.model, m.params = model, {0: a, 1: b}
    assert m.distinct([rows]) == [False]  # rows without model estimates: still their seeds
    for r in rows:
        r.model_mean = r.values[0]
    assert m.distinct([rows, rows[::-1]]) == [True, True]
