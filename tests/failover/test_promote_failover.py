"""Flipping activeRegion with strategy promote: the replica becomes writable and the
estate comes up in the new region with everyone's files, owners and settings."""

from __future__ import annotations

import os
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
    assert first.outcomes[0].action == "PromoteReplica" and first.outcomes[0].outcome == "ok"
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
    first.should_stop = _stop_after(1)  # killed right after PromoteReplica
    cut = first.reconcile(flipped)
    assert cut.interrupted and [o.action for o in cut.outcomes] == ["PromoteReplica"]
    restarted = reconciler(aws, clock, region=REPLICA)
    assert restarted.failover is not None
    assert restarted.failover.record.phase in ("Promoting", "Converging"), "persisted"
    converge(restarted, flipped, clock)
    assert restarted.failover.record.phase == "Complete"
    assert {a.key.kind for a in plan_now(aws, flipped, REPLICA).actions} <= {Kind.REPLICATION}


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
    for _ in range(40):
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
    standby.should_stop = _stop_after(1)
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
