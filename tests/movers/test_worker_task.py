"""The worker-task engine end to end on the emulator: RunTask starts `studioctl worker`
with the task definition's EFS volumes, the controller follows it and reads its report
from S3; a restarted controller adopts a running worker; a killed one is started again;
ECS and S3 faults change nothing; a task cannot mount a file system of another region."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from controller.gateway import AwsGateway
from controller.movers import CopyJob, SaveJob, run_job
from controller.movers.worker_task import (
    WorkerFailed,
    WorkerSettings,
    WorkerStillRunning,
    WorkerTaskMover,
    job_id,
)
from tests.movers.conftest import client, make_region
from tests.movers.test_local_mover import make_tree, shape_of, snapshot_of


def fill(root: Path, files: int = 0) -> None:
    make_tree(root)
    for n in range(files):
        (root / f"home/bulk/{n // 100:03d}").mkdir(parents=True, exist_ok=True)
        (root / f"home/bulk/{n // 100:03d}/{n}.txt").write_text(f"file {n}\n" * 20)


def counts(aws, *names: str) -> dict[str, int]:
    seen = aws.request_counts()
    return {name: seen.get(name, 0) for name in names}


def wait_until(check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_a_copy_job_runs_as_a_worker_task_and_reports_through_s3(aws, east):
    source, target = east.file_systems
    fill(aws.efs_root / source, files=50)
    report = run_job(CopyJob(source, target, "working_copy"), None, east.mover(aws))
    assert (report.engine, report.ok) == ("worker", True)
    assert snapshot_of(aws.efs_root / target) == snapshot_of(aws.efs_root / source)
    assert report.files == sum(1 for p in (aws.efs_root / source).rglob("*")
                               if not p.is_dir()) - 2  # a hard link and a symlink: made
    (task,) = aws.worker_tasks()
    assert (task["lastStatus"], task["containers"][0]["exitCode"]) == ("STOPPED", 0)
    assert task["startedBy"] == job_id(CopyJob(source, target, "working_copy"))
    definition = client(aws, "ecs", "us-east-1").describe_task_definition(
        taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
    for volume in definition["volumes"]:
        efs = volume["efsVolumeConfiguration"]
        assert efs["transitEncryption"] == "ENABLED"
        assert efs["authorizationConfig"]["iam"] == "ENABLED"
        assert efs["authorizationConfig"]["accessPointId"].startswith("fsap-")
    points = {p["sourceVolume"]: p["readOnly"]
              for p in definition["containerDefinitions"][0]["mountPoints"]}
    assert points == {source: True, target: False}
    assert not aws.mounts(), "the task unmounted when it stopped"
    left = client(aws, "s3", "us-east-1").list_objects_v2(Bucket=east.settings.bucket,
                                                         Prefix="movers/")
    assert left.get("KeyCount", 0) == 0, "the job's spec and report are removed once read"


def test_the_same_file_systems_reuse_one_task_definition_and_access_points(aws, east):
    source, target = east.file_systems
    fill(aws.efs_root / source)
    mover = east.mover(aws)
    run_job(CopyJob(source, target, "working_copy"), None, mover)
    (aws.efs_root / source / "home/alice/new.txt").write_text("later")
    second = run_job(CopyJob(source, target, "active_active"), None, mover)
    assert second.files == 1
    assert counts(aws, "ecs:RegisterTaskDefinition", "ecs:RunTask") == {
        "ecs:RegisterTaskDefinition": 1, "ecs:RunTask": 2}
    points = client(aws, "efs", "us-east-1").describe_access_points()["AccessPoints"]
    assert sorted(p["FileSystemId"] for p in points) == sorted(east.file_systems)


def test_a_controller_restarted_while_a_worker_runs_adopts_it(aws, east):
    aws.set_transition_seconds(1.0)  # Fargate provisions for a while: the restart is then
    source, target = east.file_systems
    fill(aws.efs_root / source, files=200)
    job = CopyJob(source, target, "working_copy")
    # The first controller stops following soon after RunTask, as a killed one would
    # (two live followers would race for the report, which the first to read removes).
    with pytest.raises(WorkerStillRunning):
        run_job(job, None, east.mover(aws, follow_seconds=0.2))
    assert [t["lastStatus"] for t in aws.worker_tasks()] != ["STOPPED"]
    report = east.mover(aws).run(job)  # a new controller takes the job up
    assert report.ok and report.files > 200
    assert counts(aws, "ecs:RunTask")["ecs:RunTask"] == 1, "adopted, not started twice"
    assert len(aws.worker_tasks()) == 1
    assert snapshot_of(aws.efs_root / target) == snapshot_of(aws.efs_root / source)


def test_a_controller_that_stops_lets_go_of_its_worker_at_once_and_the_next_adopts_it(
        aws, east):
    """Asked to stop (cancelled), the follower lets go within a poll, long before its
    follow time; the worker runs on and the next controller adopts it."""
    aws.set_transition_seconds(1.0)
    source, target = east.file_systems
    fill(aws.efs_root / source, files=200)
    job = CopyJob(source, target, "working_copy")
    began = time.monotonic()
    with pytest.raises(WorkerStillRunning):
        east.mover(aws, follow_seconds=600.0).run(job, None, lambda: True)
    assert time.monotonic() - began < 30, "let go at once, not after follow_seconds"
    assert [t["lastStatus"] for t in aws.worker_tasks()] != ["STOPPED"]
    report = east.mover(aws).run(job)
    assert report.ok and counts(aws, "ecs:RunTask")["ecs:RunTask"] == 1
    assert snapshot_of(aws.efs_root / target) == snapshot_of(aws.efs_root / source)


def test_a_worker_killed_mid_job_is_started_again_and_nothing_is_lost(aws, east):
    source, target = east.file_systems
    fill(aws.efs_root / source, files=300)
    job = CopyJob(source, target, "working_copy")
    outcome: list[BaseException] = []

    def first_attempt():
        try:
            run_job(job, None, east.mover(aws))
        except BaseException as error:  # noqa: BLE001 - what the executor would see
            outcome.append(error)
    attempt = threading.Thread(target=first_attempt, daemon=True)
    attempt.start()
    task = wait_until(lambda: [t for t in aws.worker_tasks() if t["lastStatus"] == "RUNNING"])
    assert aws.kill_worker_task(task[0]["taskArn"])
    attempt.join(timeout=60)
    assert outcome and isinstance(outcome[0], WorkerFailed), outcome
    assert "exit code 137" in str(outcome[0])
    report = run_job(job, None, east.mover(aws))  # the executor's retry
    assert report.ok
    assert snapshot_of(aws.efs_root / target) == snapshot_of(aws.efs_root / source)
    first, second = sorted(aws.worker_tasks(), key=lambda t: t["createdAt"])
    assert first["stoppedAt"] <= second["createdAt"], "never two workers at once"
    assert not list((aws.efs_root / target).rglob(".*copy*")), "no half-written files left"


def test_throttling_and_5xx_on_ecs_and_s3_start_one_worker_and_lose_nothing(aws, east):
    source, target = east.file_systems
    fill(aws.efs_root / source, files=20)
    aws.set_faults(0.3, kinds=("throttle", "5xx"), services={"ecs", "s3"},
                   seed=7)
    try:
        report = run_job(CopyJob(source, target, "working_copy"), None, east.mover(aws))
        injected = aws.faults_snapshot()["injected"]
    finally:
        aws.clear_faults()
    assert report.ok
    assert sum(injected.values()) > 0, "faults were injected and retried through"
    assert snapshot_of(aws.efs_root / target) == snapshot_of(aws.efs_root / source)
    assert len(aws.worker_tasks()) == 1


def test_a_task_cannot_mount_a_file_system_of_another_region(aws, east):
    west = make_region(aws, "us-west-2", file_systems=0)
    source, target = east.file_systems
    fill(aws.efs_root / source)
    with pytest.raises(WorkerFailed, match="ResourceInitializationError.*us-west-2"):
        run_job(CopyJob(source, target, "working_copy"), None, west.mover(aws))
    (task,) = aws.worker_tasks()
    assert task["stopCode"] == "TaskFailedToStart" and "exitCode" not in task["containers"][0]
    assert not (aws.efs_root / target / "home").exists()


def test_a_save_job_reads_a_fenced_old_copy_through_a_read_only_mount(aws, east):
    old, active = east.file_systems
    fill(aws.efs_root / old)
    fill(aws.efs_root / active)
    (aws.efs_root / old / "home/alice/late.txt").write_text("written after the failover")
    client(aws, "efs", "us-east-1").put_file_system_policy(FileSystemId=old, Policy=(
        '{"Version": "2012-10-17", "Statement": [{"Sid": "Fence", "Effect": "Deny", '
        '"Principal": {"AWS": "*"}, "Action": ["elasticfilesystem:ClientWrite"], '
        '"Resource": "*"}]}'))
    report = run_job(SaveJob(old, active, "failback-1"), None, east.mover(aws))
    assert [s.path for s in report.saved] == ["home/alice/late.txt"]
    saved = aws.efs_root / active / ".studio-operator-recovery/failback-1/home/alice/late.txt"
    assert saved.read_text() == "written after the failover"
    assert report.summary.startswith("saved 1 entries")
    assert shape_of(aws.efs_root / old / "home") == shape_of(aws.efs_root / active / "home") | {
        "alice/late.txt": shape_of(aws.efs_root / old / "home")["alice/late.txt"]}
    assert os.stat(saved).st_size == len("written after the failover")


def test_settings_from_the_run_commands_json_and_the_stacks_access_points(aws, east):
    source, target = east.file_systems
    given = client(aws, "efs", "us-east-1").create_access_point(
        FileSystemId=source, ClientToken="stack-made")["AccessPointId"]
    text = json.dumps({
        "cluster": "studio-operator", "subnets": list(east.settings.subnets),
        "securityGroups": list(east.settings.security_groups), "bucket": east.settings.bucket,
        "taskRoleArn": east.settings.task_role_arn,
        "executionRoleArn": east.settings.execution_role_arn, "image": east.settings.image,
        "accessPoints": {source: given}})
    settings = WorkerSettings.from_json("us-east-1", text)
    assert settings.access_points == ((source, given),)
    with pytest.raises(ValueError, match="lacks 'cluster'"):
        WorkerSettings.from_json("us-east-1", '{"subnets": []}')
    fill(aws.efs_root / source)
    aws.reset_request_counts()
    mover = WorkerTaskMover(AwsGateway(endpoint_url=aws.endpoint_url),
                            replace(settings, poll_seconds=0.05))
    assert run_job(CopyJob(source, target, "working_copy"), None, mover).ok
    assert counts(aws, "efs:CreateAccessPoint") == {"efs:CreateAccessPoint": 1}, "target only"
    (task,) = aws.worker_tasks()
    definition = client(aws, "ecs", "us-east-1").describe_task_definition(
        taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
    used = {v["name"]: v["efsVolumeConfiguration"]["authorizationConfig"]["accessPointId"]
            for v in definition["volumes"]}
    assert used[source] == given


def test_task_definitions_beyond_the_kept_count_are_deregistered(aws):
    region = make_region(aws, "us-east-1", file_systems=4)
    first, *others = region.file_systems
    ecs = client(aws, "ecs", "us-east-1")
    mover = region.mover(aws, definitions_kept=2)
    used = []
    fill(aws.efs_root / first)
    for other in others:  # three sets of file systems: three task definitions
        assert run_job(CopyJob(first, other, "working_copy"), None, mover).ok
        used.append(max(aws.worker_tasks(), key=lambda t: t["createdAt"])["taskDefinitionArn"])
    active = ecs.list_task_definition_families(familyPrefix="studio-operator-worker-",
                                               status="ACTIVE")["families"]
    assert len(active) == 2, active
    oldest = ecs.describe_task_definition(taskDefinition=used[0])["taskDefinition"]
    assert oldest["status"] == "INACTIVE", "the least recently registered went first"
    with pytest.raises(ecs.exceptions.ClientException, match="inactive"):
        ecs.run_task(cluster="studio-operator", taskDefinition=used[0], launchType="FARGATE",
                     networkConfiguration={"awsvpcConfiguration": {
                         "subnets": list(region.settings.subnets)}})
    # The set needed again is registered again and runs.
    (aws.efs_root / first / "home/again.txt").write_text("again")
    assert run_job(CopyJob(first, others[0], "working_copy"), None, mover).ok
    assert (aws.efs_root / others[0] / "home/again.txt").read_text() == "again"
