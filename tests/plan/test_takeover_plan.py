"""The old active region fences itself only once the new one has recorded its takeover
for this very revision, or when a person forces it (controller.plan.takeover). Pure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.observed import ObservedReplication, ObservedTakeover
from controller.plan import make_plan
from tests.plan.estates import PRIMARY, REPLICA, empty, estate
from tests.plan.test_failback_plan import ACTIVE, APP, DOMAINS, OLD, STAMP, names, standby

REVISION = estate(DOMAINS).revision


@pytest.mark.parametrize(("record", "why"), [
    (None, "was not read"),
    (ObservedTakeover(REPLICA, error="ResourceNotFoundException"), "could not be read"),
    (ObservedTakeover(REPLICA), "recorded nothing yet"),
    (ObservedTakeover(REPLICA, PRIMARY, "Standby", ""), f"still records {PRIMARY} as active"),
    (ObservedTakeover(REPLICA, REPLICA, "Promoting", REVISION), "still Promoting"),
    # A record of an earlier flip to REPLICA, left behind: not this takeover.
    (ObservedTakeover(REPLICA, REPLICA, "Complete", "an-older-revision"),
     "records revision an-older-revision"),
])
def test_without_a_recorded_takeover_nothing_is_stopped_or_fenced(record, why):
    plan = standby(apps=[APP], takeover=record)
    assert names(plan) == []
    (note,) = [n for n in plan.notes if n.startswith("Fence/takeover:")]
    assert why in note and "keeps serving" in note


@pytest.mark.parametrize("phase", ["Steady", "Converging", "Complete"])
def test_a_takeover_recorded_for_this_revision_lets_the_fence_go_ahead(phase):
    plan = standby(apps=[APP], takeover=ObservedTakeover(REPLICA, REPLICA, phase, REVISION))
    assert names(plan) == ["StopStudioApps", "FenceFileSystem"]


def test_a_person_can_force_the_fence_in_the_desired_state():
    desired = estate(DOMAINS)
    desired = replace(desired, estate=replace(desired.estate, active_region=REPLICA,
                                              fence_without_takeover=True))
    observed = empty(PRIMARY)
    observed = replace(observed, running_apps=(APP,), references=replace(
        observed.references, file_systems={"efs": OLD}, remote_file_systems={"efs": ACTIVE}))
    assert names(make_plan(desired, observed)) == ["StopStudioApps", "FenceFileSystem"]


def test_a_copy_already_fenced_carries_on_with_failback_whatever_the_record_says():
    plan = standby(replace(OLD, fenced_at=STAMP), recovery="pending", takeover=None)
    assert names(plan) == ["SaveUnreplicatedWrites"]


def test_an_old_copy_left_configured_as_a_source_deletes_that_side_first():
    orphan = replace(OLD, replication=ObservedReplication("fs-1", PRIMARY, "fs-2", REPLICA,
                                                          "ERROR"))
    plan = standby(orphan, takeover=None)
    assert names(plan) == ["DeleteOrphanedReplication"]
    assert plan.actions[0].params["SourceFileSystemId"] == "fs-1"
    recorded = standby(orphan)
    assert names(recorded) == ["DeleteOrphanedReplication"], "fenced on the next pass"
