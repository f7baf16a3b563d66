"""Replication lag, and a replica's initial sync, as the loop reports them.

EFS's LastReplicatedTimestamp is the lag signal, and a new replica has none until its
first sync has finished (which may take hours for a large file system). That is not
lag: it is an initial sync, reported as such (the FileSystem's Ready condition says
InitialSync, the log says when it starts and ends) and no lag series is exported for it
until then, so neither dashboards nor alerts see an "infinite" lag. This module holds
no state but the names it has logged as syncing.
"""

from __future__ import annotations

from controller.logs import get_logger
from controller.metrics import REPLICATION_LAG
from controller.observed import ObservedReplication, ObservedState


def replication_lag(observed: ObservedState, now: float) -> dict[str, float]:
    """Seconds behind, per logical file system this region replicates or receives, for
    those whose replica has finished a sync at least once."""
    lags: dict[str, float] = {}
    for name, found in observed.references.file_systems.items():
        if found is None or found.replication is None:
            continue
        last = found.replication.last_replicated
        if last is not None:
            lags[name] = max(0.0, now - last.timestamp())
    return lags


def initial_syncs(observed: ObservedState) -> dict[str, ObservedReplication]:
    """Logical file systems whose replica has not finished its first sync yet."""
    return {name: found.replication
            for name, found in observed.references.file_systems.items()
            if found is not None and found.replication is not None
            and found.replication.last_replicated is None
            and found.replication.status in ("ENABLING", "ENABLED")}


class LagReporter:
    """Exports the lag gauge and logs each replica's initial sync once, start and end."""

    def __init__(self, region: str) -> None:
        self.log = get_logger(region=region)
        self._syncing: set[str] = set()

    def report(self, observed: ObservedState, now: float) -> None:
        syncing = initial_syncs(observed)
        for name, replication in sorted(syncing.items()):
            REPLICATION_LAG.remove(name)  # no lag until there is a first sync to measure
            if name not in self._syncing:
                self.log.info("replication_initial_sync", file_system=name,
                              replica=replication.destination_file_system_id,
                              replica_region=replication.destination_region,
                              status=replication.status)
        lags = replication_lag(observed, now)
        for name in sorted(self._syncing - set(syncing)):
            if name in lags:
                self.log.info("replication_first_sync_done", file_system=name,
                              lag_s=round(lags[name], 1))
        self._syncing = set(syncing)
        for name, lag in lags.items():
            REPLICATION_LAG.labels(name).set(lag)
