"""Search: space validation, cost-only and trained studies, report, export round trip,
resume after an interruption, a diverging trial, and bad input."""

import json
from pathlib import Path

import optuna
import pytest
from conftest import cli, run, write_space

from se_design import build_model, load_config
from se_design.cost import cost
from se_design.errors import UserError
from se_design.search import report
from se_design.search.records import StudyRecord, TrialRecord
from se_design.search.space import load_space
from se_design.search.study import load

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["digits_resnet20", "cifar_resnet20", "cifar_resnet56",
                                  "se_resnet50"])
def test_shipped_spaces_load(name):
    problem = load_space(REPO / "search_spaces" / f"{name}.yaml")
    assert problem.stages and problem.plain_params == cost(problem.target).params


@pytest.mark.parametrize("changes,words", [
    ({"proxy__colour": 1}, ["unknown field", "proxy.colour"]),
    ({"variables": {"r": ["none", 16], "variant": ["sideways"]}}, ["variables.variant[0]"]),
    ({"variables": {"r": ["none", 8]}}, ["r must include 16"]),
    ({"variables": {"r": ["none", 16, 64]}}, ["r=64", "larger than"]),
    ({"objectives": ["params", "accuracy"]}, ["objectives must be accuracy"]),
    ({"budgets__params_increase": -1}, ["budgets.params_increase"]),
    ({"proxy__train": {"epochs": 2, "momentun": 0.9}}, ["unknown training setting", "momentun"]),
    ({"variables": {"stages": ["stage9"], "r": ["none", 16]}}, ["no stage 'stage9'"]),
    ({"target": {"arch": "se_cifar_resnet20"}}, ["plain network"]),
])
def test_bad_space_names_the_key(tmp_path, changes, words):
    with pytest.raises(UserError) as err:
        load_space(write_space(tmp_path, **changes))
    assert all(w in str(err.value) for w in words), str(err.value)
    assert "\n" not in str(err.value)


def test_cost_only_search_enumerates_with_references_first(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    res, text = cli("search", "--space", write_space(tmp_path), "--cost-only", "--store", "--n-trials", 12,
                    "--storage", db, "--sampler", "brute")
    assert res.exit_code == 0, text
    study = load("tiny-cost", db)
    trials = study.get_trials()
    assert len(trials) == 12
    assert [TrialRecord.of(t).reference for t in trials[:2]] == ["no SE", "SE r=16 everywhere"]
    for t in trials:  # every trial keeps its target spec, which re-costs to its values
        spec = load_config_from(TrialRecord.of(t).target_spec, tmp_path)
        assert cost(spec).params == t.values[1] == TrialRecord.of(t).params


def test_space_size_is_counted_by_hand_and_caps_brute_force(tmp_path):
    # TINY: 3 stages, each none or r in {4, 8, 16} x variant in {standard, post}: 1 + 3*2 = 7
    assert load_space(write_space(tmp_path)).size() == 7 ** 3
    # per-block switches: stage1..3 of ResNet-20 have 3 blocks each -> 1 + 3*2*2**3 = 49
    assert load_space(write_space(tmp_path, variables={"r": ["none", 4, 8, 16], "variant": [
        "standard", "post"], "per_block": True})).size() == 49 ** 3
    # one stage, none or r=16: two designs, both references; brute force stops there
    space = write_space(tmp_path, variables={"stages": ["stage3"], "r": ["none", 16]})
    db = f"sqlite:///{tmp_path}/s.db"
    res, text = cli("search", "--space", space, "--cost-only", "--store", "--n-trials", 10, "--storage", db,
                    "--sampler", "brute")
    assert res.exit_code == 0, text
    assert len(load("tiny-cost", db).get_trials()) == 2


def load_config_from(data, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    return load_config(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trained")
    db = f"sqlite:///{tmp}/s.db"
    res = run("search", "--space", write_space(tmp), "--n-trials", 6, "--storage", db)
    assert res.exit_code == 0, res.output
    return tmp, db, res.stdout


def test_each_trial_line_gives_its_accuracy_with_its_seed_count(trained):
    _, db, stdout = trained
    lines = stdout.splitlines()
    head = next(line for line in lines if line.split()[:2] == ["trial", "state"])
    assert head.split()[2:5] == ["accuracy", "n", "params"]
    seeds = {t.number: len(TrialRecord.of(t).seed_history) for t in load("tiny", db).trials}
    logged = {int(w[0]): int(w[3]) for w in (line.split() for line in lines)
              if len(w) > 3 and w[0].isdigit() and w[1] in ("done", "stopped")}
    assert logged and logged == {n: seeds[n] for n in logged}


def test_trained_search_front_and_report(trained):
    tmp, db, _ = trained
    study = load("tiny", db)
    rows = report.rows(study)
    refs = {r.reference: r for r in rows if r.reference}
    assert set(refs) == {"no SE", "SE r=16 everywhere"}
    front = [r for r in rows if r.front]
    for ref in refs.values():  # each reference is on the front or dominated by it
        assert ref.front or any(f.values[0] >= ref.values[0] and f.values[1] <= ref.values[1]
                                for f in front)
    assert all(0 <= r.values[0] <= 1 for r in rows)
    res, text = cli("report", "--study", "tiny", "--storage", db, "--out-dir", tmp / "out")
    assert res.exit_code == 0, text
    assert "Pareto front" in text and "epochs" in text and "knee" in text
    assert study.metric_names == ["accuracy", "params"]  # what optuna-dashboard shows
    for suffix in ("csv", "json", "png"):
        assert (tmp / "out" / f"tiny.{suffix}").stat().st_size > 0
    saved, planned = report.epochs_saved(study)
    assert planned == 6 * 3 and 0 <= saved < planned  # 6 trials of 3 epochs


def test_export_round_trip(trained):
    tmp, db, _ = trained
    study = load("tiny", db)
    for pick in ("knee", "best-under-budget"):
        out = tmp / f"{pick}.yaml"
        res, text = cli("export", "--study", "tiny", "--storage", db, "--pick", pick, "--out", out)
        assert res.exit_code == 0, text
        number = int(text.split()[0].removesuffix(":").rpartition("trial")[2])
        recorded = TrialRecord.of(study.trials[number])
        assert f"'tiny', trial {number}" in out.read_text()  # its origin
        res, text = cli("cost", "--config", out, "--json")
        data = json.loads(res.stdout)
        assert data["arch"] == f"tiny-trial{number}"
        assert (data["total"]["params"], data["total"]["flops"]) == \
            (recorded.params, recorded.flops)
        model = build_model(load_config(out))
        assert sum(p.numel() for p in model.parameters()) == recorded.params
    res, text = cli("export", "--study", "tiny", "--storage", db, "--trial", 0, "--out",
                    tmp / "t0.json")
    assert res.exit_code == 0 and load_config(tmp / "t0.json").stages == load_space(
        tmp / "space.yaml").target.stages  # trial 0 is the no-SE reference


def test_interrupted_search_resumes_and_keeps_trials(tmp_path, monkeypatch):
    from se_design.search import study as study_mod

    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path)
    real = study_mod.Objective.__call__
    calls = {"n": 0}

    def interrupt_third(self, trial):
        calls["n"] += 1
        if calls["n"] == 3:  # mid-trial: after the design was drawn
            self.problem.suggest(trial)
            raise KeyboardInterrupt
        return real(self, trial)

    monkeypatch.setattr(study_mod.Objective, "__call__", interrupt_third)
    res, text = cli("search", "--space", space, "--cost-only", "--store", "--n-trials", 5, "--storage", db)
    assert res.exit_code == 130 and "--resume" in text
    monkeypatch.setattr(study_mod.Objective, "__call__", real)
    assert len(load("tiny-cost", db).get_trials(states=[optuna.trial.TrialState.COMPLETE])) == 2
    res, text = cli("search", "--space", space, "--cost-only", "--store", "--n-trials", 5, "--storage", db)
    assert res.exit_code == 2 and "already exists" in text
    res, text = cli("search", "--space", space, "--cost-only", "--store", "--n-trials", 5, "--storage", db,
                    "--resume")
    assert res.exit_code == 0, text
    trials = load("tiny-cost", db).get_trials()
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 5 and len({t.number for t in done}) == 5  # --n-trials is the total
    interrupted, retry = trials[2], trials[3]  # the interrupted design ran again on resume
    assert interrupted.state == optuna.trial.TrialState.FAIL
    assert retry.system_attrs["failed_trial"] == 2 and retry.params == interrupted.params


def test_diverging_trial_fails_with_reason_and_search_goes_on(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, proxy__train={"epochs": 2, "lr": 1e12, "batch_size": 64})
    res, text = cli("search", "--space", space, "--n-trials", 2, "--storage", db)
    assert res.exit_code == 0, text
    trials = load("tiny", db).get_trials()
    assert len(trials) == 2
    assert all(t.state == optuna.trial.TrialState.FAIL for t in trials)
    assert all("training loss became" in TrialRecord.of(t).failed_because for t in trials)
    assert "Traceback" not in res.output


@pytest.mark.parametrize("args,words", [
    (["report", "--study", "nope"], ["no storage file", "s.db"]),
    (["export", "--study", "nope", "--pick", "knee", "--out", "x.yaml"], ["no storage file"]),
    (["search", "--space", "missing.yaml"], ["does not exist"]),
    (["search", "--space", "{space}", "--data", "{tmp}/nodata", "--n-trials", "2"],
     ["{tmp}/nodata"]),
    (["search", "--space", "{space}", "--data", "digits", "--storage",
      "sqlite:////nonexistent/dir/x.db"],
     ["cannot open storage"]),
])
def test_bad_search_input_is_one_sentence_exit_2(tmp_path, args, words):
    space = write_space(tmp_path, proxy__data={"source": "cifar10"})
    db = f"sqlite:///{tmp_path}/s.db"
    extra = [] if any(a.startswith("--storage") for a in args) else ["--storage", db]
    res, text = cli(*[a.format(space=space, tmp=tmp_path) for a in args], *extra)
    assert res.exit_code == 2, text
    assert isinstance(res.exception, SystemExit)
    assert all(w.format(tmp=tmp_path) in text for w in words), text


def test_budget_no_candidate_meets(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    res, text = cli("search", "--space", write_space(tmp_path, budgets={"max_params": 1000}),
                    "--storage", db)
    assert res.exit_code == 2 and "no candidate can meet budgets.max_params" in text
    # a budget only SE-free designs meet: picks fall back to what is feasible, or say none is
    space = write_space(tmp_path, budgets={"params_increase": 0.0},
                        proxy__train={"epochs": 1, "batch_size": 64})
    assert cli("search", "--space", space, "--n-trials", 2, "--storage", db)[0].exit_code == 0
    res, text = cli("export", "--study", "tiny", "--storage", db, "--pick", "best-under-budget",
                    "--out", tmp_path / "a.yaml")
    assert res.exit_code == 0 and load_config(tmp_path / "a.yaml").stages == \
        load_space(space).target.stages
    res, text = cli("export", "--study", "tiny", "--storage", db, "--pick", "knee", "--out",
                    tmp_path / "a.txt")
    assert res.exit_code == 2 and "must end in" in text


def test_per_block_switches_reach_the_spec(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, variables={"r": ["none", 4, 16], "per_block": True})
    res, text = cli("search", "--space", space, "--cost-only", "--store", "--n-trials", 12, "--storage", db,
                    "--sampler", "tpe")
    assert res.exit_code == 0, text
    trials = load("tiny-cost", db).get_trials()
    assert [TrialRecord.of(t).reference for t in trials[:2]] == ["no SE", "SE r=16 everywhere"]
    checked = 0
    for t in trials:
        for stage in load_space(space).stages:
            if t.params[f"r_{stage}"] == "none":
                continue
            blocks = next(s for s in TrialRecord.of(t).target_spec["stages"] if s["name"] == stage)
            for i, block in enumerate(blocks["blocks"]):
                assert ("se" in block) == t.params[f"on_{stage}_{i}"]
                checked += 1
    assert checked > 0


def test_latency_objective_is_measured_per_trial(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, objectives=["accuracy", "params", "latency"])
    res, text = cli("search", "--space", space, "--cost-only", "--store", "--n-trials", 3, "--storage", db)
    assert res.exit_code == 0, text
    study = load("tiny-cost", db)
    assert StudyRecord.of(study).objectives == ["se_blocks", "params", "latency"]
    for t in study.get_trials():
        rec = TrialRecord.of(t)
        assert t.values[2] == rec.latency_ms > 0
        low, high = rec.latency_interval  # 10 rounds: the 2nd and 9th of them (binomial)
        assert low <= rec.latency_ms <= high


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_latency_is_measured_where_the_space_says(tmp_path, backend, monkeypatch):
    # the space's latency settings reach the measurement: backend, threads and rounds
    from se_design import latency

    asked = []
    real = latency.measure
    monkeypatch.setattr(latency, "measure", lambda arch, backend, device, **kw: asked.append(
        (backend, kw)) or real(arch, "torch", device, **kw))
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, objectives=["accuracy", "params", "latency"],
                        latency={"backend": backend, "threads": 1, "rounds": 4})
    res, text = cli("search", "--space", space, "--cost-only", "--store", "--n-trials", 2,
                    "--storage", db)
    assert res.exit_code == 0, text
    assert asked == [(backend, {"rounds": 4, "threads": 1})] * 2


def test_resume_with_the_budget_spent_says_so(tmp_path):
    db, space = f"sqlite:///{tmp_path}/s.db", write_space(tmp_path)
    args = ["search", "--space", space, "--cost-only", "--store", "--storage", db]
    assert cli(*args, "--n-trials", 3)[0].exit_code == 0
    res, text = cli(*args, "--n-trials", 2, "--resume")
    assert res.exit_code == 0 and "nothing to do: study 'tiny-cost' has 3 of 2 trials" in text


def test_space_paths_are_relative_to_the_space_file_and_data_is_detected(tmp_path):
    from se_design.search.proxy import data_source

    (tmp_path / "sub").mkdir()
    for cls in ("a", "b"):
        (tmp_path / "sub" / "imgs" / cls).mkdir(parents=True)
    space = write_space(tmp_path / "sub", proxy__data={"source": "folder", "path": "imgs"})
    problem = load_space(space)
    assert data_source(problem, None) == ("folder", str(tmp_path / "sub" / "imgs"))
    assert data_source(problem, "digits") == ("digits", None)
    assert data_source(problem, str(tmp_path / "sub" / "imgs"))[0] == "folder"


def test_data_option_detects_cifar_batches(tmp_path, cifar_dir):
    from se_design.search.proxy import data_source

    problem = load_space(write_space(tmp_path))  # a digits space
    assert data_source(problem, str(cifar_dir)) == ("cifar10", str(cifar_dir.resolve()))


def test_search_data_takes_train_form(tmp_path, cifar_dir):
    """--data KIND:DIR (train's form) and a bare DIR name the same data for the search."""
    from se_design.search.proxy import data_source

    problem = load_space(write_space(tmp_path))
    assert data_source(problem, f"cifar10:{cifar_dir}") == data_source(problem, str(cifar_dir))
    assert data_source(problem, f"cifar10:{cifar_dir}") == ("cifar10", str(cifar_dir.resolve()))
    assert data_source(problem, "digits") == ("digits", None)
