"""Search workers: one process taking trials from a study until it has the trials asked for,
and `--workers N`, which starts N such processes on one machine.

Workers cooperate through the storage alone. Under the study lock a worker checks the budget
and asks Optuna for a trial (a queued retry first); Optuna's heartbeat thread keeps its trial
alive; a reaper thread fails trials whose worker went silent, which queues them again. A
worker leaves when the budget is spent and no trial is running anywhere: a running one might
still die and need its retry.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from contextlib import contextmanager

import optuna
from optuna.trial import TrialState

from se_design.search import GRACE
from se_design.search.budget import Budget
from se_design.search.records import set_trial
from se_design.search.storage import Store, first_line, retry_callback

RUN, WAIT, DONE = "run", "wait", "done"


def plan(trials: list[optuna.trial.FrozenTrial], budget: Budget) -> str:
    """What a worker does next: RUN a trial, WAIT for running ones, or it is DONE."""
    if any(t.state == TrialState.WAITING for t in trials):
        return RUN  # queued references and retries always run
    if budget.left(trials):
        return RUN
    return WAIT if any(t.state == TrialState.RUNNING for t in trials) else DONE


def work(study: optuna.Study, store: Store, objective, budget: Budget, timeout: float | None,
         catch: tuple = (), callbacks: list | None = None, log=print) -> None:
    start, waiting = time.monotonic(), False
    # SIGTERM (`timeout`, a batch system ending the job) stops it as Ctrl-C does: the
    # running trial is queued again for --resume instead of left running
    with reaper(study, store), thread_errors_logged(log), \
            ctrl_c((signal.SIGINT, signal.SIGTERM)) as pressed:
        while timeout is None or time.monotonic() - start < timeout:
            if pressed.is_set():  # a Ctrl-C that Python swallowed inside a finalizer
                raise KeyboardInterrupt
            with store.lock(study.study_name) as lock:
                step = plan(study.get_trials(deepcopy=False), budget)
                if step == RUN:
                    run_one(study, objective, lock, catch, callbacks or [], log)
            if step == DONE:
                return
            if step == WAIT and not waiting:
                log("budget spent; waiting for the trials marked running (one whose worker "
                    f"was killed is failed after {GRACE * store.heartbeat} s of silence, then "
                    "retried here)")
            waiting = step == WAIT
            if waiting:
                time.sleep(min(1, store.heartbeat))  # soon done, or a retry appears


def run_one(study: optuna.Study, objective, lock, catch: tuple, callbacks: list, log) -> None:
    """One trial through Optuna's own loop (heartbeat, tell, callbacks); the lock is released
    as soon as the trial exists."""
    mine: list[int] = []
    raised: list[Exception] = []  # the objective's own errors, told apart from tell's

    def call(trial: optuna.Trial):
        lock.release()
        mine.append(trial.number)
        set_trial(trial, worker=f"{socket.gethostname()}:{os.getpid()}")
        try:
            return objective(trial)
        except Exception as err:
            raised.append(err)
            raise

    running = _running(study)  # under the lock: a trial that starts running now is ours
    try:
        study.optimize(call, n_trials=1, catch=catch, callbacks=callbacks)
    except KeyboardInterrupt:
        if not mine:  # Ctrl-C inside Optuna's ask: the trial exists, Optuna did not fail it
            mine.extend(sorted(_running(study) - running))
            for number in mine:
                study.tell(number, state=TrialState.FAIL)
        if mine:  # the interrupted trial is failed: queue it for --resume
            requeue(study, mine[0])
        raise
    except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as err:
        # Telling a trial that another worker already failed as silent (this one was frozen
        # or cut off past the grace period): its retry stands, this late result is dropped.
        if err in raised or not mine or state_of(study, mine[0]) != TrialState.FAIL:
            raise
        log(f"trial {mine[0]} was silent past its grace period and was failed by another "
            "worker; this worker's late result is dropped")


def _running(study: optuna.Study) -> set[int]:
    return {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}


def state_of(study: optuna.Study, number: int) -> TrialState:
    return next(t.state for t in study.get_trials(deepcopy=False) if t.number == number)


def requeue(study: optuna.Study, number: int) -> None:
    trial = next(t for t in study.get_trials() if t.number == number)
    if trial.state == TrialState.FAIL:
        retry_callback()(study, trial)


@contextmanager
def ctrl_c(signals: tuple = (signal.SIGINT,)):
    """Ctrl-C (or any of `signals`) raises KeyboardInterrupt where it lands; where that is a
    garbage-collection callback, Python ignores it (with a traceback), so it is also
    remembered, to stop the loop before the next trial, and that traceback is not printed."""
    pressed = threading.Event()
    unraisable = sys.unraisablehook

    def handler(signum, frame):
        pressed.set()
        raise KeyboardInterrupt

    def hook(u):
        if not isinstance(u.exc_value, KeyboardInterrupt):
            unraisable(u)

    defaults, sys.unraisablehook = {s: signal.signal(s, handler) for s in signals}, hook
    try:
        yield pressed
    finally:
        for s, default in defaults.items():
            signal.signal(s, default)
        sys.unraisablehook = unraisable


@contextmanager
def reaper(study: optuna.Study, store: Store):
    """Fail trials whose worker went silent, also while this worker is busy training."""
    stop = threading.Event()

    def loop():
        while not stop.wait(store.heartbeat):
            try:
                with store.lock(study.study_name), warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)
            except Exception:  # noqa: BLE001, S112 - an outage surfaces in the main loop
                continue

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def thread_errors_logged(log):
    """A storage outage also hits Optuna's heartbeat thread: one line, not a traceback."""
    default = threading.excepthook
    threading.excepthook = lambda a: log(f"{a.thread.name}: {first_line(a.exc_value)}")
    try:
        yield
    finally:
        threading.excepthook = default


def visible_gpus() -> list[str]:
    """CUDA device ids a worker can be pinned to (empty without CUDA)."""
    import torch

    count = torch.cuda.device_count()
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [d.strip() for d in listed.split(",") if d.strip()] if listed else []
    return ids[:count] if ids else [str(i) for i in range(count)]


def worker_env(i: int, n: int, gpus: list[str], environ: dict) -> dict:
    """Worker i of n: pinned to one GPU (round robin) when several are visible, else given
    its share of the CPU cores (n processes with a thread per core each would thrash)."""
    env = dict(environ)
    if len(gpus) > 1:
        env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
    else:
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    return env


def spawn(request_json: str, n: int, gpus: list[str]) -> list[int]:
    """Run the search request (JSON) in n processes (`python -m se_design.search`); Ctrl-C
    or SIGTERM (a batch system ending the job) is passed on once to each, as Ctrl-C; a
    second one kills them. Returns their exit codes."""
    procs = [subprocess.Popen([sys.executable, "-m", "se_design.search", request_json],
                              env=worker_env(i, n, gpus, os.environ), start_new_session=True)
             for i in range(n)]
    with ctrl_c((signal.SIGINT, signal.SIGTERM)) as pressed:
        try:
            while any(p.poll() is None for p in procs):
                if pressed.is_set():  # a signal that Python swallowed inside a finalizer
                    raise KeyboardInterrupt
                time.sleep(0.2)
            return [p.returncode for p in procs]
        except KeyboardInterrupt:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            try:
                for p in procs:
                    p.wait()
            except KeyboardInterrupt:  # pressed again: stop now; their running trials go
                for p in procs:       # silent and are retried on --resume
                    p.kill()
                    p.wait()
            raise
