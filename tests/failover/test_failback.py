"""Failback: the old region fences itself, saves what only it holds, then lets the new
active region replicate back into it; flipping the flag back promotes it again."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.emulator.efs_mounts import MountRefused
from controller.fencing import RECOVERY_MANIFEST, RECOVERY_ROOT
from tests.converge.helpers import converge, file_system, plan_now, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
PRIMARY, REPLICA = "us-east-1", "us-west-2"



def protection(aws, region: str) -> str:
    return file_system(aws, region)["FileSystemProtection"]["ReplicationOverwriteProtection"]


def policy(aws, region: str) -> dict | None:
    efs = boto3.client("efs", region_name=region, endpoint_url=aws.endpoint_url)
    try:
        text = efs.describe_file_system_policy(
            FileSystemId=file_system(aws, region)["FileSystemId"])["Policy"]
    except efs.exceptions.PolicyNotFound:
        return None
    return json.loads(text)


def active_in(desired, region: str, suffix: str):
    return replace(desired, estate=replace(desired.estate, active_region=region),
                   revision=f"{desired.revision}-{suffix}")


def failed_over(aws):
    """The example estate converged in PRIMARY, replicated, then failed over to REPLICA."""
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    old = aws.efs_root / file_system(aws, PRIMARY)["FileSystemId"]
    (old / "home/research/alice/before.txt").write_text("replicated before the flip")
    (old / "home/research/alice/edited.txt").write_text("version 1")
    aws.sync_replication()
    flipped = active_in(desired, REPLICA, "flipped")
    converge(reconciler(aws, clock, region=REPLICA), flipped, clock)
    new = aws.efs_root / file_system(aws, REPLICA)["FileSystemId"]
    return desired, flipped, clock, old, new


def start_app(aws, region: str, domain: str, user: str) -> None:
    sagemaker = boto3.client("sagemaker", region_name=region, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == domain)
    sagemaker.create_app(DomainId=domain_id, UserProfileName=user, AppType="JupyterServer",
                         AppName="default")


def running_apps(aws, region: str) -> list[str]:
    sagemaker = boto3.client("sagemaker", region_name=region, endpoint_url=aws.endpoint_url)
    return [a["AppName"] for a in sagemaker.list_apps()["Apps"]
            if a["Status"] in ("InService", "Pending")]


def test_the_old_region_fences_saves_late_writes_and_then_takes_replication_back(aws):
    desired, flipped, clock, old, new = failed_over(aws)
    # Written in the old region after the failover (its Studio was still up) ...
    (old / "home/research/alice/late.txt").write_text("written after the failover")
    (old / "home/research/alice/edited.txt").write_text("version 2, old region")
    os.symlink("late.txt", old / "home/research/alice/link-to-late")
    (old / "home/research/bob/new-dir").mkdir()
    # ... and in the new active region.
    (new / "home/research/carol/west.txt").write_text("written in the new region")
    start_app(aws, PRIMARY, "research", "alice")
    assert running_apps(aws, PRIMARY) == ["default"]

    standby = reconciler(aws, clock, region=PRIMARY)
    fenced = standby.reconcile(flipped)
    assert [o.action for o in fenced.outcomes] == ["StopStudioApps", "FenceFileSystem"]
    assert all(o.outcome == "ok" for o in fenced.outcomes)
    statement = policy(aws, PRIMARY)["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == ["elasticfilesystem:ClientWrite"]
    assert running_apps(aws, PRIMARY) == []
    assert protection(aws, PRIMARY) == "ENABLED", "not opened before the save"
    assert standby.failover is not None and standby.failover.record.phase == "Fencing"

    converge(standby, flipped, clock)
    assert protection(aws, PRIMARY) == "DISABLED"
    assert standby.failover.record.phase == "ReadyForFailback"
    (folder,) = (new / RECOVERY_ROOT).iterdir()
    assert folder.name.endswith(f"-{PRIMARY}-{old.name}")
    assert (folder / "home/research/alice/late.txt").read_text() == "written after the failover"
    assert (folder / "home/research/alice/edited.txt").read_text() == "version 2, old region"
    assert os.readlink(folder / "home/research/alice/link-to-late") == "late.txt"
    assert (folder / "home/research/bob/new-dir").is_dir()
    assert not (folder / "home/research/alice/before.txt").exists(), "same in both: not saved"
    listed = (folder / RECOVERY_MANIFEST).read_text()
    assert "missing\t26\thome/research/alice/late.txt" in listed
    assert "differs\t21\thome/research/alice/edited.txt" in listed
    saved_owner = (folder / "home/research/alice").stat()
    source_owner = (old / "home/research/alice").stat()
    assert (saved_owner.st_uid, saved_owner.st_mode) == (source_owner.st_uid,
                                                          source_owner.st_mode)
    # The new region's own files were never touched.
    assert (new / "home/research/alice/edited.txt").read_text() == "version 1"

    # The active region now replicates back into the old copy.
    active = reconciler(aws, clock, region=REPLICA)
    back = active.reconcile(flipped)
    assert [(o.action, o.outcome) for o in back.outcomes] == [("EnsureReplication", "ok")]
    assert protection(aws, PRIMARY) == "REPLICATING"
    standby.reconcile(flipped)
    assert standby.failover.record.phase == "Replicating"
    aws.sync_replication()
    clock.advance(time.time() + 1 - clock.now())  # lag: against the emulator's real clock
    standby.reconcile(flipped)
    assert standby.failover.record.phase == "InSync"
    assert (old / "home/research/carol/west.txt").read_text() == "written in the new region"
    assert (old / RECOVERY_ROOT / folder.name / "home/research/alice/late.txt").exists()
    assert plan_now(aws, flipped, PRIMARY).actions == ()

    # Flipping back promotes the old copy, un-fences it, and brings everyone up there.
    back_home = active_in(desired, PRIMARY, "back")
    primary = reconciler(aws, clock, region=PRIMARY)
    converge(primary, back_home, clock)
    assert policy(aws, PRIMARY) is None
    assert protection(aws, PRIMARY) == "ENABLED"
    assert primary.failover is not None and primary.failover.record.phase == "Complete"
    assert (old / "home/research/carol/west.txt").exists()


def test_failback_waits_while_the_active_copy_is_not_mounted_and_never_opens_the_old_copy(aws):
    desired, flipped, clock, old, new = failed_over(aws)
    (old / "home/research/alice/late.txt").write_text("written after the failover")
    hidden = new.with_name(new.name + ".unmounted")
    new.rename(hidden)
    try:
        standby = reconciler(aws, clock, region=PRIMARY)
        for _ in range(3):
            result = standby.reconcile(flipped)
            clock.advance(60)
        assert any("is not mounted" in p for p in result.plan.problems)
        assert protection(aws, PRIMARY) == "ENABLED"
    finally:
        hidden.rename(new)
    converge(standby, flipped, clock)
    assert protection(aws, PRIMARY) == "DISABLED"
    (folder,) = (new / RECOVERY_ROOT).iterdir()
    assert (folder / "home/research/alice/late.txt").exists()


def test_a_failback_given_up_half_way_turns_protection_back_on_and_lifts_the_fence(aws):
    desired, flipped, clock, old, new = failed_over(aws)
    converge(reconciler(aws, clock, region=PRIMARY), flipped, clock)
    assert protection(aws, PRIMARY) == "DISABLED" and policy(aws, PRIMARY) is not None
    # The flag goes back before the active region replicated into the old copy.
    back_home = active_in(desired, PRIMARY, "back")
    plan = plan_now(aws, back_home, PRIMARY)
    names = [a.name for a in plan.actions]
    assert "LiftFence" in names and "EnableOverwriteProtection" in names
    assert any("studio-efs wait until the copy is writable" in n for n in plan.notes)
    converge(reconciler(aws, clock, region=PRIMARY), back_home, clock)
    assert protection(aws, PRIMARY) == "ENABLED" and policy(aws, PRIMARY) is None


def test_the_fence_keeps_the_owners_own_policy_statements(aws):
    desired, flipped, clock, old, new = failed_over(aws)
    efs = boto3.client("efs", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    fs_id = file_system(aws, PRIMARY)["FileSystemId"]
    own = {"Sid": "TeamReadOnlyRole", "Effect": "Allow", "Principal": {"AWS": "*"},
           "Action": ["elasticfilesystem:ClientMount"]}
    efs.put_file_system_policy(FileSystemId=fs_id, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [own]}))
    converge(reconciler(aws, clock, region=PRIMARY), flipped, clock)
    sids = [s["Sid"] for s in policy(aws, PRIMARY)["Statement"]]
    assert sids[0] == "TeamReadOnlyRole" and sids[1].startswith("StudioOperatorFence")
    converge(reconciler(aws, clock, region=PRIMARY), active_in(desired, PRIMARY, "back"), clock)
    assert policy(aws, PRIMARY)["Statement"] == [own]


def test_the_old_copy_is_not_saved_from_while_efs_reports_a_client_connected(aws):
    """Stopped apps are not enough: a worker that mounted the old copy before the fence
    keeps writing to it (EFS judges the policy only when a client connects)."""
    desired, flipped, _, old, new = failed_over(aws)
    aws.set_client_connections_interval(0.2)  # EFS's per-minute points, sooner
    worker = aws.mount(old.name, PRIMARY, client_id="batch-job")
    clock = ManualClock(time.time())  # CloudWatch's timestamps are real time
    standby = reconciler(aws, clock, region=PRIMARY)
    fenced = standby.reconcile(flipped)
    assert [o.action for o in fenced.outcomes] == ["FenceFileSystem"]
    with pytest.raises(MountRefused):  # new writers are kept out from now on ...
        aws.mount(old.name, PRIMARY)
    (old / "home/research/alice/still-writing.txt").write_text("after the fence")  # ... not it
    for _ in range(3):
        result = standby.reconcile(flipped)
        assert result.plan.actions == ()
        assert any("1 client(s) still connected" in n for n in result.plan.notes)
        clock.advance(5)
        time.sleep(0.3)
    assert standby.failover is not None and standby.failover.record.phase == "Fencing"
    assert not (new / RECOVERY_ROOT).exists() and protection(aws, PRIMARY) == "ENABLED"

    aws.unmount(worker)
    # No data point while no client is connected: the last one (1) holds until a later
    # point says 0 or five minutes pass without one.
    clock.advance(time.time() + 301 - clock.now())
    converge(standby, flipped, clock)
    (folder,) = (new / RECOVERY_ROOT).iterdir()
    assert (folder / "home/research/alice/still-writing.txt").read_text() == "after the fence"
    assert protection(aws, PRIMARY) == "DISABLED"


def test_a_lifted_fence_leaves_the_file_system_mountable_by_studio_again(aws):
    desired, flipped, clock, old, new = failed_over(aws)
    converge(reconciler(aws, clock, region=PRIMARY), flipped, clock)
    with pytest.raises(MountRefused, match="ClientWrite"):
        aws.mount(old.name, PRIMARY)
    start_app(aws, PRIMARY, "research", "alice")  # an app in the fenced region fails
    assert app_status(aws, PRIMARY, "research", "alice") == "Failed"
    back_home = active_in(desired, PRIMARY, "back")
    converge(reconciler(aws, clock, region=PRIMARY), back_home, clock)
    assert policy(aws, PRIMARY) is None
    sagemaker = boto3.client("sagemaker", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == "research")
    sagemaker.create_app(DomainId=domain_id, UserProfileName="alice", AppType="JupyterLab",
                         AppName="back-home")
    assert sagemaker.describe_app(DomainId=domain_id, UserProfileName="alice",
                                  AppType="JupyterLab", AppName="back-home")["Status"] == (
        "InService")


def app_status(aws, region: str, domain: str, user: str, name: str = "default") -> str:
    sagemaker = boto3.client("sagemaker", region_name=region, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == domain)
    return str(sagemaker.describe_app(DomainId=domain_id, UserProfileName=user,
                                      AppType="JupyterServer", AppName=name)["Status"])
