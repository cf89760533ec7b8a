"""Replicate seeds: per-seed results stored with the trial, a re-drawn design reusing and
extending its seeds, the study's fixed held-out split. A recording fake trainer stands in for
training where the test is about bookkeeping."""

import optuna
import pytest
from conftest import FakeTrainer, cli, write_space

from se_design.search.records import StudyRecord, TrialRecord, by_design
from se_design.search.space import load_space
from se_design.search.study import Objective, load


def run(problem, trainer, params, study=None):
    study = study or optuna.create_study(directions=["maximize", "minimize"])
    for p in params:
        study.enqueue_trial(p)
    study.optimize(Objective(problem, False, trainer, trainer.epochs, train_seed=10),
                   n_trials=len(params))
    return study


def test_seeds_are_stored_and_the_value_is_their_mean(tmp_path):
    problem = load_space(write_space(tmp_path, seeds=2))
    one_se = {"r_stage1": "16", "variant_stage1": "standard", "r_stage2": "none",
              "r_stage3": "none", "squeeze": "avg", "gate": "sigmoid"}
    trainer = FakeTrainer()
    t = run(problem, trainer, [one_se]).trials[0]
    assert trainer.calls == [(TrialRecord.of(t).design, 10), (TrialRecord.of(t).design, 11)]
    assert TrialRecord.of(t).seed_acc == {10: pytest.approx(0.7), 11: pytest.approx(0.71)}
    assert TrialRecord.of(t).seed_history[11] == pytest.approx([0.71 / 3, 0.71 * 2 / 3, 0.71])
    assert t.values[0] == pytest.approx(0.705)
    assert (TrialRecord.of(t).epochs_run, TrialRecord.of(t).epochs_planned) == (6, 6)


def test_a_redrawn_design_reuses_then_extends_its_seeds(tmp_path):
    problem = load_space(write_space(tmp_path, seeds=2))
    refs = problem.references()
    trainer = FakeTrainer()
    study = run(problem, trainer, [refs[0], refs[0]])
    assert [s for _, s in trainer.calls] == [10, 11]  # the second trial trained nothing
    again = study.trials[1]
    assert TrialRecord.of(again).reused_from == 0 and TrialRecord.of(again).epochs_run == 0
    assert again.values == study.trials[0].values
    # more seeds asked later: only the missing seed is trained, the others are carried over
    more = load_space(write_space(tmp_path, seeds=3))
    run(more, trainer, [refs[0]], study)
    assert [s for _, s in trainer.calls] == [10, 11, 12]
    assert sorted(TrialRecord.of(study.trials[2]).seed_acc) == [10, 11, 12]
    assert len(by_design(study.trials)) == 1  # one design, shown once, with three seeds
    # two parameter sets that build the same network are the same design (no SE: squeeze unused)
    other_squeeze = refs[0] | {"squeeze": "max"}
    study2 = run(load_space(write_space(tmp_path, seeds=3, variables={
        "r": ["none", 16], "squeeze": ["avg", "max"]})), trainer, [refs[0], other_squeeze])
    assert TrialRecord.of(study2.trials[1]).reused_from == 0


def test_references_get_the_seed_cap(tmp_path):
    problem = load_space(write_space(tmp_path, seeds=1, max_seeds=3))
    trainer = FakeTrainer()
    study = run(problem, trainer, problem.references())
    assert [len(TrialRecord.of(t).seed_acc) for t in study.trials] == [3, 3]


def test_bad_seed_settings_name_the_key(tmp_path):
    from se_design.errors import UserError

    for changes, words in (({"seeds": 0}, "seeds"), ({"seeds": 3, "max_seeds": 2}, "max_seeds")):
        with pytest.raises(UserError, match=words):
            load_space(write_space(tmp_path, **changes))


def test_search_with_two_seeds_on_a_fixed_split(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, proxy__train={"epochs": 1, "batch_size": 64, "lr": 0.05})
    res, text = cli("search", "--space", space, "--n-trials", 2, "--seeds", 2, "--seed", 3,
                    "--storage", db)
    assert res.exit_code == 0, text
    study = load("tiny", db)
    assert StudyRecord.of(study).split_seed == 3
    for t in study.trials:
        accs = TrialRecord.of(t).seed_acc
        assert sorted(accs) == [3, 4] and len(set(accs.values())) == 2  # seeds differ
        assert t.values[0] == pytest.approx(sum(accs.values()) / 2)
        assert all(len(h) == 1 for h in TrialRecord.of(t).seed_history.values())
