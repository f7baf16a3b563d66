"""The DataSync engine end to end on the emulator through real boto3: a working copy
filled by DataSync (owners, modes, times and links kept), locations and tasks found
again rather than made again, a running execution adopted (never a second one), the
task quota's clear error and the operator's own idle tasks pruned, faults converging,
and the conflict-rule jobs never going to DataSync."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.gateway import AwsGateway
from controller.movers import CopyJob, SaveJob, choose_engine, run_job
from controller.movers.datasync import (
    NAME_PREFIX,
    DataSyncMover,
    DataSyncQuotaExhausted,
    DataSyncSettings,
    DataSyncStillRunning,
)
from tests.movers.conftest import ACCOUNT, Region, client, make_region
from tests.snapshots.helpers import compare_trees, generate_tree


def settings_for(region: Region, **changes) -> DataSyncSettings:
    name = region.settings.region
    return DataSyncSettings(
        region=name,
        subnet_arn=f"arn:aws:ec2:{name}:{ACCOUNT}:subnet/{region.settings.subnets[0]}",
        security_group_arns=tuple(f"arn:aws:ec2:{name}:{ACCOUNT}:security-group/{g}"
                                  for g in region.settings.security_groups),
        **{"poll_seconds": 0.02, "follow_seconds": 120.0, **changes})


def mover(aws, region: Region, **changes) -> DataSyncMover:
    return DataSyncMover(AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=8),
                         settings_for(region, **changes))


def counts(aws, *operations: str) -> dict[str, int]:
    seen = aws.request_counts()
    return {op: seen.get(f"datasync:{op}", 0) for op in operations}


@pytest.fixture
def east(aws) -> Region:
    aws.set_transition_seconds(0.02)
    return make_region(aws, "us-east-1")


def test_a_working_copy_is_filled_by_datasync_keeping_everything(aws, east):
    source, target = east.file_systems
    generate_tree(aws.efs_root / source / "home", files=400, mib=6)
    (aws.efs_root / target / "home").mkdir()
    (aws.efs_root / target / "home" / "already.txt").write_text("kept as it is")
    job = CopyJob(source, target, "working_copy")
    engine = mover(aws, east)
    # Configured for working copies, DataSync takes the job even where both are mounted.
    assert choose_engine(job, aws.efs_root, None, engine) == "datasync"
    report = run_job(job, aws.efs_root, None, datasync=engine)
    assert (report.engine, report.ok) == ("datasync", True)
    (aws.efs_root / target / "home" / "already.txt").unlink()
    assert compare_trees(aws.efs_root / source / "home", aws.efs_root / target / "home") == []
    assert report.files >= 400 and report.bytes > 0
    datasync = client(aws, "datasync", "us-east-1")
    (task,) = datasync.list_tasks()["Tasks"]
    options = datasync.describe_task(TaskArn=task["TaskArn"])["Options"]
    assert (options["OverwriteMode"], options["PosixPermissions"], options["Uid"],
            options["VerifyMode"]) == ("NEVER", "PRESERVE", "INT_VALUE",
                                       "ONLY_FILES_TRANSFERRED")


def test_a_second_run_reuses_the_locations_and_the_task(aws, east):
    source, target = east.file_systems
    (aws.efs_root / source / "a.txt").write_text("one")
    job = CopyJob(source, target, "working_copy")
    first = mover(aws, east).run(job)
    (aws.efs_root / source / "b.txt").write_text("two")
    second = mover(aws, east).run(job)  # a new controller: nothing remembered in memory
    assert (first.files, second.files, second.skipped) == (1, 1, 1)
    assert counts(aws, "CreateLocationEfs", "CreateTask", "StartTaskExecution") == {
        "CreateLocationEfs": 2, "CreateTask": 1, "StartTaskExecution": 2}
    assert first.extra["task"] == second.extra["task"]


def test_a_restarted_controller_adopts_the_running_execution(aws, east):
    aws.set_transition_seconds(0.5)  # long enough for the first controller to let go
    source, target = east.file_systems
    generate_tree(aws.efs_root / source / "data", files=200, mib=2)
    job = CopyJob(source, target, "working_copy")
    with pytest.raises(DataSyncStillRunning):
        mover(aws, east, follow_seconds=0.1).run(job)
    report = mover(aws, east).run(job)
    assert report.ok and report.files >= 200
    assert counts(aws, "StartTaskExecution") == {"StartTaskExecution": 1}, "adopted"
    assert compare_trees(aws.efs_root / source / "data", aws.efs_root / target / "data") == []


def test_a_full_quota_is_a_clear_error_and_the_operators_idle_tasks_are_pruned(aws, east):
    source, target = east.file_systems
    datasync = client(aws, "datasync", "us-east-1")
    engine = mover(aws, east, tasks_kept=2)
    for n in range(3):  # three jobs: the oldest idle task of the operator makes room
        (aws.efs_root / source / f"d{n}").mkdir()
        engine.run(CopyJob(source, target, "working_copy", f"d{n}", f"d{n}"))
    names = [t["Name"] for t in datasync.list_tasks()["Tasks"]]
    assert len(names) == 2 and all(n.startswith(NAME_PREFIX) for n in names)
    assert len(datasync.list_locations()["Locations"]) == 4, "the pruned task's went too"
    # Someone else's tasks fill the rest of the quota.
    locations = [loc["LocationArn"] for loc in datasync.list_locations()["Locations"]]
    for n in range(98):
        datasync.create_task(SourceLocationArn=locations[0],
                             DestinationLocationArn=locations[1], Name=f"theirs-{n}")
    engine = mover(aws, east, tasks_kept=50)  # room for itself, but AWS has none
    (aws.efs_root / source / "new").mkdir()
    with pytest.raises(DataSyncQuotaExhausted, match="quota of us-east-1 is full"):
        engine.run(CopyJob(source, target, "working_copy", "new", "new"))


def test_throttling_and_server_errors_converge(aws, east):
    source, target = east.file_systems
    generate_tree(aws.efs_root / source / "t", files=100, mib=1)
    aws.set_faults(0.3, kinds=("throttle", "5xx"), services={"datasync", "efs"}, seed=3)
    report = mover(aws, east).run(CopyJob(source, target, "working_copy"))
    aws.clear_faults()
    assert report.ok
    assert compare_trees(aws.efs_root / source / "t", aws.efs_root / target / "t") == []
    assert counts(aws, "CreateTask")["CreateTask"] >= 1
    assert len(client(aws, "datasync", "us-east-1").list_tasks()["Tasks"]) == 1, \
        "no duplicate task"


def test_conflict_rule_jobs_never_go_to_datasync(aws, east):
    source, target = east.file_systems
    engine = mover(aws, east)
    refresh = CopyJob(source, target, "active_active")
    save = SaveJob(source, target, "recovery/x")
    assert choose_engine(refresh, aws.efs_root, None, engine) == "local"
    assert choose_engine(save, aws.efs_root, None, engine) == "local"
    with pytest.raises(ValueError, match="conflict rules"):
        replace(settings_for(east), purposes=("working_copy", "active_active"))
    assert counts(aws, "CreateTask") == {"CreateTask": 0}


def test_the_stacks_role_goes_to_every_location_with_tls(aws, east):
    source, target = east.file_systems
    (aws.efs_root / source / "a.txt").write_text("one")
    role = f"arn:aws:iam::{ACCOUNT}:role/stack-DataSyncFileSystemRole-1"
    mover(aws, east, file_system_access_role_arn=role).run(CopyJob(source, target,
                                                                   "working_copy"))
    datasync = client(aws, "datasync", "us-east-1")
    described = [datasync.describe_location_efs(LocationArn=found["LocationArn"])
                 for found in datasync.list_locations()["Locations"]]
    assert [(d["FileSystemAccessRoleArn"], d["InTransitEncryption"]) for d in described] == [
        (role, "TLS1_2")] * 2
