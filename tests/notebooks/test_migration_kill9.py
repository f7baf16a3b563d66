"""A controller killed with SIGKILL at each step of a notebook migration: a restarted
controller finishes it, with exactly one new instance (a second would be a leak), the
data restored, and the old instance deleted (deleteOld) only after that.

The controller runs as a real `studioctl run` process, killed as soon as it logs that
it has recorded the step (the record is written before the step's action runs), so
the kill falls between the record and the action or just after the action. The
restart is a fresh controller reading the same status table.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from controller.clock import ManualClock
from controller.emulator import Emulator
from tests.converge.helpers import reconciler
from tests.deployment.test_controller_template import (
    EXERCISED_ELSEWHERE,
    is_allowed,
    load_template,
    role_statements,
)
from tests.failover.test_kill9 import kill_when, logged
from tests.notebooks.migration_helpers import (
    al1_instance_with_work,
    passes_until,
    record,
    volume,
)
from tests.notebooks.test_migration import NEW, instance_names

# Each kills a real controller and runs a restarted one through a migration (over 40 s).
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("phase", ["Snapshotting", "Creating", "Restoring", "StoppingOld",
                                   "Sealing", "DeletingOld"])
def test_a_controller_killed_at_each_migration_step_finishes_with_one_new_instance(
        aws: Emulator, tmp_path: Path, phase: str) -> None:
    _rec, _clock, moved = al1_instance_with_work(aws, tmp_path,
                                                 migration="{deleteOld: true}")
    events = kill_when(aws, tmp_path, "us-east-1", tmp_path / "v2",
                       logged(event="notebook_migration", phase=phase), timeout=240)
    killed_at = record(aws)
    assert killed_at is not None and killed_at.phase == phase, [
        e for e in events if e.get("event") == "notebook_migration"]

    clock = ManualClock(time.time())
    restarted = reconciler(aws, clock)
    passes_until(restarted, moved, clock, aws, ("Complete",))

    finished = record(aws)
    assert finished is not None and finished.new_instance == NEW
    assert instance_names(aws) == [NEW]  # one new instance; the old one deleted
    restored = volume(aws, NEW) / "project" / "data" / "train.csv"
    assert restored.read_text() == "a,b\n1,2\n" * 1000
    # A restarted controller never made another: no third generation, no second create.
    assert [e for e in events if e.get("event") == "notebook_migration"
            and e.get("new_instance") not in (None, NEW)] == []
    if phase == "DeletingOld":  # the delete the deployment scenario does not reach
        role = role_statements(load_template())
        assert all(is_allowed(role, a) for a in EXERCISED_ELSEWHERE)
        assert is_allowed(role, "s3:GetObject")  # its guard's HeadObject of the marker
