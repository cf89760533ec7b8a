"""Optuna storages for one worker or many, all with heartbeats.

    sqlite:///FILE        one process at a time (SQLite takes one writer at a time)
    postgresql://...      any number of workers on any number of machines
    journal:FILE          Optuna's journal file, for workers that share a file system

A running trial's worker records a heartbeat every `heartbeat` seconds; a trial silent for
`3 * heartbeat` seconds is failed by whichever worker notices, and its configuration is queued
once more (Optuna's RetryHeartbeatStaleTrialCallback). A per-study lock makes "budget left?
then ask for a trial" atomic across workers, so a study ends with exactly the trials asked for.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat  # Optuna's heartbeat interface
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from se_design.errors import UserError
from se_design.search import GRACE, HEARTBEAT

FORMS = "sqlite:///FILE, postgresql://HOST/DB or journal:FILE"


def retry_callback():
    with warnings.catch_warnings():  # the callback is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)


class Lock:
    """A study-wide mutex; `release` may be called early and more than once."""

    def __enter__(self):
        try:
            self.acquire()
        except BaseException:
            # A Ctrl-C landing just after the lock was granted: `with` will not call __exit__,
            # and the traceback keeps this lock alive, so a thread of this worker waiting for
            # it while the worker stops would wait forever.
            self.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class FileLock(Lock):
    """flock on a sidecar file beside the storage file `path`: the kernel releases it if the
    holder dies. An error names `path`, the user's file, not the sidecar."""

    def __init__(self, path: str):
        self.path, self.fd = path, None

    def acquire(self) -> None:
        try:
            self.fd = os.open(self.path + ".se-design.lock", os.O_CREAT | os.O_RDWR, 0o666)
        except OSError as err:
            raise UserError(f"cannot open storage file '{self.path}': "
                            f"{(err.strerror or type(err).__name__).lower()}.") from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


class PgLock(Lock):
    """A transaction-level advisory lock: the server drops it with the transaction, also when
    the holder's connection dies."""

    def __init__(self, engine, name: str):
        self.engine, self.conn = engine, None
        self.key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(),
                                  "big", signed=True)

    def acquire(self) -> None:
        import sqlalchemy

        self.conn = self.engine.connect()
        self.conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.key})

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()  # rolls back, which ends the lock
            self.conn = None


class HeartbeatJournal(JournalStorage, BaseHeartbeat):
    """Optuna's journal storage has no heartbeat (RDBStorage has one): record it as a trial
    system attribute so Optuna's own `fail_stale_trials` works on the journal too. Its times
    are the workers' clocks, so machines sharing a journal need synchronised clocks."""

    def __init__(self, path: str, heartbeat: int):
        super().__init__(JournalFileBackend(path))
        self.heartbeat, self.callback = heartbeat, retry_callback()

    def record_heartbeat(self, trial_id: int) -> None:
        # A worker that was frozen past the grace period finds its trial failed and retried.
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            self.set_trial_system_attr(trial_id, "heartbeat", time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        # A retried trial inherits its predecessor's heartbeat: count from its own start too.
        return [t._trial_id for t in running if "heartbeat" in t.system_attrs and now - max(
            t.system_attrs["heartbeat"], t.datetime_start.timestamp()) > GRACE * self.heartbeat]

    def get_heartbeat_interval(self) -> int:
        return self.heartbeat

    def get_heartbeat_stale_trial_callback(self):
        return self.callback


@dataclass
class Store:
    url: str
    storage: optuna.storages.BaseStorage
    lock: Callable[[str], Lock]  # study name -> a fresh, unheld lock
    shared: bool  # several processes may use it at once
    heartbeat: int


def shown(url: str) -> str:
    """`url` without its password, for messages."""
    if "://" not in url or "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL has no password to hide
        return url


DEFAULT_STORAGE = "sqlite:///results/search.db"


def open_storage(url: str, heartbeat: int = HEARTBEAT, create: bool = True) -> Store:
    """The storage behind `url`, or one clear sentence saying why it cannot be opened. A
    storage file that does not exist is created only with `create` (a search)."""
    file = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else \
        url.removeprefix("journal:") if url.startswith("journal:") else None
    if file and not create and not Path(file).is_file():
        where = "" if Path(file).is_absolute() else f" in {Path.cwd()}"
        hint = ("run where the search ran, or pass --storage" if url == DEFAULT_STORAGE
                else "check the path given to --storage")
        raise UserError(f"no storage file '{file}'{where}: {hint}.")
    try:
        return _open(url, heartbeat)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - sqlalchemy/driver errors vary by backend
        raise UserError(_why(shown(url), err)) from None


def _why(url: str, err: Exception) -> str:
    """One sentence for a storage that would not open: what is wrong, not the driver's words."""
    from sqlalchemy.exc import DatabaseError

    text = first_line(err)
    if isinstance(err, DatabaseError) and "file is not a database" in text:
        return f"{url} is not an SQLite database."
    if isinstance(err, ValueError):  # the journal's lines are JSON
        return f"{url} is not an Optuna journal file."
    if isinstance(err, OSError):
        return f"cannot open storage {url}: {(err.strerror or text).lower()}."
    return f"cannot open storage {url}: {text.rstrip('.')}."


def first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[0] if lines else type(err).__name__


def storage_failure(err: BaseException | None) -> BaseException | None:
    """The storage outage (server gone, shared disk unmounted) behind `err`, if any, also
    when an error in Optuna's clean-up was raised over it."""
    from sqlalchemy.exc import OperationalError

    while err is not None and not isinstance(err, OperationalError | OSError):
        err = err.__context__
    return err


def _open(url: str, heartbeat: int) -> Store:
    if url.startswith("journal:"):
        path = _in_a_folder(url.removeprefix("journal:"))
        return Store(url, HeartbeatJournal(path, heartbeat),
                     lambda name: FileLock(path), True, heartbeat)
    scheme = url.partition("://")[0].partition("+")[0]
    if scheme not in ("sqlite", "postgresql"):
        raise UserError(f"unsupported storage {shown(url)!r}: use {FORMS}.")
    # Processes opening a new database at once: one creates the tables, under the lock.
    if scheme == "sqlite":
        path = _in_a_folder(url.removeprefix("sqlite:///"))
        with _no_lock_file_left_on_failure(path), FileLock(path):
            storage = _rdb(url, heartbeat, {})
        return Store(url, storage, lambda name: FileLock(path), False,
                     heartbeat)
    engine, storage = _pg(url, heartbeat)
    return Store(url, storage, lambda name: PgLock(engine, name), True, heartbeat)


@contextlib.contextmanager
def _no_lock_file_left_on_failure(path: str):
    """A storage that fails to open leaves no lock file the attempt made beside it."""
    sidecar = Path(path + ".se-design.lock")
    existed = sidecar.exists()
    try:
        yield
    except BaseException:
        if not existed:
            sidecar.unlink(missing_ok=True)
        raise


@functools.cache
def _pg(url: str, heartbeat: int) -> tuple:
    """One engine pair per server and process: each holds a pool of connections, and a
    process that opens the storage again and again (a notebook, the tests) would otherwise
    leave pools open until the server refuses connections."""
    engine = _pg_engine(url)
    with PgLock(engine, "se-design schema"):
        return engine, _rdb(url, heartbeat, {"connect_args": {"connect_timeout": 10}})


def _in_a_folder(path: str) -> str:
    """A storage file's path, after checking its folder exists (it is not created: a typo
    in --storage would otherwise start a study in a folder nobody looks in)."""
    if not path:
        raise UserError(f"a storage needs a file name: use {FORMS}.")
    folder = Path(path).parent
    if not folder.is_dir():
        raise UserError(f"cannot open storage file '{path}': its folder '{folder}' does not "
                        "exist.")
    return path


def _rdb(url: str, heartbeat: int, engine_kwargs: dict) -> RDBStorage:
    with warnings.catch_warnings():  # heartbeat_interval is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True} | engine_kwargs,
                          heartbeat_interval=heartbeat, grace_period=GRACE * heartbeat,
                          heartbeat_stale_trial_callback=retry_callback())


def _pg_engine(url: str):
    import sqlalchemy

    return sqlalchemy.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
