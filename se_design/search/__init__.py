"""Search: space files, the Optuna study, workers and storages, report and export."""

import logging

HEARTBEAT = 10  # seconds between a running trial's heartbeats
GRACE = 3  # heartbeats a trial may miss before it is failed and retried


def quiet_pool() -> None:
    """After Ctrl-C a pooled database connection may have been cut mid-query; SQLAlchemy's pool
    logs its failed reset or ping, with a traceback, when the connection is collected or
    checked out again on the way out. The interrupt is reported in one sentence and the
    finished trials are stored: nothing to add. (Here, not in storage.py: the CLI calls it
    and must not import optuna to start.)"""
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
