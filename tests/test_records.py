"""The stored schema: namespaced keys, and a study stored before them still reads."""

import csv
import shutil
from pathlib import Path

import optuna
import pytest

from se_design.search import report
from se_design.search.records import StudyRecord, TrialRecord, set_study, set_trial
from se_design.search.study import load

EXAMPLE = Path(__file__).resolve().parents[1] / "results" / "example"


def test_keys_are_namespaced_and_typed():
    study = optuna.create_study()
    trial = study.ask()
    set_trial(trial, seed_acc={3: 0.5}, design="stage1:4", epochs_run=2)
    set_study(study, split_seed=7)
    assert trial.user_attrs == {"se:seed_acc": {"3": 0.5}, "se:design": "stage1:4",
                                "se:epochs_run": 2}
    rec = TrialRecord.of(trial)
    assert (rec.seed_acc, rec.design, rec.epochs_run, rec.reference) == ({3: 0.5}, "stage1:4", 2, "")
    assert StudyRecord.of(study).split_seed == 7
    with pytest.raises(KeyError):
        set_trial(trial, seed_accuracy={})  # a typo is caught, not stored


def test_a_study_stored_before_the_namespace_reports_as_it_did(tmp_path):
    # results/example/search.db was written with bare keys ("seed_acc", "design", ...); its
    # CSV was written by that release's report: the same rows must come back
    shutil.copy(EXAMPLE / "search.db", tmp_path / "s.db")
    study = load("digits_resnet20", f"sqlite:///{tmp_path}/s.db")
    assert "seed_acc" in study.trials[0].user_attrs  # really the old layout
    rows = {r.number: r for r in report.rows(study)}
    with open(EXAMPLE / "digits_resnet20.csv") as f:
        old = list(csv.DictReader(f))
    assert sorted(rows) == sorted(int(o["number"]) for o in old)
    for o in old:
        r = rows[int(o["number"])]
        assert r.design == o["design"] and r.seeds == int(o["seeds"])
        assert r.front == (o["front"] == "True") and r.reference == o["reference"]
        assert r.values[0] == pytest.approx(float(o["accuracy"]))
        assert r.accuracy_ci95 == pytest.approx(float(o["accuracy_ci95"]))
