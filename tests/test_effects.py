"""`se-design effects` and the report from the accuracy model, on studies built by hand
(optuna.create_trial with known per-seed accuracies: no training)."""

import itertools
import json
import math

import optuna
import pytest
from conftest import cli, write_space
from scipy import stats

from se_design.cost import cost
from se_design.search import report
from se_design.search.effects import effects, lines
from se_design.search.records import REFERENCES, Calibration, design_key, set_study, set_trial
from se_design.search.space import load_space
from se_design.spec import to_dict, with_se

STAGES = ("stage1", "stage2", "stage3")
EFFECT = {"stage1": 0.02, "stage2": -0.01, "stage3": 0.0}  # of SE r=16 in the stage
D = 0.003  # each design's two seeds: its true accuracy +- D (exact means, s^2 = 2 D^2)


def make_study(tmp_path, designs, accuracy, seeds=(0, 1), spread=D, history=None, **space):
    """A study of the TINY space (no budgets) holding `designs` (Optuna params), each with
    per-seed accuracies accuracy(design) + (+spread, -spread, ...), costed as a search does;
    history(params, seed, final accuracy) gives a seed's per-epoch accuracies."""
    problem = load_space(write_space(tmp_path, budgets={}, early_stopping={}, **space))
    db = f"sqlite:///{tmp_path}/e.db"
    study = optuna.create_study(study_name="fx", storage=db,
                                directions=["maximize", "minimize"])
    set_study(study, objectives=["accuracy", "params"], space=problem.space.model_dump(mode="json"),
              plain={"params": problem.plain_params, "flops": problem.plain_flops})
    for params in designs:
        acc = {s: accuracy(params) + spread * (-1) ** k for k, s in enumerate(seeds)}
        curves = {s: history(params, s, a) for s, a in acc.items()} if history else {}
        add_trial(study, problem, params, acc, curves)
    return problem, db, study


def add_trial(study, problem, params, acc, curves, state=optuna.trial.TrialState.COMPLETE):
    """A trial of `params` with final seed accuracies `acc` and per-epoch `curves` (a
    stopped trial: acc {} and its first seed's curve)."""
    v = problem.space.variables
    refs = problem.references()
    design = problem.suggest(optuna.trial.FixedTrial(params))
    target = design.apply(problem.target)
    c = cost(target)
    dist = {k: optuna.distributions.CategoricalDistribution(
        [str(x) for x in v.r] if k.startswith("r_") else getattr(v, k.split("_")[0]))
        for k in params}
    values = [sum(acc.values()) / len(acc), c.params] if acc else None
    trial = optuna.trial.create_trial(state=state, values=values, params=params,
                                      distributions=dist)
    spec = to_dict(target)
    set_trial(trial, design=design.label(), design_key=design_key(spec), target_spec=spec,
              params=c.params, flops=c.flops, seed_acc=acc, seed_history=curves,
              reference=REFERENCES[refs.index(params)] if params in refs else "")
    study.add_trial(trial)


def r_design(*rs: str) -> dict:
    d = {"squeeze": "avg", "gate": "sigmoid"}
    for s, r in zip(STAGES, rs):
        d[f"r_{s}"] = r
        if r != "none":
            d[f"variant_{s}"] = "standard"
    return d


def factorial(tmp_path, truth=None):
    """The 2^3 factorial of SE r=16 on/off per stage, additive with EFFECT."""
    truth = truth or (lambda d: 0.7 + sum(EFFECT[s] for s in STAGES if d[f"r_{s}"] != "none"))
    designs = [r_design(*rs) for rs in itertools.product(("none", "16"), repeat=3)]
    return make_study(tmp_path, designs, truth, variables={"r": ["none", 16]})


def test_factorial_effects_intervals_and_exact_costs(tmp_path):
    problem, _, study = factorial(tmp_path)
    e = effects(study)
    assert (e.designs, e.measurements) == (8, 16)
    assert e.seed_std == pytest.approx(100 * math.sqrt(2) * D) and e.tau == 0
    # an effect is the difference of two means of 4 designs x 2 seeds, on 8 pure-error df
    half = 100 * stats.t.ppf(0.975, 8) * math.sqrt(2 * D**2) * math.sqrt(1 / 8 + 1 / 8)
    plain = cost(problem.target)
    rows = {r.stage: r for r in e.rows}
    assert set(rows) == set(STAGES)
    for s, r in rows.items():
        assert (r.kind, r.level, r.baseline) == ("r", "16", "none")
        assert r.effect == pytest.approx(100 * EFFECT[s], abs=1e-9)
        assert (r.low, r.high) == pytest.approx((r.effect - half, r.effect + half))
        assert r.distinguishable == (abs(r.effect) > half)
        se16 = problem.space.variables.se(16)
        alone = cost(with_se(problem.target, se16, [s]))
        assert (r.params, r.flops) == (alone.params - plain.params, alone.flops - plain.flops)
        assert r.per_params_pct == pytest.approx(r.effect / (100 * r.params / plain.params))
    assert e.interactions == [] and e.lack_of_fit.p_value == pytest.approx(1.0)


def test_an_interaction_is_found_and_reported(tmp_path):
    both = lambda d: 0.7 + 0.03 * (d["r_stage1"] != "none" and d["r_stage2"] != "none")
    _, _, study = factorial(tmp_path, both)
    inter = effects(study).interactions
    assert len(inter) == 1
    assert set(inter[0]["factors"]) == {"r_stage1", "r_stage2"}
    assert inter[0]["effect"] == pytest.approx(3.0) and inter[0]["distinguishable"]


def test_variant_costs_over_se_r16_in_that_stage(tmp_path):
    designs = []
    for choice in itertools.product(("none", "16", "post"), repeat=3):
        d = r_design(*["none" if c == "none" else "16" for c in choice])
        d |= {f"variant_{s}": c for s, c in zip(STAGES, choice) if c == "post"}
        designs.append(d)
    problem, _, study = make_study(
        tmp_path, designs, lambda d: 0.7 + 0.01 * (d.get("variant_stage2") == "post"),
        variables={"r": ["none", 16], "variant": ["standard", "post"]})
    row = next(r for r in effects(study).rows if r.factor == "variant_stage2")
    assert (row.level, row.effect) == ("post", pytest.approx(1.0))
    v = problem.space.variables
    std, post = (cost(with_se(problem.target, v.se(16, x), ["stage2"])) for x in ("standard", "post"))
    assert (row.params, row.flops) == (post.params - std.params, post.flops - std.flops)


def test_cli_prints_table_writes_json_and_forest_plot(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    _, db, _ = factorial(tmp_path)
    out = tmp_path / "out"
    res, text = cli("effects", "--study", "fx", "--storage", db, "--out-dir", out)
    assert res.exit_code == 0, text
    assert max(map(len, res.stdout.splitlines())) <= 80
    assert "SE r=16 (vs none)" in text and "≈ 0 (not distinguishable from 0)" in text
    assert (out / "fx_effects.png").stat().st_size > 10_000
    data = json.loads((out / "fx_effects.json").read_text())
    assert {"effects", "interactions", "lack_of_fit", "seed_std", "tau", "designs",
            "measurements"} <= set(data)
    assert {"stage", "factor", "level", "effect", "low", "high", "params", "flops"} <= set(
        data["effects"][0])
    table = res.stdout
    res, _ = cli("effects", "--study", "fx", "--storage", db, "--out-dir", out, "--json")
    assert json.loads(res.stdout) == data
    from se_design import api  # the same table from Python, no CLI parsing

    assert json.loads(json.dumps(api.effects("fx", db).to_dict())) == data
    for r in data["effects"]:
        # params_pct is exact: the ratio's 95% interval is the effect's, divided by it
        ends = sorted((r["low"] / r["params_pct"], r["high"] / r["params_pct"]))
        assert [r["points_per_params_pct_low"], r["points_per_params_pct_high"]] == \
            pytest.approx(ends)
        half = (r["high"] - r["low"]) / 2 / abs(r["params_pct"])
        assert f"{r['points_per_params_pct']:+.2f}±{half:.2f}" in text
    # every verdict on its row's one line: each of the 3 choices, and no more lines
    rows = [ln for ln in table.splitlines() if ln.startswith("SE r=16 (vs none)")]
    assert len(rows) == 3 and all(ln.rstrip().endswith(("gain", "loss", "≈ 0")) for ln in rows)


OFFSET = 0.1  # how far every design is below its final accuracy at epoch 1


def stopped_study(tmp_path, stop_epoch=1):
    """The 2^3 factorial in which every design with SE in stage1 was stopped at epoch 1, at
    exactly its true accuracy - OFFSET; the others trained to the end on 2 seeds, whose
    curves link epoch 1 to the end exactly (seed 1, never facing a rung: true - OFFSET + D,
    against seed 0's final true + D; seed 0 at epoch 1: true - OFFSET - D)."""
    truth = lambda d: 0.7 + sum(EFFECT[s] for s in STAGES if d[f"r_{s}"] != "none")
    designs = [r_design(*rs) for rs in itertools.product(("none", "16"), repeat=3)]
    ran = [d for d in designs if d["r_stage1"] == "none"]
    history = lambda d, seed, final: [truth(d) - OFFSET + (D if seed else -D)]
    problem, db, study = make_study(tmp_path, ran, truth, history=history,
                                    variables={"r": ["none", 16]})
    for d in designs:
        if d["r_stage1"] != "none":
            add_trial(study, problem, d, {}, {0: [truth(d) - OFFSET] * stop_epoch},
                      optuna.trial.TrialState.PRUNED)
    return db, study


def test_designs_stopped_early_enter_the_model_linked_to_the_last_epoch(tmp_path):
    _, study = stopped_study(tmp_path)
    e = effects(study)
    # gaps all OFFSET: the link is exact; its variance is the seed noise at epoch 1, 2 D^2,
    # so a stopped design is worth sigma^2 / 2 D^2 = 1 seed, at exactly its true accuracy
    assert (e.designs, e.measurements, e.stopped, e.unlinked) == (8, 8, 4, 0)
    rows = {r.stage: r for r in e.rows}
    for s in STAGES:
        assert rows[s].effect == pytest.approx(100 * EFFECT[s], abs=1e-9)
    # stage1's effect rests on 4 designs of 1 seed against 4 of 2: wider than stage2's
    assert rows["stage1"].high - rows["stage1"].low > rows["stage2"].high - rows["stage2"].low
    assert any(ln.startswith("4 designs stopped early enter") for ln in lines(e))


def test_designs_stopped_where_no_finished_curve_reaches_are_left_out_and_said_so(tmp_path):
    _, study = stopped_study(tmp_path, stop_epoch=2)  # the finished curves end at epoch 1
    e = effects(study)
    assert (e.designs, e.stopped, e.unlinked) == (4, 0, 4)
    assert [(c.stage, c.level) for c in e.not_estimable] == [("stage1", "16")]
    assert any(ln.startswith("4 designs stopped early are left out") for ln in lines(e))

def test_a_choice_that_saves_params_orders_its_interval(tmp_path):
    from se_design.search.effects import Row

    row = Row("stage1", "on_stage1_2", "on", False, True, effect=-1.0, low=-3.0, high=1.0,
              p_value=0.5, distinguishable=False, params=-100, flops=-10, params_pct=-0.5)
    assert row.per_params_pct == 2.0 and row.per_params_pct_interval == (-2.0, 6.0)


def test_no_estimate_names_the_choice_as_the_table_does(tmp_path):
    # r=4 is measured in stage1 only: in stage3 no design has it
    designs = [r_design(*rs) for rs in itertools.product(("none", "4", "16"), ("none", "16"),
                                                         ("none", "16"))]
    _, _, study = make_study(tmp_path, designs, lambda d: 0.7, variables={"r": ["none", 4, 16]})
    note = next(ln for ln in lines(effects(study)) if ln.startswith("no estimate"))
    assert "stage3: SE r=4 (vs none)" in note and "r_stage3" not in note


def test_a_study_too_small_is_one_sentence(tmp_path):
    _, db, _ = make_study(tmp_path, [r_design("none", "none", "none"), r_design("16", "16", "16")],
                          lambda d: 0.7, variables={"r": ["none", 16]})
    res, text = cli("effects", "--study", "fx", "--storage", db, "--out-dir", tmp_path)
    assert res.exit_code == 2
    assert "2 distinct designs" in text and "at least 1 more design" in text
    assert "Traceback" not in res.output


def test_one_seed_each_without_calibration_says_what_to_do(tmp_path):
    designs = [r_design(*rs) for rs in itertools.product(("none", "16"), repeat=3)]
    _, db, _ = make_study(tmp_path, designs, lambda d: 0.7, seeds=(0,),
                          variables={"r": ["none", 16]})
    res, text = cli("effects", "--study", "fx", "--storage", db, "--out-dir", tmp_path)
    assert res.exit_code == 2 and "2 or more seeds" in text


def test_a_calibration_measures_the_seed_noise_of_one_seed_designs(tmp_path):
    designs = [r_design(*rs) for rs in itertools.product(("none", "16"), repeat=3)]
    _, _, study = make_study(tmp_path, designs, lambda d: 0.7, seeds=(0,),
                             variables={"r": ["none", 16]})
    runs = [{"design": "x", "reference": "", "seed_acc": {"0": 0.7, "1": 0.71}}]
    set_study(study, proxy_settings={"epochs": 3}, calibration=Calibration(
        seeds=2, epochs=3, designs=1, seed_std=0.005, seed_std_df=4, runs=runs))
    e = effects(study)
    assert (e.seed_std, e.seed_std_df) == (pytest.approx(0.5), 4)  # 4 df: no replicate here


# --- the report from the model ---------------------------------------------------------------

def test_report_estimates_front_and_p_front_come_from_the_model(tmp_path, monkeypatch):
    _, db, study = factorial(tmp_path)
    rows = {r.design: r for r in report.rows(study)}
    none, stage1, stage2 = (rows[d] for d in ("stage1:- stage2:- stage3:-",
                                              "stage1:16 stage2:- stage3:-",
                                              "stage1:- stage2:16 stage3:-"))
    assert all(r.p_front_from == "model" for r in rows.values())
    # additive truth, exact seed means: the model returns them, with a narrower interval
    # than a design's own two seeds give
    assert stage1.model_mean == pytest.approx(0.72) and stage2.model_mean == pytest.approx(0.69)
    assert stage1.model_high - stage1.model_mean < stage1.accuracy_ci95
    assert none.p_front == 1  # the cheapest
    assert stage2.p_front == 0  # 1 point below the cheaper no-SE design in every draw
    assert stage1.front and not stage2.front
    assert report.pick(study, None, "best-under-budget").number == max(
        rows.values(), key=lambda r: (r.model_mean, -r.params)).number  # stage1:16, cheapest
    monkeypatch.setenv("COLUMNS", "80")
    res, text = cli("report", "--study", "fx", "--storage", db, "--out-dir", tmp_path)
    assert res.exit_code == 0, text
    assert max(map(len, res.stdout.splitlines())) <= 80
    assert "from the accuracy model of all designs' seeds" in text and "0.720±" in text
    data = json.loads((tmp_path / "fx.json").read_text())
    assert data["estimates"].startswith("front, picks and p_front from the accuracy model")
    assert {"model_mean", "model_low", "model_high", "p_front_from"} <= set(data["trials"][0])


def row(number, cost, mean, half, p_front, model=True):
    return report.Row(number, f"d{number}", [mean, cost], cost, cost, True, "",
                      accuracy_ci95=half, seeds=2, p_front=p_front,
                      model_mean=mean if model else None,
                      model_low=mean - half if model else None,
                      model_high=mean + half if model else None)


def test_model_front_is_what_most_posterior_draws_agree_on():
    # d1 is on the point front (a hair above d0) but on the front in 40% of the draws only
    rows = [row(0, 1, 0.700, 0.01, 0.9), row(1, 2, 0.701, 0.01, 0.4), row(2, 3, 0.75, 0.01, 1)]
    for r in rows:
        r.front = True
    report.model_front(rows)
    assert [r.front for r in rows] == [True, False, True]
    near = [row(i, i + 1, 0.7, 0.01, 0.3) for i in range(3)]  # none reaches one half
    for r in near:
        r.front = r.number == 0
    report.model_front(near)
    assert [r.front for r in near] == [True, False, False]  # the point front stays


def test_best_under_budget_is_the_highest_estimate_with_a_model_else_the_lower_end():
    sure, wide = row(0, 1, 0.70, 0.005, 0.5), row(1, 2, 0.71, 0.03, 0.5)
    assert report.best_under_budget([sure, wide]) is wide  # posterior mean 0.71 > 0.70
    sure, wide = row(0, 1, 0.70, 0.005, 0.5, False), row(1, 2, 0.71, 0.03, 0.5, False)
    assert report.best_under_budget([sure, wide]) is sure  # own seeds: 0.695 > 0.68


def test_too_few_designs_for_narrow_intervals_is_said(tmp_path):
    # 5 designs for 4 terms: one lack-of-fit df, and departures (tau > 0) that it must
    # estimate, so the effects' t rests on about 1 df (t = 12.7): said, not just printed
    bump = {("16", "16", "16"): 0.03, ("none", "none", "none"): -0.01}
    rs = [("none",) * 3, ("16", "none", "none"), ("none", "16", "none"), ("none", "none", "16"),
          ("16",) * 3]
    _, _, study = make_study(
        tmp_path, [r_design(*r) for r in rs],
        lambda d: 0.7 + sum(EFFECT[s] for s in STAGES if d[f"r_{s}"] != "none")
        + bump.get(tuple(d[f"r_{s}"] for s in STAGES), 0), variables={"r": ["none", 16]})
    e = effects(study)
    assert e.tau > 0 and e.df < 2
    assert lines(e)[0].startswith("too few designs for narrow intervals yet")
    (tmp_path / "f").mkdir()
    _, _, full = factorial(tmp_path / "f")  # 8 designs, exact fit: the 8 pure-error df
    assert not any("too few designs" in line for line in lines(effects(full)))

def test_the_reports_knee_is_the_one_export_picks_by_lower_ends_without_a_model():
    # seed means only: d1 is on the point front, but its lower end (0.689) is below d0's
    # (0.695) at a higher cost, so the knee of the lower ends' front {d0, d2} is d2
    d0, d1, d2 = (row(0, 1, 0.700, 0.005, 0.5, False), row(1, 2, 0.739, 0.05, 0.5, False),
                  row(2, 3, 0.740, 0.005, 0.5, False))
    for r in (d0, d1, d2):
        r.front = True
    assert report.knee([d0, d1, d2]) is d1  # the point front's knee
    assert report.knee_of([d0, d1, d2]) is d2

def test_kept_checkpoints_are_the_reports_front_and_picks(tmp_path, monkeypatch):
    # Optuna's front of the seed means: d0 and d1 (d2, d3 below them); the model's front
    # (p_front >= 1/2): d0 and d2, the knee among them. d2's checkpoint must stay; d1's goes,
    # as the report does not show it.
    from se_design.search.run import _keep_front
    from se_design.search.study import checkpoint_path

    means = [0.700, 0.701, 0.690, 0.650]
    study = optuna.create_study(study_name="s", directions=["maximize", "minimize"])
    set_study(study, objectives=["accuracy", "params"], plain={"params": 1, "flops": 1})
    for n, mean in enumerate(means):
        trial = optuna.trial.create_trial(values=[mean, n + 1])
        set_trial(trial, design=f"d{n}")
        study.add_trial(trial)
        checkpoint_path(tmp_path, "s", n).write_bytes(b"model")
    model = [row(0, 1, 0.700, 0.01, 0.9), row(1, 2, 0.701, 0.01, 0.4),
             row(2, 3, 0.750, 0.01, 1.0), row(3, 4, 0.650, 0.01, 0.0)]
    for r in model:
        r.front = r.p_front >= report.FRONT_P
    monkeypatch.setattr(report, "rows", lambda _: model)
    assert report.marked(study) == {"d0", "d2"}
    _keep_front(study, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"s-trial{n}.pt" for n in (0, 2)]


def test_report_falls_back_to_each_designs_seeds_and_says_why(tmp_path):
    _, db, study = make_study(tmp_path, [r_design("none", "none", "none"),
                                         r_design("16", "16", "16")],
                              lambda d: 0.7, variables={"r": ["none", 16]})
    rows = report.rows(study)
    assert [r.p_front_from for r in rows] == ["bootstrap"] * 2
    assert all(r.model_mean is None for r in rows)
    res, text = cli("report", "--study", "fx", "--storage", db, "--out-dir", tmp_path)
    assert res.exit_code == 0, text
    assert "from each design's own seeds (p_front: bootstrap), as study 'fx' cannot" in text
