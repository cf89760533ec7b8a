"""Distributed search with real processes, on a real PostgreSQL server and on Optuna's journal
file: concurrent workers finish exactly the trials asked for, a SIGKILLed worker's trial is
failed within the grace period and retried once by another worker, Ctrl-C then --resume keeps
every finished trial, and bad database URLs are one sentence with exit code 2.

`.ci/run` starts the server with `.ci/postgres start` and exports SE_DESIGN_PG_URL (and
SE_DESIGN_PG_REQUIRED, which turns a missing server into a failure instead of a skip)."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import pytest
from conftest import run, write_space
from optuna.trial import TrialState

from se_design.cost import cost
from se_design.search import GRACE
from se_design.search.budget import Budget
from se_design.search.records import TrialRecord
from se_design.search.storage import open_storage
from se_design.search.worker import DONE, RUN, WAIT, plan, worker_env
from se_design.spec import validate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def pg_url():
    url = os.environ.get("SE_DESIGN_PG_URL")
    if not url:
        if os.environ.get("SE_DESIGN_PG_REQUIRED"):
            pytest.fail("SE_DESIGN_PG_REQUIRED is set but SE_DESIGN_PG_URL is not")
        pytest.skip("no PostgreSQL server: `.ci/postgres start` prints a URL for SE_DESIGN_PG_URL")
    return url


@pytest.fixture(params=["postgresql", "journal"])
def shared_url(request, tmp_path):
    if request.param == "journal":
        return f"journal:{tmp_path}/study.journal"
    return request.getfixturevalue("pg_url")


def start(*args, cwd) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}  # several trainers share two cores
    return subprocess.Popen([sys.executable, "-m", "se_design", "search", *map(str, args)],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen, code: int = 0, seconds: float = 600) -> str:
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"still running after {seconds} s: {proc.communicate()}") from None
    assert proc.returncode == code, out + err
    assert "Traceback" not in out + err
    return " ".join((out + err).split())


def trials_of(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=open_storage(url).storage).get_trials()


def wait_for(condition, seconds: float = 300):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def retries(trials) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if "failed_trial" in t.system_attrs]


@pytest.mark.parametrize("how", ["--workers 4", "4 commands"])
def test_four_workers_finish_exactly_the_trials_asked_for(shared_url, tmp_path, how):
    study, n = f"w-{uuid.uuid4().hex[:8]}", 40
    args = ["--space", write_space(tmp_path), "--cost-only", "--store", "--n-trials", n,
            "--storage", shared_url, "--study", study]
    if how == "--workers 4":
        procs = [start(*args, "--workers", 4, cwd=tmp_path)]
    else:  # as on four machines: the same command, started at once
        procs = [start(*args, "--resume", cwd=tmp_path) for _ in range(4)]
    for proc in procs:
        finish(proc)
    trials = trials_of(shared_url, study)
    assert [t.number for t in trials] == list(range(n))  # no duplicates, no gaps, no extras
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:  # every trial's spec is stored and re-costs to its recorded params
        assert cost(validate(TrialRecord.of(t).target_spec)).params == TrialRecord.of(t).params
    assert len({TrialRecord.of(t).worker for t in trials}) >= 2  # they really ran side by side


def test_killed_worker_trial_is_failed_in_grace_and_retried_once(shared_url, tmp_path):
    n, beat = 4, 1
    study, procs = two_training_workers(shared_url, tmp_path, n, beat, epochs=6)
    number, victim = wait_for(lambda: running_trial(shared_url, study, procs))
    del procs[victim.pid]
    time.sleep(0.5)  # past its first heartbeat
    victim.kill()
    killed_at = time.time()
    victim.wait()
    (survivor,) = procs.values()
    finish(survivor)

    trials = trials_of(shared_url, study)
    killed = trials[number]
    assert killed.state == TrialState.FAIL
    # Failed once `GRACE` heartbeats were missed, noticed within one more heartbeat (+ slack).
    assert (GRACE - 1) * beat <= killed.datetime_complete.timestamp() - killed_at <= \
        (GRACE + 1) * beat + 2
    (retry,) = retries(trials)  # retried exactly once, by the other worker, to the end
    assert retry.system_attrs["failed_trial"] == number and retry.params == killed.params
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert TrialRecord.of(retry).worker.endswith(f":{survivor.pid}")
    assert [t.number for t in trials] == list(range(n + 1))  # the retry took no one's slot
    assert all(t.state.is_finished() for t in trials)


def test_frozen_worker_past_grace_cannot_finish_its_failed_trial(shared_url, tmp_path):
    """A worker stopped (SIGSTOP) past the grace period loses its trial to a retry; when it
    wakes up, its late result is not recorded: no trial is finished twice."""
    n, beat = 3, 1
    study, procs = two_training_workers(shared_url, tmp_path, n, beat, epochs=4)
    number, frozen_proc = wait_for(lambda: running_trial(shared_url, study, procs))
    time.sleep(0.5)

    def failed_while_frozen():
        frozen_proc.send_signal(signal.SIGSTOP)
        try:  # the frozen worker may hold the study lock for a moment: then thaw, try again
            return wait_for(lambda: trials_of(shared_url, study)[number].state == TrialState.FAIL,
                            (GRACE + 3) * beat)
        except AssertionError:
            return None
        finally:
            frozen_proc.send_signal(signal.SIGCONT)

    wait_for(failed_while_frozen, 120)
    text = " ".join(finish(p) for p in procs.values())
    assert f"trial {number} was silent past its grace period" in text
    trials = trials_of(shared_url, study)
    assert trials[number].state == TrialState.FAIL  # the late result was refused
    (retry,) = retries(trials)
    assert retry.system_attrs["failed_trial"] == number and retry.state.is_finished()
    assert len(trials) == n + 1 and all(t.state.is_finished() for t in trials)


def own_server(folder: str, command: str) -> str:
    """A second throwaway PostgreSQL server, this test's alone to stop."""
    env = os.environ | {"SE_DESIGN_PG_DIR": folder, "SE_DESIGN_PG_PORT": "54330"}
    return subprocess.run([REPO / ".ci/postgres", command], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("kind", ["postgresql", "journal"])
def test_storage_lost_mid_search_is_one_sentence_exit_2(kind, tmp_path, request):
    if kind == "postgresql":
        request.getfixturevalue("pg_url")  # where PostgreSQL is there to start
        folder = tempfile.mkdtemp(prefix="se-design-pg-")  # the server's user must reach it
        url = own_server(folder, "start")
        request.addfinalizer(lambda: own_server(folder, "stop"))
        go_away = lambda: own_server(folder, "stop")  # the server stops
    else:
        (tmp_path / "shared").mkdir()
        url = f"journal:{tmp_path}/shared/study.journal"
        # the shared disk goes away, at once (rmtree races the search's new lock files)
        go_away = lambda: (tmp_path / "shared").rename(tmp_path / "gone")
    space = write_space(tmp_path, proxy__train={"epochs": 6, "batch_size": 64, "lr": 0.05},
                        early_stopping={"rungs": []})
    proc = start("--space", space, "--n-trials", 4, "--storage", url, "--study", "s", cwd=tmp_path)
    wait_for(lambda: running_trial(url, "s", {proc.pid: proc}))
    go_away()
    text = finish(proc, 2)
    assert "lost the storage" in text and "--resume" in text


def two_training_workers(url: str, tmp_path, n: int, beat: int, epochs: int):
    """A fresh study of n training trials and two worker processes on it, by pid."""
    study = f"t-{uuid.uuid4().hex[:8]}"
    space = write_space(tmp_path, proxy__train={"epochs": epochs, "batch_size": 64, "lr": 0.05},
                        early_stopping={"rungs": []})
    args = ["--space", space, "--n-trials", n, "--storage", url, "--study", study,
            "--heartbeat", beat, "--resume"]
    return study, {p.pid: p for p in (start(*args, cwd=tmp_path) for _ in range(2))}


def running_trial(url: str, study: str, procs: dict):
    """(number, process) of a trial one of `procs` runs that has drawn its design."""
    for t in trials_of(url, study) if study_exists(url, study) else []:
        pid = int((TrialRecord.of(t).worker or ":0").rsplit(":", 1)[1])
        if t.state == TrialState.RUNNING and TrialRecord.of(t).design and pid in procs:
            return t.number, procs[pid]
    return None


def study_exists(url: str, study: str) -> bool:
    return study in optuna.get_all_study_names(open_storage(url).storage)


@pytest.mark.parametrize("where,stop", [("sqlite", signal.SIGINT),
                                        ("sqlite", signal.SIGTERM),  # e.g. `timeout`
                                        ("postgresql --workers 2", signal.SIGINT),
                                        ("postgresql --workers 2", signal.SIGTERM)],
                         ids=["sqlite-ctrl-c", "sqlite-sigterm", "workers-ctrl-c",
                              "workers-sigterm"])
def test_ctrl_c_keeps_finished_trials_and_resume_completes(where, stop, tmp_path, request):
    url = f"sqlite:///{tmp_path}/s.db"
    extra = []
    if where.startswith("postgresql"):
        url, extra = request.getfixturevalue("pg_url"), ["--workers", 2]
    study, n = f"c-{uuid.uuid4().hex[:8]}", 6
    space = write_space(tmp_path, proxy__train={"epochs": 4, "batch_size": 64, "lr": 0.05},
                        early_stopping={"rungs": []})
    args = ["--space", space, "--n-trials", n, "--storage", url, "--study", study]
    proc = start(*args, *extra, cwd=tmp_path)

    def two_done_one_running():
        trials = trials_of(url, study) if study_exists(url, study) else []
        done = {t.number: t.values for t in trials if t.state == TrialState.COMPLETE}
        running = any(t.state == TrialState.RUNNING and TrialRecord.of(t).design for t in trials)
        return done if len(done) >= 2 and running else None

    wait_for(two_done_one_running)
    proc.send_signal(stop)
    text = finish(proc, 130, 120)  # at most one 4-epoch trial left to finish
    assert "interrupted" in text and "--resume" in text
    before = {t.number: t.values for t in trials_of(url, study) if t.state == TrialState.COMPLETE}
    assert len(before) >= 2
    # The running trial was failed and queued again, or, where the signal landed in a
    # garbage-collection callback (Python ignores it there), finished before the worker left.
    interrupted = [t for t in trials_of(url, study) if t.state == TrialState.FAIL]
    assert not [t for t in trials_of(url, study) if t.state == TrialState.RUNNING]

    finish(start(*args, *extra, "--resume", cwd=tmp_path))
    trials = trials_of(url, study)
    after = {t.number: t.values for t in trials if t.state == TrialState.COMPLETE}
    assert before.items() <= after.items()  # every finished trial kept, unchanged
    assert sorted(r.system_attrs["failed_trial"] for r in retries(trials)) == \
        sorted(t.number for t in interrupted)  # each interrupted design ran again
    assert len(trials) - len(retries(trials)) == n and all(t.state.is_finished() for t in trials)




@pytest.mark.parametrize("url,words", [
    ("postgresql://se_design:se_design@127.0.0.1:1/se_design", ["cannot open storage", "127.0.0.1"]),
    ("mysql://u:secret@localhost/db", ["unsupported storage", "postgresql://"]),
    ("journal:/nonexistent/dir/s.journal", ["'/nonexistent/dir/s.journal'", "its folder",
                                            "does not exist"]),
    ("sqlite:////nonexistent/dir/s.db", ["'/nonexistent/dir/s.db'", "does not exist"]),
    ("sqlite:///", ["needs a file name"]),
])
def test_bad_storage_is_one_sentence_exit_2(tmp_path, url, words):
    res = run("search", "--space", str(write_space(tmp_path)), "--cost-only", "--store",
              "--storage", url)
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), text
    assert all(w in text for w in words) and "secret" not in text, text
    assert ".lock" not in text  # the user's file is named, not our sidecar


def test_wrong_password_is_one_sentence_exit_2(pg_url, tmp_path):
    wrong = pg_url.replace(":se_design@", ":not-the-password@")
    assert wrong != pg_url
    res = run("search", "--space", str(write_space(tmp_path)), "--cost-only", "--store",
              "--storage", wrong)
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), text
    assert "password authentication failed" in text and "not-the-password" not in text


def test_workers_need_a_shared_storage(tmp_path):
    res = run("search", "--space", str(write_space(tmp_path)), "--cost-only", "--store",
              "--storage", f"sqlite:///{tmp_path}/s.db", "--workers", "2")
    assert res.exit_code == 2 and "--workers needs a storage" in res.output


def frozen(state, retry_of=None):
    values = [1.0, 1.0] if state == TrialState.COMPLETE else None
    system = {} if retry_of is None else {"failed_trial": retry_of}
    return optuna.trial.create_trial(state=state, values=values, system_attrs=system)


@pytest.mark.parametrize("states,n,step", [
    ([], 2, RUN),
    ([TrialState.COMPLETE, TrialState.RUNNING], 3, RUN),  # one slot left
    ([TrialState.COMPLETE, TrialState.RUNNING], 2, WAIT),  # spent, but the runner may die
    ([TrialState.COMPLETE, TrialState.FAIL], 2, DONE),  # a failure that was not retried counts
    ([TrialState.COMPLETE, TrialState.WAITING], 1, RUN),  # queued trials always run
])
def test_plan(states, n, step):
    assert plan([frozen(s) for s in states], Budget(n)) == step


def test_plan_retry_reuses_the_slot_of_the_trial_it_retries():
    trials = [frozen(TrialState.COMPLETE), frozen(TrialState.FAIL),
              frozen(TrialState.COMPLETE, retry_of=1)]
    assert plan(trials, Budget(2)) == DONE and plan(trials, Budget(3)) == RUN


def test_workers_get_one_gpu_each_or_a_share_of_the_cores():
    envs = [worker_env(i, 4, ["3", "5"], {}) for i in range(4)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["3", "5", "3", "5"]
    cores = os.cpu_count()
    assert worker_env(0, 2, [], {})["OMP_NUM_THREADS"] == str(max(1, cores // 2))
    assert worker_env(0, 2, [], {"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"  # yours wins
    assert "CUDA_VISIBLE_DEVICES" not in worker_env(0, 2, ["0"], {})  # one GPU: shared by all


def test_ctrl_c_inside_optunas_ask_fails_and_requeues_the_trial_it_created():
    """A Ctrl-C that lands after Optuna created the trial but before the objective runs (in
    the sampler, here) leaves no trial running: it is failed and queued again, as one
    interrupted in the objective is."""
    from types import SimpleNamespace

    from se_design.search.worker import run_one

    class Interrupting(optuna.samplers.RandomSampler):
        def before_trial(self, study, trial):  # in ask, after the trial is stored
            raise KeyboardInterrupt

    study = optuna.create_study(sampler=Interrupting())
    with pytest.raises(KeyboardInterrupt):
        run_one(study, lambda t: t.suggest_float("x", 0, 1), SimpleNamespace(release=None), (),
                [], print)
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert retries(study.get_trials())[0].system_attrs["failed_trial"] == 0


def test_ctrl_c_just_after_the_lock_is_granted_releases_it(shared_url):
    """`with` calls no __exit__ when __enter__ raises, and the traceback keeps the lock
    alive: unreleased, the worker's reaper thread would wait for it forever while the worker
    stops (a search hung after SIGTERM in CI)."""
    import fcntl

    import sqlalchemy

    store = open_storage(shared_url)
    lock = store.lock(f"lock-{uuid.uuid4().hex[:8]}")
    grant = lock.acquire

    def granted_then_interrupted():
        grant()
        raise KeyboardInterrupt

    lock.acquire = granted_then_interrupted
    with pytest.raises(KeyboardInterrupt) as caught, lock:
        pass
    assert caught.value.__traceback__ is not None  # the frames (and the lock) are still alive
    if shared_url.startswith("journal:"):
        fd = os.open(lock.path + ".se-design.lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held
        finally:
            os.close(fd)
    else:
        with sqlalchemy.create_engine(shared_url).connect() as other:
            free = other.execute(sqlalchemy.text("SELECT pg_try_advisory_xact_lock(:k)"),
                                 {"k": lock.key}).scalar()
        assert free


def test_second_ctrl_c_kills_workers_that_ignore_the_first(tmp_path):
    pids = tmp_path / "pids"
    stubborn = tmp_path / "stubborn"
    stubborn.write_text(f"#!/bin/sh\ntrap '' INT\necho $$ >> {pids}\nexec sleep 300\n")
    stubborn.chmod(0o755)
    code = ("import sys\nfrom se_design.search import worker\n"
            f"sys.executable = {str(stubborn)!r}\n"
            "try:\n    worker.spawn('{}', 2, [])\nexcept KeyboardInterrupt:\n    print('stopped')")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, 60)
    time.sleep(1)  # the parent's handler is in place
    parent.send_signal(signal.SIGINT)
    time.sleep(1)
    assert parent.poll() is None  # waiting for workers that ignored Ctrl-C
    parent.send_signal(signal.SIGINT)
    assert parent.communicate(timeout=60)[0].strip() == "stopped"
    for pid in map(int, pids.read_text().split()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
