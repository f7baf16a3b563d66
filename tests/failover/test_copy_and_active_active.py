"""Strategy copy (the replica is kept; a working copy filled by the copy engine takes
over) and active-active mode (the standby region works on a working copy of the replica,
refreshed on a schedule)."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.fencing import ATTACHED_TAG, RECOVERY_ROOT
from tests.converge.helpers import converge, file_system, plan_now, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
PRIMARY, REPLICA = "us-east-1", "us-west-2"


def estate_with(tmp_path: Path, old: str, new: str):
    target = tmp_path / "desired"
    shutil.copytree(EXAMPLE, target)
    estate = target / "estate.yaml"
    assert old in estate.read_text()
    estate.write_text(estate.read_text().replace(old, new))
    return load_desired_state(target)


def file_systems(aws, region: str) -> dict[str, dict]:
    efs = boto3.client("efs", region_name=region, endpoint_url=aws.endpoint_url)
    return {f["FileSystemId"]: f for f in efs.describe_file_systems()["FileSystems"]}


def tags(fs: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in fs.get("Tags", [])}



def users_files(mount: Path) -> dict[str, tuple]:
    home = mount / "home/research/alice"
    (home / "analysis.ipynb").write_text('{"cells": []}')
    os.chown(home / "analysis.ipynb", 200101, 1001)
    os.chmod(home / "analysis.ipynb", 0o640)
    (home / "results.csv").write_text("a,b\n")
    os.link(home / "results.csv", home / "latest.csv")
    os.symlink("analysis.ipynb", home / "notebook-link")
    return fingerprint(mount)


def fingerprint(mount: Path) -> dict[str, tuple]:
    home = mount / "home/research/alice"
    found = {}
    for name in ("analysis.ipynb", "results.csv", "latest.csv", "notebook-link"):
        info = os.lstat(home / name)
        content = os.readlink(home / name) if (home / name).is_symlink() else (
            (home / name).read_text())
        found[name] = (info.st_uid, info.st_gid, info.st_mode, info.st_mtime_ns, content)
    return found


def test_strategy_copy_keeps_the_replica_and_attaches_a_filled_working_copy(aws, tmp_path):
    desired = prepared(aws, estate_with(tmp_path, "strategy: promote", "strategy: copy"))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    old = aws.efs_root / file_system(aws, PRIMARY, "studio-efs")["FileSystemId"]
    before = users_files(old)
    aws.sync_replication()
    replica_id = file_system(aws, REPLICA, "studio-efs")["FileSystemId"]

    flipped = replace(desired, estate=replace(desired.estate, active_region=REPLICA),
                      revision="flipped")
    new_region = reconciler(aws, clock, region=REPLICA)
    first = new_region.reconcile(flipped)
    assert [a.name for a in first.plan.actions] == ["CreateWorkingCopy"], (
        "nothing else until the working copy serves")
    converge(new_region, flipped, clock)

    working = next(f for f in file_systems(aws, REPLICA).values()
                   if tags(f).get(ATTACHED_TAG) == "true")
    working_id = working["FileSystemId"]
    assert working.get("Name") == "studio-efs-working-copy"
    assert fingerprint(aws.efs_root / working_id) == before, "owners, modes, times, links"
    home = aws.efs_root / working_id / "home/research/alice"
    assert os.lstat(home / "latest.csv").st_ino == os.lstat(home / "results.csv").st_ino
    # The replica is kept as it was: every file, no longer written by replication.
    replica = file_systems(aws, REPLICA)[replica_id]
    assert fingerprint(aws.efs_root / replica_id) == before
    assert replica["FileSystemProtection"]["ReplicationOverwriteProtection"] == "ENABLED"
    # Profiles use the working copy.
    sagemaker = boto3.client("sagemaker", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    domains = {d["DomainName"]: d["DomainId"] for d in sagemaker.list_domains()["Domains"]}
    alice = sagemaker.describe_user_profile(DomainId=domains["research"],
                                            UserProfileName="alice")["UserSettings"]
    assert {c["EFSFileSystemConfig"]["FileSystemId"]
            for c in alice["CustomFileSystemConfigs"]} == {working_id}
    assert new_region.failover is not None
    assert new_region.failover.record.phase == "Complete"
    assert any("kept as it was" in n for n in plan_now(aws, flipped, REPLICA).notes)

    # Failback from the working copy: the old region saves its late writes, then takes
    # replication from the working copy.
    (old / "home/research/alice/late.txt").write_text("after the failover")
    converge(reconciler(aws, clock, region=PRIMARY), flipped, clock)
    (folder,) = (aws.efs_root / working_id / RECOVERY_ROOT).iterdir()
    assert (folder / "home/research/alice/late.txt").read_text() == "after the failover"
    converge(new_region, flipped, clock)
    aws.sync_replication()
    assert (old / RECOVERY_ROOT / folder.name).is_dir(), "replicated from the working copy"


def test_active_active_standby_works_on_a_refreshed_working_copy(aws, tmp_path):
    desired = prepared(aws, estate_with(tmp_path, "mode: active-passive",
                                        "mode: active-active"))
    clock = ManualClock()
    primary = reconciler(aws, clock)
    converge(primary, desired, clock)
    source = aws.efs_root / file_system(aws, PRIMARY, "studio-efs")["FileSystemId"]
    before = users_files(source)
    aws.sync_replication()

    standby = reconciler(aws, clock, region=REPLICA)
    converge(standby, desired, clock)
    working_id = next(fs_id for fs_id, f in file_systems(aws, REPLICA).items()
                      if f.get("Name") == "studio-efs-working-copy")
    working = aws.efs_root / working_id
    assert fingerprint(working) == before
    sagemaker = boto3.client("sagemaker", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    domains = {d["DomainName"]: d["DomainId"] for d in sagemaker.list_domains()["Domains"]}
    assert sorted(domains) == ["analytics", "research"], "the standby keeps its own domains"
    bob = sagemaker.describe_user_profile(DomainId=domains["research"],
                                          UserProfileName="bob")["UserSettings"]
    assert {c["EFSFileSystemConfig"]["FileSystemId"]
            for c in bob["CustomFileSystemConfigs"]} == {working_id}
    assert plan_now(aws, desired, REPLICA).actions == ()

    # Work in both regions; the refresh comes on the schedule and keeps newer local work.
    (source / "home/research/alice/new-in-primary.txt").write_text("from the primary")
    aws.sync_replication()
    local = working / "home/research/bob/standby-work.txt"
    local.write_text("written in the standby region")
    clock.advance(30 * 60)
    assert [a.name for a in standby.reconcile(desired).plan.actions] == [], "not due yet"
    assert not (working / "home/research/alice/new-in-primary.txt").exists()
    clock.advance(31 * 60)
    refreshed = standby.reconcile(desired)
    assert [(o.action, o.outcome) for o in refreshed.outcomes] == [("FillWorkingCopy", "ok")]
    assert (working / "home/research/alice/new-in-primary.txt").read_text() == "from the primary"
    assert local.read_text() == "written in the standby region", "never removed"
    assert fingerprint(working) == before
