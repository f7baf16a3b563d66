"""Flipping activeRegion with strategy promote: the replica becomes writable and the
estate comes up in the new region with everyone's files, owners and settings."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.plan import Kind
from tests.converge.helpers import converge, file_system, plan_now, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
PRIMARY, REPLICA = "us-east-1", "us-west-2"



def _flipped(desired):
    return replace(desired, estate=replace(desired.estate, active_region=REPLICA),
                   revision=desired.revision + "-flipped")


def test_the_active_region_replicates_its_file_system_to_a_tagged_replica(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    first = reconciler(aws).reconcile(desired)
    assert ("EnsureReplication", "ok") in [(o.action, o.outcome) for o in first.outcomes]
    replica = file_system(aws, REPLICA)
    assert replica["FileSystemProtection"]["ReplicationOverwriteProtection"] == "REPLICATING"
    source = file_system(aws, PRIMARY)
    efs = boto3.client("efs", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    config = efs.describe_replication_configurations(FileSystemId=source["FileSystemId"])
    assert config["Replications"][0]["Destinations"][0]["FileSystemId"] == (
        replica["FileSystemId"])
    # the standby region plans nothing in active-passive mode
    assert plan_now(aws, desired, REPLICA).actions == ()


def test_flipping_active_region_promotes_replica_and_attaches_profiles(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    primary = reconciler(aws, clock)
    converge(primary, desired, clock)
    mount = aws.efs_root / file_system(aws, PRIMARY)["FileSystemId"]
    notebook = mount / "home/research/alice/analysis.ipynb"
    notebook.write_text('{"cells": []}')
    os.chown(notebook, 200101, 1001)
    aws.sync_replication()

    flipped = _flipped(desired)
    standby = reconciler(aws, clock, region=REPLICA)
    first = standby.reconcile(flipped)
    assert ("PromoteReplica", "ok") in [(o.action, o.outcome) for o in first.outcomes]
    assert standby.failover is not None
    # Share directories were not looked at while the copy was a replica: not Ready yet,
    # so the failover is not Complete before the next pass has checked them.
    assert standby.status is not None
    home = standby.status.current["Directory#studio-efs:/home/research/alice"]
    ready = next(c for c in home.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "Waiting")
    assert standby.failover.record.phase == "Converging"
    passes = converge(standby, flipped, clock)
    assert passes <= 3

    replica_id = file_system(aws, REPLICA)["FileSystemId"]
    described = file_system(aws, REPLICA)
    assert described["FileSystemProtection"]["ReplicationOverwriteProtection"] == "ENABLED"
    copied = aws.efs_root / replica_id / "home/research/alice/analysis.ipynb"
    assert copied.read_text() == '{"cells": []}'
    assert (copied.stat().st_uid, copied.stat().st_gid) == (200101, 1001)
    sagemaker = boto3.client("sagemaker", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    domains = {d["DomainName"]: d["DomainId"] for d in sagemaker.list_domains()["Domains"]}
    assert sorted(domains) == ["analytics", "research"]
    alice = sagemaker.describe_user_profile(DomainId=domains["research"],
                                            UserProfileName="alice")["UserSettings"]
    assert alice["CustomPosixUserConfig"] == {"Uid": 200101, "Gid": 1001}
    paths = {c["EFSFileSystemConfig"]["FileSystemPath"]: c["EFSFileSystemConfig"]["FileSystemId"]
             for c in alice["CustomFileSystemConfigs"]}
    # alice's three shares live on one file system: one mount of the promoted replica
    assert paths == {"/": replica_id}
    record = standby.failover.record
    assert record.phase == "Complete" and record.active_region == REPLICA
    assert record.recovery_seconds >= 0
    # the old region's file system is left alone: replication back waits for failback
    assert plan_now(aws, flipped, REPLICA).actions == ()
    assert any("fenced" in n for n in plan_now(aws, flipped, REPLICA).notes)
    assert notebook.read_text() == '{"cells": []}'


def test_a_controller_restarted_mid_failover_finishes_it(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    aws.sync_replication()
    flipped = _flipped(desired)
    first = reconciler(aws, clock, region=REPLICA)
    first.should_stop = _stop_after(_promoted_after(aws, flipped))  # killed right after it
    cut = first.reconcile(flipped)
    # (the domains wait for the mount targets, so the pass may have had nothing after it)
    assert [o.action for o in cut.outcomes][-1] == "PromoteReplica"
    restarted = reconciler(aws, clock, region=REPLICA)
    assert restarted.failover is not None
    assert restarted.failover.record.phase in ("Promoting", "Converging"), "persisted"
    converge(restarted, flipped, clock)
    assert restarted.failover.record.phase == "Complete"
    assert {a.key.kind for a in plan_now(aws, flipped, REPLICA).actions} <= {Kind.REPLICATION}


def _promoted_after(aws, flipped) -> int:
    """How many actions the replica region's first pass takes up to PromoteReplica (its
    mount targets come first)."""
    names = [a.name for a in plan_now(aws, flipped, REPLICA).actions]
    return names.index("PromoteReplica") + 1


def _stop_after(count: int):
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > count

    return should_stop


def test_throttling_and_5xx_during_failover_still_finish_it_without_duplicates(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    aws.sync_replication()
    flipped = _flipped(desired)
    standby = reconciler(aws, clock, region=REPLICA, max_attempts=1)
    aws.set_faults(rate=0.3, kinds=("throttle", "5xx"), services={"sagemaker", "efs"}, seed=5)
    finished = False
    for _ in range(80):  # at 30% a call, most passes fail whole while observing
        try:
            result = standby.reconcile(flipped)
        except Exception:  # an observation call failed: the whole pass is retried
            clock.advance(60)
            continue
        if not result.plan.actions and standby.failover.record.phase == "Complete":
            finished = True
            break
        standby.queue.pop_ready()
        clock.advance(60)
    aws.clear_faults()
    assert finished
    refused = sum(n for (_, _, outcome), n in standby.gateway.calls.items() if outcome != "ok")
    assert refused > 0, "faults were injected"
    sagemaker = boto3.client("sagemaker", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    assert sorted(d["DomainName"] for d in sagemaker.list_domains()["Domains"]) == [
        "analytics", "research"]
    replica = file_system(aws, REPLICA)
    assert replica["FileSystemProtection"]["ReplicationOverwriteProtection"] == "ENABLED"
    efs = boto3.client("efs", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    named = [f for f in efs.describe_file_systems()["FileSystems"] if f.get("Name") == "studio-efs"]
    assert len(named) == 1, "no second replica was made"


def test_a_flag_flipped_back_mid_failover_leaves_every_file_and_waits_for_failback(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    primary = reconciler(aws, clock)
    converge(primary, desired, clock)
    mount = aws.efs_root / file_system(aws, PRIMARY)["FileSystemId"]
    (mount / "home/research/bob/model.pt").write_bytes(b"weights")
    aws.sync_replication()
    flipped = _flipped(desired)
    standby = reconciler(aws, clock, region=REPLICA)
    standby.should_stop = _stop_after(_promoted_after(aws, flipped))
    standby.reconcile(flipped)  # promoted, then cut short
    back = replace(desired, revision=desired.revision + "-back")
    # the old region is active again; its file system was never touched
    result = primary.reconcile(back)
    assert all(o.outcome == "ok" for o in result.outcomes)
    assert not any(a.name.startswith(("Delete", "Promote")) for a in result.plan.actions)
    assert (mount / "home/research/bob/model.pt").read_bytes() == b"weights"
    assert any("waits until that region is fenced" in n for n in result.plan.notes)
    standby.should_stop = lambda: False
    standby.reconcile(back)
    # West's promoted copy is now an old copy: fenced before east may replicate onto it.
    assert standby.failover.record.phase == "Fencing"
    promoted = aws.efs_root / file_system(aws, REPLICA)["FileSystemId"]
    assert (promoted / "home/research/bob/model.pt").read_bytes() == b"weights"


def test_a_failover_is_complete_only_once_studio_can_mount_the_promoted_copy(aws):
    """The replica has no mount targets: the domains and profiles wait for them, the
    failover is not Complete before, and an app a user starts afterwards comes up."""
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock(time.time())
    converge(reconciler(aws, clock), desired, clock)
    aws.sync_replication()
    flipped = _flipped(desired)
    replica_id = file_system(aws, REPLICA)["FileSystemId"]
    efs = boto3.client("efs", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    assert efs.describe_mount_targets(FileSystemId=replica_id)["MountTargets"] == []
    # Mount targets (and Studio) take a moment: long enough that the second pass below
    # still finds them creating on a loaded machine (at 0.5 s it lost that race there).
    aws.set_transition_seconds(3.0)
    standby = reconciler(aws, clock, region=REPLICA)
    first = standby.reconcile(flipped)
    done = [o.action for o in first.outcomes if o.outcome == "ok"]
    planned = [a.name for a in first.plan.actions]
    assert done.count("CreateMountTarget") == 2 and "PromoteReplica" in planned
    assert "CreateDomain" not in planned
    assert dict(first.plan.waiting)["Domain/research"].startswith("studio-efs")
    assert standby.status is not None and standby.failover is not None
    research = standby.status.current["Domain#research"]
    assert next(c for c in research.conditions if c.type == "Ready").reason == "Waiting"
    second = standby.reconcile(flipped)
    assert [a.name for a in second.plan.actions].count("AwaitMountTarget") == 2
    # Still promoting (the replication's deletion takes its time) or converging: not done.
    assert standby.failover.record.phase in ("Promoting", "Converging")
    for _ in range(80):
        result = standby.reconcile(flipped)
        if not result.plan.actions and standby.failover.record.phase == "Complete":
            break
        standby.queue.pop_ready()
        clock.advance(11)
        time.sleep(0.05)  # the emulator's transitions run on real time
    assert standby.failover.record.phase == "Complete"
    targets = efs.describe_mount_targets(FileSystemId=replica_id)["MountTargets"]
    assert sorted(t["LifeCycleState"] for t in targets) == ["available", "available"]

    sagemaker = boto3.client("sagemaker", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == "research")
    sagemaker.create_app(DomainId=domain_id, UserProfileName="alice", AppType="JupyterLab",
                         AppName="after-failover")

    def status() -> str:
        return sagemaker.describe_app(DomainId=domain_id, UserProfileName="alice",
                                      AppType="JupyterLab", AppName="after-failover")["Status"]

    deadline = time.monotonic() + 20
    while status() == "Pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status() == "InService"
    assert {m["file_system_id"] for m in aws.mounts() if m["region"] == REPLICA} == {
        replica_id}
