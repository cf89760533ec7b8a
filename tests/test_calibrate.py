"""Calibration: the figures on hand-made runs, and the command end to end on the tiny space."""

import json
import math

import pytest
from conftest import TINY, cli, write_space
from scipy.stats import t as student_t

from se_design.search.calibrate import Run, summarise, text, warning
from se_design.search.records import StudyRecord, TrialRecord
from se_design.search.space import load_space
from se_design.search.study import load

# three designs x two seeds x three epochs; finals: no SE 0.40/0.42, SE 0.36/0.38, other
# 0.30/0.34. At epoch 1 the order of the means is reversed, at epoch 2 it is the final one.
RUNS = [Run("no SE", "no SE", {0: [0.10, 0.30, 0.40], 1: [0.10, 0.32, 0.42]}),
        Run("SE r=16 everywhere", "SE r=16 everywhere", {0: [0.20, 0.26, 0.36], 1: [0.20, 0.28, 0.38]}),
        Run("stage1:4", "", {0: [0.30, 0.20, 0.30], 1: [0.32, 0.22, 0.34]})]


def test_figures_by_hand():
    cal = summarise(RUNS, 3, planned=[1, 4])
    # within-design variances 0.0002, 0.0002, 0.0008 on 1 df each: pooled sqrt(0.0012 / 3)
    assert (cal.seed_std, cal.seed_std_df) == (pytest.approx(0.02), 3)
    assert cal.se_difference["1"] == pytest.approx(0.02 * math.sqrt(2))
    assert cal.min_detectable_difference["1"] == pytest.approx(2.80158 * 0.02 * math.sqrt(2), abs=1e-5)
    assert cal.min_detectable_difference["4"] == pytest.approx(2.80158 * 0.02 / math.sqrt(2), abs=1e-5)
    assert set(cal.min_detectable_difference) == {"1", "2", "4"}  # 1, K = 2 and planned 4
    assert cal.rung_fidelity == {"1": pytest.approx(-1), "2": pytest.approx(1)}
    # SE minus no SE from the two references' own seeds (2 each: Welch): 0.37 - 0.41; each
    # has sd 0.02/sqrt(2), so se = sqrt(2 * 0.0002 / 2) = 0.01414 on (0.0002)^2 / (2 * 0.0001^2)
    # = 2 df
    gap, half = cal.reference_gap, student_t.ppf(0.975, 2) * math.sqrt(0.0002)
    assert (gap["mean"], gap["low"], gap["high"]) == (
        pytest.approx(-0.04), pytest.approx(-0.04 - half), pytest.approx(-0.04 + half))


def test_a_design_that_sometimes_fails_is_set_aside(tmp_path):
    # a fourth stable design (0.35/0.37, variance 0.0002) gives the pool 4 df; a fifth fails
    # to learn on one seed (0.10 vs 0.40, variance 0.045): pooled in, the seed std would be
    # sqrt((0.0014 + 0.045) / 5) = 9.6 points; set aside (F = 0.045 / 0.00035 = 129 on (1, 4)
    # df, p = 0.0003 < 0.05 / 5), it is the other designs' sqrt(0.0014 / 4) = 1.87 points
    stable = Run("stage3:8", "", {0: [0.1, 0.2, 0.35], 1: [0.1, 0.2, 0.37]})
    flaky = Run("stage2:4", "", {0: [0.2, 0.3, 0.40], 1: [0.2, 0.1, 0.10]})
    cal = summarise([*RUNS, stable, flaky], 3, planned=[1])
    assert (cal.seed_std, cal.seed_std_df) == (pytest.approx(math.sqrt(0.0014 / 4)), 4)
    assert cal.unstable == ["stage2:4"]
    assert cal.min_detectable_difference["1"] == pytest.approx(
        2.80158 * math.sqrt(0.0014 / 4) * math.sqrt(2), abs=1e-5)
    lines = text(cal, load_space(write_space(tmp_path)))
    assert "pooled over 4 of 5 designs: 1 set aside as unstable" in "\n".join(lines)


def test_warning_says_what_to_lengthen(tmp_path):
    problem = load_space(write_space(tmp_path))
    cal = summarise(RUNS, 3, planned=[1])
    note = warning(cal, problem)
    assert "below no SE" in note and "not distinguishably" in note and "epochs" in note
    assert "gate_init: 0.9" in note  # not set in this space: suggested first
    started = load_space(write_space(tmp_path, proxy__train=TINY["proxy"]["train"]
                                     | {"gate_init": 0.9}))
    assert "gate_init" not in warning(cal, started)
    clear = cal.model_copy(update={"reference_gap": {"mean": -0.05, "low": -0.08, "high": -0.02}})
    assert "(clearly" in warning(clear, problem)
    assert warning(cal.model_copy(update={"reference_gap": {"mean": 0.01, "low": -0.02,
                                                            "high": 0.04}}), problem) is None


def test_calibrate_command_stores_the_result_for_the_search(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, proxy__train={"epochs": 2, "batch_size": 32, "lr": 0.05},
                        proxy__data={"source": "digits", "val_fraction": 0.1, "max_train": 64})
    res, text = cli("calibrate", "--space", space, "--seeds", 2, "--designs", 0, "--storage", db,
                    "--json")
    assert res.exit_code == 0, text
    out = json.loads(res.stdout)
    for key in ("seed_std", "min_detectable_difference", "rung_fidelity", "reference_gap"):
        assert key in out
    assert set(out["reference_gap"]) == {"mean", "low", "high"} and out["seeds"] == 2
    assert out["reference_gap"]["low"] <= out["reference_gap"]["mean"] <= out["reference_gap"]["high"]
    study = load("tiny", db)
    assert StudyRecord.of(study).calibration.seed_std == out["seed_std"]
    assert StudyRecord.of(study).split_seed == 0
    # the search then joins the calibrated study without --resume
    res, text = cli("search", "--space", space, "--n-trials", 2, "--storage", db)
    assert res.exit_code == 0, text
    res, text = cli("calibrate", "--space", space, "--seeds", 1, "--storage", db)
    assert res.exit_code == 2  # one seed cannot measure noise


def fake_training(monkeypatch):
    """Replace training by a recorded curve: accuracy 0.5 + 0.01 * seed + 0.05 per stage
    with SE, rising linearly over the epochs; returns the (design, seed) calls."""
    from se_design.search import evaluate as ev

    calls = []

    def train(self, design, seed, on_epoch):
        calls.append((design.label(), seed))
        final = 0.5 + 0.01 * seed + 0.05 * sum(se is not None for se in design.se.values())
        curve = [final * e / self.cfg.epochs for e in range(1, self.cfg.epochs + 1)]
        for e, acc in enumerate(curve, 1):
            on_epoch(e, acc)
        return curve

    monkeypatch.setattr(ev.TorchTrainer, "__call__", train)
    return calls


def test_the_search_reuses_the_calibration_runs(tmp_path, monkeypatch):
    calls = fake_training(monkeypatch)
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, proxy__train={"epochs": 2, "batch_size": 32, "lr": 0.05},
                        proxy__data={"source": "digits", "val_fraction": 0.1, "max_train": 64})
    res, text = cli("calibrate", "--space", space, "--seeds", 2, "--designs", 1, "--storage", db)
    assert res.exit_code == 0, text
    assert "stored as trials 2, 3, 4 of the study" in text  # 0 and 1: the queued references
    calibrated = list(calls)
    assert len(calibrated) == 3 * 2 and {s for _, s in calibrated} == {0, 1}
    res, text = cli("search", "--space", space, "--n-trials", 6, "--seeds", 2, "--storage", db)
    assert res.exit_code == 0, text
    searched = calls[len(calibrated):]
    refs = {d for d, _ in calibrated[:4]}  # the two references come first
    assert not [c for c in searched if c in calibrated], searched  # nothing trained twice
    assert not [d for d, _ in searched if d in refs]  # the references: both seeds reused
    res, text = cli("report", "--study", "tiny", "--storage", db, "--out-dir", tmp_path, "--json")
    assert res.exit_code == 0, text
    rows = {r["reference"]: r for r in json.loads(res.stdout)["trials"] if r["reference"]}
    assert set(rows) == {"no SE", "SE r=16 everywhere"}
    assert all(r["seeds"] == 2 for r in rows.values())
    # the no-SE reference's value is the mean of its calibration seeds 0 and 1
    assert rows["no SE"]["accuracy_mean"] == pytest.approx(0.505)
    study = load("tiny", db)
    assert study.trials[0].params == study.trials[2].params  # the queued reference, reused
    assert TrialRecord.of(study.trials[0]).reused_from == 2


def test_calibration_under_other_settings_is_not_stored_nor_pooled(tmp_path, monkeypatch):
    from se_design.search import racing

    calls = fake_training(monkeypatch)
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, proxy__train={"epochs": 2, "batch_size": 32, "lr": 0.05},
                        proxy__data={"source": "digits", "val_fraction": 0.1, "max_train": 64})
    res, text = cli("calibrate", "--space", space, "--seeds", 2, "--designs", 0, "--storage", db,
                    "--epochs", 3)
    assert res.exit_code == 0, text
    assert ("not stored as trials of the study: calibrated with epochs=3, the study's proxy "
            "has epochs=2") in text
    assert not [t for t in load("tiny", db).trials if t.state.name == "COMPLETE"]
    n = len(calls)
    res, text = cli("search", "--space", space, "--n-trials", 2, "--storage", db)
    assert res.exit_code == 0, text
    assert len(calls) == n + 2  # the references trained afresh, one seed each
    # one seed per design and a 3-epoch calibration: nothing measures a 2-epoch noise
    assert racing.pool(load("tiny", db)).pooled is None


def test_calibrating_again_trains_only_the_seeds_the_study_lacks(tmp_path, monkeypatch):
    calls = fake_training(monkeypatch)
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, proxy__train={"epochs": 2, "batch_size": 32, "lr": 0.05},
                        proxy__data={"source": "digits", "val_fraction": 0.1, "max_train": 64})
    args = ("calibrate", "--space", space, "--designs", 1, "--storage", db, "--json")
    res, text = cli(*args, "--seeds", 2)
    assert res.exit_code == 0, text
    first, trials = json.loads(res.stdout), len(load("tiny", db).trials)
    assert len(calls) == 3 * 2
    res, text = cli(*args, "--seeds", 2)  # the same again: every seed is in the study
    assert res.exit_code == 0, text
    again = json.loads(res.stdout)
    assert len(calls) == 3 * 2 and len(load("tiny", db).trials) == trials
    assert again["trials"] == first["trials"] and again["seed_std"] == first["seed_std"]
    res, text = cli(*args, "--seeds", 3)  # one more seed: only seed 2 is trained
    assert res.exit_code == 0, text
    assert sorted(s for _, s in calls[6:]) == [2, 2, 2]
    study = load("tiny", db)
    assert len(study.trials) == trials + 3
    assert all(len(TrialRecord.of(study.trials[n]).seed_acc) == 3
               for n in json.loads(res.stdout)["trials"])
    res, text = cli("calibrate", "--space", space, "--designs", 1, "--seeds", 2, "--study",
                    "mine", "--storage", db)  # the text names the study it stored into
    assert res.exit_code == 0 and "calibration of study 'mine' (space tiny)" in text, text
    assert StudyRecord.of(load("mine", db)).calibration.study == "mine"


def test_an_unset_setting_is_named_not_printed_as_none():
    from se_design.search.calibrate import _setting

    assert _setting("max_train", None) == "no max_train"
    assert _setting("max_train", 400) == "max_train=400"
