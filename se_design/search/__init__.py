"""Search: space files, the Optuna study, workers and storages, report and export."""

HEARTBEAT = 10  # seconds between a running trial's heartbeats
GRACE = 3  # heartbeats a trial may miss before it is failed and retried
