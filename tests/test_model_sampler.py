"""The model sampler: exact vectorised costs, the initial design first, Thompson proposals that
avoid infeasible and pending designs, re-seeds of one seed, --budget-epochs, --n-trials without
a calibration's trials, and two workers on a journal storage. Training is faked throughout."""

import multiprocessing
import time

import numpy as np
import optuna
import pytest
from conftest import cli, write_space
from optuna.trial import TrialState

from se_design.cost import cost
from se_design.search.budget import Budget, epochs_trained
from se_design.search.design_costs import DesignCosts
from se_design.search.initial_design import initial_design
from se_design.search.model_sampler import ModelSampler
from se_design.search.records import NS, TrialRecord, design_key
from se_design.search.space import load_space
from se_design.search.study import Objective, load
from se_design.spec import to_dict

# 3 stages x {none, 4, 8, 16} x {standard, post}: 343 designs, of which the budget (+2% params)
# rules some out; no rungs, so every design trains to its last epoch.
VARIABLES = {"r": ["none", 4, 8, 16], "variant": ["standard", "post"]}


class Additive:
    """Accuracy 0.6 + 0.02 per stage with SE at r >= 8 (-0.01 at r=4), plus seed noise."""

    def __init__(self, epochs=2, pause=0.0):
        self.epochs, self.pause, self.calls = epochs, pause, []

    def __call__(self, design, seed, on_epoch):
        self.calls.append((design.label(), seed))
        noise = np.random.default_rng([seed, len(design.label())]).normal(0, 0.01)
        final = 0.6 + noise + sum(0.02 if se.r >= 8 else -0.01
                                  for se in design.se.values() if se is not None)
        for e in range(1, self.epochs + 1):
            time.sleep(self.pause)
            on_epoch(e, final)
        return [final] * self.epochs


def problem_of(tmp_path, **changes):
    return load_space(write_space(tmp_path, **{"variables": VARIABLES, "max_seeds": 3,
                                               "early_stopping": {"rungs": []}} | changes))


def search(problem, n, trainer=None, study=None):
    """n trials of the model sampler (a study's references queued first)."""
    trainer = trainer or Additive()
    if study is None:
        study = optuna.create_study(directions=["maximize", "minimize"],
                                    sampler=ModelSampler(problem, Budget(n)))
        for p in problem.references():
            study.enqueue_trial(p)
    study.optimize(Objective(problem, False, trainer, trainer.epochs), n_trials=n)
    return study


def key(problem, params):
    return design_key(to_dict(problem.suggest(optuna.trial.FixedTrial(params)).apply(problem.target)))


def full(factors, design):
    """A design's params with the factors it does not use at their baselines."""
    return {f.name: f.baseline for f in factors} | design


@pytest.mark.parametrize("variables", [
    {"r": ["none", 4, 16], "variant": ["standard", "post"], "squeeze": ["avg", "max", "none"],
     "gate": ["sigmoid", "tanh"], "stages": ["stage1", "stage2"], "per_block": True},
    {"r": ["none", 4, 8, 16], "variant": ["standard", "post", "pre"], "preset": "regnet"},
])
def test_vectorised_costs_equal_cost(tmp_path, variables):
    problem = load_space(write_space(tmp_path, variables=variables))
    factors = problem.factors()
    codes = factors.enumerate()
    params, flops = DesignCosts(problem, factors).of(codes)
    for i in np.random.default_rng(0).choice(len(codes), 60, replace=False):
        design = problem.suggest(optuna.trial.FixedTrial(full(factors, factors.decode(codes[i:i + 1])[0])))
        c = cost(design.apply(problem.target), problem.space.convention)
        assert (c.params, c.flops) == (params[i], flops[i])


def test_the_initial_design_runs_first_within_budget(tmp_path):
    problem = problem_of(tmp_path)
    study = search(problem, 18)
    sampler, refs = study.sampler, problem.references()
    # 13 terms (intercept, 3 stages x 4 levels): 16 designs, but at most 3/4 of 18 trials and
    # at least 14
    expected = initial_design(sampler.factors, refs, 14, allowed=sampler._feasible)[2:]
    ran = [t.params for t in study.trials[2:14]]
    assert [key(problem, p) for p in ran] == [key(problem, full(sampler.factors, d))
                                              for d in expected]
    assert all(not t.constraints or max(t.constraints.values()) <= 0 for t in study.trials[2:])
    assert all(TrialRecord.of(t).proposal == t.params | TrialRecord.of(t).proposal
               for t in study.trials[2:])  # the stored proposal is what ran


def test_thompson_proposals_avoid_infeasible_and_pending_designs(tmp_path):
    problem = problem_of(tmp_path)
    study = search(problem, 18)
    sampler = study.sampler = ModelSampler(problem, Budget(100))  # far from re-seeding
    running = [study.ask() for _ in range(12)]  # proposed and started, never finished
    designs = [problem.suggest(t) for t in running]
    keys = [key(problem, t.params) for t in running]
    assert len(set(keys)) == len(keys)  # each pending design is proposed once
    done = {key(problem, t.params) for t in study.trials if t.state == TrialState.COMPLETE}
    assert not done & set(keys)  # and never a measured one
    for d in designs:
        c = cost(d.apply(problem.target), problem.space.convention)
        assert all(v <= 0 for v in problem.violations(c.params, c.flops).values())
    # a fresh sampler (a resumed run, another worker) proposes from the storage alone
    number = len(study.trials)
    again = ModelSampler(problem, Budget(100)).propose(study, number)
    assert again == sampler.propose(study, number)


def test_a_reseed_adds_exactly_one_seed(tmp_path):
    problem = problem_of(tmp_path, max_seeds=1)
    trainer = Additive()
    study = search(problem, 24, trainer)
    # 24 trials: the references and the initial design take 16 (13 terms + 3, within 3/4 of
    # 24); then one replicate so that the model can fit (no design has two seeds yet) and
    # Thompson sampling, 6 of the 8 left; their last quarter, 2, re-seeds designs already
    # measured, one seed each
    assert TrialRecord.of(study.trials[16]).reused_from is not None
    middle = [TrialRecord.of(t) for t in study.trials[17:22]]
    assert not any(r.extra_seeds or r.reused_from is not None for r in middle)
    last = [TrialRecord.of(t) for t in study.trials[22:]]
    assert len(last) == 2 and all(r.extra_seeds == 1 and r.reused_from is not None for r in last)
    for t in study.trials[22:]:
        before = TrialRecord.of(study.trials[TrialRecord.of(t).reused_from]).seed_acc
        assert sorted(TrialRecord.of(t).seed_acc) == sorted(before) + [max(before) + 1]
    # asked for through the trial's record, whatever sampler ran it
    n, first = len(trainer.calls), study.trials[5]
    seeds = max(len(TrialRecord.of(t).seed_acc) for t in study.trials
                if key(problem, t.params) == key(problem, first.params))
    study.enqueue_trial(first.params, user_attrs={NS + "extra_seeds": 1})
    search(problem, 1, trainer, study)
    assert trainer.calls[n:] == [(TrialRecord.of(first).design, seeds)]


def test_the_initial_design_follows_the_study_seed_and_workers_share_it(tmp_path):
    """A search with another sampler seed starts from other designs; every worker of one
    study (seeded sampler_seed + its index) and a resumed run, whatever its --seed, start
    from the same."""
    from se_design.search.storage import open_storage
    from se_design.search.study import join, prepare

    problem, store = problem_of(tmp_path), open_storage(f"sqlite:///{tmp_path}/s.db")

    def initial(name, seed, workers=1):
        prepare(problem, name, store, resume=True)
        samplers = [join(name, store, "model", seed, problem)[0].sampler for _ in range(workers)]
        return [sorted(s._initial_design()) for s in samplers], [s.seed for s in samplers]

    (first, second), draws = initial("a", 0, workers=2)
    (resumed,), later = initial("a", 0)
    (reseeded,), _ = initial("a", 7)  # resumed with another --seed
    assert draws + later == [0, 1, 2]  # each draws its own proposals
    assert first == second == resumed == reseeded
    (other,), _ = initial("b", 7)
    assert other != first and len(other) == len(first)


def test_the_model_sampler_neither_races_nor_stops_designs_early(tmp_path):
    """Under the model sampler a new design trains on the space's `seeds` (the references on
    max_seeds) to its last epoch; the same designs under a sampler that does not see whole
    designs get more seeds where in doubt, and the rungs stop some."""
    rungs = {"rungs": [1], "min_peers": 1, "dominators": 1, "z": 1.645, "min_fidelity": 0.7}
    problem = problem_of(tmp_path, early_stopping=rungs)  # seeds 1, max_seeds 3
    modelled = search(problem, 14)  # within the initial design: no re-seeds yet
    assert [len(TrialRecord.of(t).seed_acc) for t in modelled.trials] == [3, 3] + [1] * 12
    assert all(t.state == TrialState.COMPLETE for t in modelled.trials)
    adaptive = optuna.create_study(directions=["maximize", "minimize"],
                                   sampler=optuna.samplers.RandomSampler(0))
    for t in modelled.trials:
        adaptive.enqueue_trial(t.params)
    search(problem, 14, study=adaptive)
    assert max(len(TrialRecord.of(t).seed_acc) for t in adaptive.trials[2:]) > 1
    assert any(t.state == TrialState.PRUNED for t in adaptive.trials)


def fake_training(monkeypatch, epochs=2):
    from se_design.search import evaluate as ev

    trainer = Additive(epochs)
    monkeypatch.setattr(ev.TorchTrainer, "__call__", lambda self, *a: trainer(*a))
    return trainer


def test_budget_epochs_stops_and_calibration_trials_do_not_count(tmp_path, monkeypatch):
    trainer = fake_training(monkeypatch)
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, variables=VARIABLES, early_stopping={"rungs": []},
                        proxy__train={"epochs": 2, "batch_size": 32, "lr": 0.05},
                        proxy__data={"source": "digits", "val_fraction": 0.1, "max_train": 64})
    res, text = cli("search", "--space", space, "--budget-epochs", 15, "--storage", db,
                    "--study", "epochs")
    assert res.exit_code == 0, text
    trials = load("epochs", db).trials
    assert 15 <= epochs_trained(trials) < 15 + 2 and epochs_trained(trials[:-1]) < 15
    assert "epochs trained: 16 on new designs, 0 re-seeding" in text
    res, text = cli("calibrate", "--space", space, "--seeds", 2, "--designs", 2, "--storage", db)
    assert res.exit_code == 0, text
    res, text = cli("search", "--space", space, "--n-trials", 8, "--seeds", 2, "--storage", db)
    assert res.exit_code == 0, text
    trials = load("tiny", db).trials
    assert sum(not TrialRecord.of(t).calibration for t in trials) == 8  # + 4 calibration ones
    assert sum(TrialRecord.of(t).calibration for t in trials) == 4
    assert trainer.calls


def test_the_report_says_no_early_stopping_ran_under_the_model_sampler(tmp_path, monkeypatch):
    fake_training(monkeypatch)
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, variables=VARIABLES, early_stopping={"rungs": [1]},
                        max_seeds=2,  # the references' second seeds measure the noise
                        proxy__train={"epochs": 2, "batch_size": 32, "lr": 0.05},
                        proxy__data={"source": "digits", "val_fraction": 0.1, "max_train": 64})
    said = {}
    for sampler in ("model", "nsga2"):
        res, text = cli("search", "--space", space, "--n-trials", 6, "--storage", db,
                        "--study", sampler, "--sampler", sampler)
        assert res.exit_code == 0, text
        res, said[sampler] = cli("report", "--study", sampler, "--storage", db,
                                 "--out-dir", tmp_path)
        assert res.exit_code == 0, said[sampler]
    assert "early stopping not used: the model sampler trains every design" in said["model"]
    assert "truly as good" not in said["model"]
    assert "early stopping not used" not in said["nsga2"] and "truly as good" in said["nsga2"]


def _worker(space, url, n):
    from se_design.search.storage import open_storage
    from se_design.search.study import join, prepare
    from se_design.search.worker import work

    problem, store = load_space(space), open_storage(url)
    prepare(problem, "two", store, resume=True)
    study, _ = join("two", store, "model", 0, problem, Budget(n))
    trainer = Additive(pause=0.05)
    work(study, store, Objective(problem, False, trainer, trainer.epochs), Budget(n), None,
         log=lambda text: None)


def test_two_workers_never_run_the_same_proposal_at_once(tmp_path):
    space = write_space(tmp_path, variables=VARIABLES, max_seeds=2, early_stopping={"rungs": []})
    url, n = f"journal:{tmp_path}/study.journal", 24
    fork = multiprocessing.get_context("fork")
    procs = [fork.Process(target=_worker, args=(space, url, n)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    from se_design.search.storage import open_storage

    study = optuna.load_study(study_name="two", storage=open_storage(url).storage)
    trials = study.get_trials()
    assert len(trials) == n and all(t.state == TrialState.COMPLETE for t in trials)
    assert len({TrialRecord.of(t).worker for t in trials}) == 2
    problem = load_space(space)
    proposed = [t for t in trials if TrialRecord.of(t).proposal is not None]
    overlaps = 0
    for a in proposed:
        for b in proposed:
            if a.number < b.number and b.datetime_start < a.datetime_complete:
                overlaps += 1
                assert key(problem, a.params) != key(problem, b.params), (a.number, b.number)
    assert overlaps >= 5  # they did run side by side
    new = [key(problem, t.params) for t in proposed if not TrialRecord.of(t).extra_seeds]
    assert len(new) == len(set(new))  # no design proposed twice as new


@pytest.mark.parametrize("args,words", [
    (["--cost-only", "--store", "--sampler", "model"], "--sampler model models the measured"),
    (["--cost-only", "--store", "--budget-epochs", "10"], "--budget-epochs counts training epochs"),
    (["--budget-epochs", "0"], "--budget-epochs"),
])
def test_bad_budget_or_sampler_is_one_sentence(tmp_path, args, words):
    res, text = cli("search", "--space", write_space(tmp_path), *args,
                    "--storage", f"sqlite:///{tmp_path}/s.db")
    assert res.exit_code == 2 and words in text, text
