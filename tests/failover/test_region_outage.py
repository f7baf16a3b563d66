"""A failover while the old region is down: the replica is promoted by deleting only its
own side of the replication (LOCAL_CONFIGURATION_ONLY), and only once the old region
has been unreachable long enough; when the old region is back it deletes its orphaned
side, fences, saves, and failback completes. A short outage never leaves an orphan.

The outage is the emulator's fault injector taking every call to us-east-1 down (500s),
including what EFS itself would do there for the other region.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.fencing import RECOVERY_ROOT
from controller.loop.reachability import UNREACHABLE_AFTER_SECONDS
from tests.converge.helpers import converge, file_system, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
PRIMARY, REPLICA = "us-east-1", "us-west-2"


def active_in(desired, region: str, suffix: str):
    return replace(desired, estate=replace(desired.estate, active_region=region),
                   revision=f"{desired.revision}-{suffix}")


def replication_seen_from(aws, region: str, file_system_id: str) -> dict | None:
    efs = boto3.client("efs", region_name=region, endpoint_url=aws.endpoint_url)
    try:
        return efs.describe_replication_configurations(
            FileSystemId=file_system_id)["Replications"][0]
    except efs.exceptions.ReplicationNotFound:
        return None


def converged_and_replicated(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    old = aws.efs_root / file_system(aws, PRIMARY)["FileSystemId"]
    (old / "home/research/alice/before.txt").write_text("replicated before the outage")
    aws.sync_replication()
    return desired, clock, old


def fail_over(aws, rec, flipped, clock, max_passes: int = 12) -> list[str]:
    """Passes in the new region, a minute apart, until the failover is Complete; the
    deletion modes its PromoteReplica actions used, pass by pass."""
    modes = []
    for _ in range(max_passes):
        result = rec.reconcile(flipped)
        modes += [a.params["DeletionMode"] for a in result.plan.actions
                  if a.name == "PromoteReplica"]
        if rec.failover.record.phase == "Complete" and not result.plan.actions:
            return modes
        rec.queue.pop_ready()
        clock.advance(60)
    raise AssertionError(f"failover not complete: {rec.failover.record}")


def test_failover_with_the_old_region_down_then_failback_when_it_returns(aws):
    desired, clock, old = converged_and_replicated(aws)
    old_id = old.name
    aws.set_faults(rate=1.0, kinds=("5xx",), regions={PRIMARY})
    flipped = active_in(desired, REPLICA, "flipped")
    west = reconciler(aws, clock, region=REPLICA, max_attempts=2)
    modes = fail_over(aws, west, flipped, clock)
    # Both sides were tried first; only this side once east was down long enough.
    assert modes[0] == "ALL_CONFIGURATIONS" and modes[-1] == "LOCAL_CONFIGURATION_ONLY"
    assert west.reachability.unreachable() == {PRIMARY}
    new = aws.efs_root / file_system(aws, REPLICA)["FileSystemId"]
    assert (new / "home/research/alice/before.txt").exists()
    assert replication_seen_from(aws, REPLICA, new.name) is None
    (new / "home/research/alice/during-outage.txt").write_text("written in the new region")

    # East comes back, still holding its side: a source of a replica that has left it.
    aws.clear_faults()
    (old / "home/research/alice/late.txt").write_text("written in east before it went down")
    orphan = replication_seen_from(aws, PRIMARY, old_id)
    assert orphan is not None and orphan["Destinations"][0]["Status"] == "ERROR"
    east = reconciler(aws, clock, region=PRIMARY)
    first = east.reconcile(flipped)
    assert [o.action for o in first.outcomes][:1] == ["DeleteOrphanedReplication"]
    assert all(o.outcome == "ok" for o in first.outcomes)
    assert replication_seen_from(aws, PRIMARY, old_id) is None
    converge(east, flipped, clock)
    assert east.failover.record.phase == "ReadyForFailback"
    assert list((new / RECOVERY_ROOT).glob("*/home/research/alice/late.txt"))

    # West replicates back into east's old copy; then the flag goes home.
    back = west.reconcile(flipped)
    assert ("EnsureReplication", "ok") in [(o.action, o.outcome) for o in back.outcomes]
    aws.sync_replication()
    assert (old / "home/research/alice/during-outage.txt").exists()
    home = active_in(desired, PRIMARY, "home")
    east_active = reconciler(aws, clock, region=PRIMARY)
    converge(east_active, home, clock)
    assert east_active.failover.record.phase == "Complete"
    described = file_system(aws, PRIMARY)
    assert described["FileSystemProtection"]["ReplicationOverwriteProtection"] == "ENABLED"


def test_a_short_outage_never_leaves_an_orphaned_configuration(aws):
    desired, clock, old = converged_and_replicated(aws)
    aws.set_faults(rate=1.0, kinds=("5xx",), regions={PRIMARY})
    flipped = active_in(desired, REPLICA, "flipped")
    west = reconciler(aws, clock, region=REPLICA, max_attempts=2)
    cut = west.reconcile(flipped)
    assert [(o.action, o.outcome) for o in cut.outcomes][:1] == [("PromoteReplica", "error")]
    assert west.failover.record.phase == "Promoting", "not taken over while not promoted"
    clock.advance(UNREACHABLE_AFTER_SECONDS / 2)
    aws.clear_faults()
    west.queue.pop_ready()
    modes = fail_over(aws, west, flipped, clock)
    assert set(modes) == {"ALL_CONFIGURATIONS"}
    assert replication_seen_from(aws, PRIMARY, old.name) is None, "both sides deleted"
