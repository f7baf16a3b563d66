"""The standby region's failback steps, in order, each only once the one before is seen
done; and the active region lifting a fence. Pure: made-up observations, no AWS."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.observed import (
    ObservedApp,
    ObservedFileSystem,
    ObservedReplication,
    ObservedTakeover,
)
from controller.plan import make_plan
from tests.plan.estates import PRIMARY, REPLICA, empty, estate

STAMP = "20261122T235959Z"
OLD = ObservedFileSystem("fs-1", "available", "studio-efs", "ENABLED")  # standalone now
ACTIVE = ObservedFileSystem("fs-2", "available", "studio-efs", "ENABLED")  # promoted
DOMAINS = {"research": [("alice", 200101, 1001)]}
APP = ObservedApp("research", "d-1", "JupyterServer", "default", user_profile="alice")


def standby(mine=OLD, theirs=ACTIVE, apps=(), recovery=None, takeover="taken over"):
    """PRIMARY after the flag moved to REPLICA (which has recorded its takeover, unless
    `takeover` gives another record)."""
    desired = estate(DOMAINS)
    desired = replace(desired, estate=replace(desired.estate, active_region=REPLICA))
    observed = empty(PRIMARY)
    refs = replace(observed.references, file_systems={"efs": mine},
                   remote_file_systems={"efs": theirs})
    if takeover == "taken over":
        takeover = ObservedTakeover(REPLICA, REPLICA, "Complete", desired.revision)
    observed = replace(observed, references=refs, running_apps=tuple(apps),
                       recoveries={"efs": recovery} if recovery else {}, takeover=takeover)
    return make_plan(desired, observed)


def names(plan) -> list[str]:
    return [a.name for a in plan.actions]


def test_first_the_apps_are_stopped_and_the_copy_fenced_nothing_else():
    plan = standby(apps=[APP])
    assert names(plan) == ["StopStudioApps", "FenceFileSystem"]
    assert plan.actions[0].params["Apps"] == [{"DomainId": "d-1", "AppType": "JupyterServer",
                                               "AppName": "default",
                                               "UserProfileName": "alice"}]


def test_saving_waits_until_every_app_has_stopped():
    fenced = replace(OLD, fenced_at=STAMP)
    stopping = replace(APP, status="Deleting")
    plan = standby(fenced, apps=[stopping], recovery="pending")
    assert names(plan) == []
    assert any("apps are stopping" in n for n in plan.notes)


def test_fenced_and_quiet_the_old_copy_is_saved_into_the_active_copy():
    plan = standby(replace(OLD, fenced_at=STAMP), recovery="pending")
    (save,) = plan.actions
    assert save.name == "SaveUnreplicatedWrites"
    assert save.params == {"FileSystemId": "fs-1", "ActiveFileSystemId": "fs-2",
                           "Folder": f"{STAMP}-{PRIMARY}-fs-1", "LogicalName": "efs"}


def test_only_once_saved_is_overwrite_protection_turned_off():
    plan = standby(replace(OLD, fenced_at=STAMP), recovery="saved")
    assert names(plan) == ["AllowReplicationOverwrite"]
    done = standby(replace(OLD, fenced_at=STAMP, replication_overwrite_protection="DISABLED"),
                   recovery="saved")
    assert names(done) == [] and any("ready for failback" in n for n in done.notes)


def test_an_unmounted_active_copy_is_a_problem_and_nothing_is_opened():
    plan = standby(replace(OLD, fenced_at=STAMP), recovery="unmounted")
    assert names(plan) == []
    assert any("is not mounted" in p for p in plan.problems)


@pytest.mark.parametrize("mine, theirs, why", [
    (replace(OLD, replication=ObservedReplication("fs-1", PRIMARY, "fs-2", REPLICA,
                                                  "ENABLED")),
     replace(ACTIVE, replication=ObservedReplication("fs-1", PRIMARY, "fs-2", REPLICA,
                                                     "ENABLED")),
     "has promoted its replica"),
    (OLD, None, "holds no copy"),
])
def test_the_old_copy_is_only_fenced_while_the_active_copy_is_not_writable(mine, theirs, why):
    plan = standby(replace(mine, fenced_at=STAMP), theirs, recovery="pending")
    assert names(plan) == []
    assert any(why in n for n in plan.notes)


def test_a_replica_in_the_standby_region_is_left_alone():
    plan = make_plan(estate(DOMAINS), empty(REPLICA))
    assert plan.actions == ()


def test_the_active_region_lifts_its_fence_and_holds_directories_meanwhile():
    desired = estate(DOMAINS)
    observed = empty(PRIMARY)
    fenced = replace(OLD, fenced_at=STAMP, replication_overwrite_protection="DISABLED")
    observed = replace(observed, references=replace(observed.references,
                                                    file_systems={"efs": fenced}))
    plan = make_plan(desired, observed)
    assert names(plan)[:2] == ["LiftFence", "EnableOverwriteProtection"]
    assert not any(a.key.kind == "Directory" for a in plan.actions)
    assert any("efs wait until the copy is writable" in n for n in plan.notes)


def test_lost_and_found_folders_are_surfaced_every_pass():
    observed = replace(empty(PRIMARY), lost_and_found={
        "efs": ("efs-replication-lost+found-fs-9-20261122T000000Z",)})
    plan = make_plan(estate(DOMAINS), observed)
    assert any("efs-replication-lost+found-fs-9" in n and "fs-1" in n for n in plan.notes)


def test_a_working_copy_left_by_a_role_change_is_named_and_kept():
    from controller.observed import ObservedWorkingCopy

    observed = empty(PRIMARY)
    refs = replace(observed.references, working_copies={
        "efs": ObservedWorkingCopy("fs-7", "available", copied_at=1.0)})
    plan = make_plan(estate(DOMAINS), replace(observed, references=refs))
    assert not any(a.key.name.startswith("efs/") for a in plan.actions)
    assert any("fs-7 is not used" in n and "kept" in n for n in plan.notes)
