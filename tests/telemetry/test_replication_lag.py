"""A new replica is on its initial sync, not lagging: its FileSystem says InitialSync
(not Degraded), the log says when the sync starts and ends, and no lag series is
exported until EFS has a LastReplicatedTimestamp for it. The default lag threshold is
above EFS's own 15-minute objective."""

from __future__ import annotations

import json
import time
from pathlib import Path

from prometheus_client import REGISTRY

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.logs import configure
from controller.model import FileSystemSpec
from tests.converge.helpers import prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def lag() -> float | None:
    return REGISTRY.get_sample_value("studio_operator_replication_lag_seconds",
                                     {"file_system": "studio-efs"})


def conditions(rec) -> dict[str, tuple[str, str]]:
    status = rec.status.current["FileSystem#studio-efs"]
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_a_new_replica_reports_its_initial_sync_not_an_infinite_lag(aws, capsys):
    configure(json=True)
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock(time.time())  # lag is measured against EFS's (the emulator's) time
    rec = reconciler(aws, clock)
    with aws.replication_paused():
        rec.reconcile(desired)  # creates the replication; no sync can run meanwhile
        rec.reconcile(desired)
        assert conditions(rec) == {"Ready": ("False", "InitialSync"),
                                   "Synced": ("True", "Applied"),
                                   "Degraded": ("False", "AsExpected")}
        assert lag() is None
    aws.sync_replication()
    clock.advance(1)
    rec.reconcile(desired)
    assert conditions(rec)["Ready"] == ("True", "InSync")
    assert lag() is not None and lag() >= 0
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()
              if line.startswith("{")]
    names = [e["event"] for e in events if e["event"].startswith("replication_")]
    assert names == ["replication_initial_sync", "replication_first_sync_done"]


def test_the_default_lag_threshold_is_above_efs_own_15_minute_objective():
    assert FileSystemSpec("efs", {}).replication_lag_threshold_seconds > 15 * 60
