"""A Restore into a file system the controller does not mount runs on a worker task in
the target's region (the emulator runs it as a local `studioctl worker` process), with
the same staging, verification, owner policy and report as a restore in the controller;
and a controller restarted while the worker runs adopts it instead of starting another.
Against the emulator, with real folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.gateway import AwsGateway
from controller.loop.factory import make_reconciler
from controller.loop.reconciler import Reconciler
from controller.loop.workqueue import Backoff
from controller.movers.worker_task import WorkerSettings, WorkerTaskMover
from controller.snapshots.remap import SET_ID_BITS
from tests.converge import helpers
from tests.converge.helpers import converge, file_system, prepared
from tests.snapshots.helpers import compare_trees, generate_tree
from tests.snapshots.test_controller import DAILY, REPO, RESTORE, _restore_until_done

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _client(aws, service: str):
    return boto3.client(service, region_name=REGION, endpoint_url=aws.endpoint_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def estate_workers(aws, fs_id: str) -> WorkerSettings:
    """Where workers run for the estate's file system: its mount target's subnet, a
    security group its mount target lets in on NFS, a cluster and a bucket for jobs."""
    efs, ec2 = _client(aws, "efs"), _client(aws, "ec2")
    target = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"][0]
    vpc = ec2.describe_subnets(SubnetIds=[target["SubnetId"]])["Subnets"][0]["VpcId"]
    worker_group = ec2.create_security_group(GroupName="restore-worker", VpcId=vpc,
                                             Description="restore worker")["GroupId"]
    for group in efs.describe_mount_target_security_groups(
            MountTargetId=target["MountTargetId"])["SecurityGroups"]:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049,
            "UserIdGroupPairs": [{"GroupId": worker_group}]}])
    _client(aws, "ecs").create_cluster(clusterName="studio-operator")
    _client(aws, "s3").create_bucket(Bucket="movers-restore")
    return WorkerSettings(
        region=REGION, cluster="studio-operator", subnets=(target["SubnetId"],),
        security_groups=(worker_group,), bucket="movers-restore",
        task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/studio-operator-worker",
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/studio-operator-worker-execution",
        image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/studio-operator:test",
        poll_seconds=0.05, follow_seconds=300.0)


def unmounted_reconciler(aws, clock: ManualClock, root: Path,
                         settings: WorkerSettings) -> Reconciler:
    """A controller that mounts no file system (`root` is empty), with worker tasks."""
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=3)
    made = make_reconciler(gateway, REGION, root, clock, with_status=True,
                           backoff=Backoff(base_seconds=1, max_seconds=30), seed=1)
    made.worker_mover = WorkerTaskMover(gateway, settings)
    helpers._MADE.append(made)  # its jobs are stopped when the test ends
    return made


def daily_estate(aws, tmp_path: Path):
    """The example estate with a daily SnapshotPolicy, converged by a controller that
    mounts the file systems; alice's home on its file system."""
    estate = tmp_path / "desired"
    shutil.copytree(REPO / "desired_state", estate)
    (estate / "snapshots.yaml").write_text(DAILY)
    desired = prepared(aws, load_desired_state(estate))
    clock = ManualClock(1_800_000_000.0)
    rec = helpers.reconciler(aws, clock)
    converge(rec, desired, clock)
    fs = file_system(aws, REGION)["FileSystemId"]
    return estate, desired, clock, rec, fs, aws.efs_root / fs / "home/research/alice"


def snapshotted_alice(aws, tmp_path: Path, files: int = 200, mib: float = 4):
    """The estate converged, alice's home filled and snapshotted (the next day's slot)."""
    estate, desired, clock, rec, fs, alice = daily_estate(aws, tmp_path)
    generate_tree(alice / "work", files=files, mib=mib)
    (alice / "notes.txt").write_text("alice's notes")
    clock.advance(86400)
    converge(rec, desired, clock)
    rec.snapshots.stop()
    (estate / "restore.yaml").write_text(RESTORE)
    return estate, clock, fs, alice


def given_to(source: Path, copy: Path, owner: tuple[int, int]) -> Path:
    """What `owners: target` makes of `source`: every entry the target's, set-id bits
    dropped from files whose owner changed (controller.snapshots.remap; a directory's
    setgid bit grants nothing and stays). `cp -a` keeps hard links, times and modes."""
    subprocess.run(["cp", "-a", str(source), str(copy)], check=True)
    for folder, dirs, names in os.walk(copy):
        for name in dirs + names + ([] if folder != str(copy) else ["."]):
            path = Path(folder) / name
            info = os.lstat(path)
            os.lchown(path, *owner)
            if stat.S_ISLNK(info.st_mode):
                continue
            mode = stat.S_IMODE(info.st_mode)
            if (info.st_uid, info.st_gid) != owner and not stat.S_ISDIR(info.st_mode):
                mode &= ~SET_ID_BITS
            os.chmod(path, mode)
            os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    return copy


def killed_while_its_worker_calls(aws, estate: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                  settings: WorkerSettings, operation: str, what: str) -> None:
    """Run a real `studioctl run` on `estate` (mounting nothing under
    tmp_path/nothing-mounted, with `settings`' worker tasks), hold the worker's
    `operation` with an emulator fault, and SIGKILL the controller once the worker has
    made that call. The fault is still on when this returns."""
    config = json.dumps({
        "cluster": settings.cluster, "subnets": list(settings.subnets),
        "securityGroups": list(settings.security_groups), "bucket": settings.bucket,
        "taskRoleArn": settings.task_role_arn, "executionRoleArn": settings.execution_role_arn,
        "image": settings.image})
    aws.reset_request_counts()
    aws.set_faults(rate=1.0, kinds=("timeout",), operations={operation}, timeout_seconds=6)
    process = subprocess.Popen(
        [sys.executable, "-m", "controller.cli.main", "run", "--desired", str(estate),
         "--region", REGION, "--endpoint-url", aws.endpoint_url, "--efs-root",
         str(tmp_path / "nothing-mounted"), "--metrics-port", "0", "--max-attempts", "1",
         "--resync-seconds", "1", "--lease-seconds", "0", "--worker-config", config,
         "--workdir", str(tmp_path / "work")],
        cwd=REPO, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 120
        while aws.request_counts().get(operation, 0) == 0:
            assert process.poll() is None, "the controller exited early"
            assert time.monotonic() < deadline, f"no worker {what}"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()


def test_a_restore_into_an_unmounted_file_system_runs_on_a_worker_exactly(aws, tmp_path):
    estate, clock, fs, alice = snapshotted_alice(aws, tmp_path)
    desired = load_desired_state(estate)
    (tmp_path / "nothing-mounted").mkdir()
    rec = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted",
                               estate_workers(aws, fs))
    record = _restore_until_done(rec, desired, clock)
    assert record["phase"] == "Succeeded", record
    tasks = aws.worker_tasks()
    assert len(tasks) == 1 and tasks[0]["lastStatus"] == "STOPPED", tasks
    dave = aws.efs_root / fs / "home/analytics/dave"
    (restored,) = [p for p in dave.iterdir() if p.name.startswith("restored-")]
    assert record["report"]["placedIn"] == restored.name
    assert int(record["report"]["files"]) >= 150
    posix = desired.profiles["analytics/dave"].posix
    if os.geteuid() == 0:
        expected = given_to(alice, tmp_path / "expected", (posix.uid, posix.gid))
        assert compare_trees(expected, restored) == []
    else:
        assert (restored / "notes.txt").read_text() == "alice's notes"
    status = rec.status.store.load()[0]["Restore#alice-to-dave"]
    assert "files" in status.conditions[0].message
    assert "on a worker task" in status.conditions[0].message
    assert not [p for p in dave.iterdir() if p.name.startswith(".studio-restore-")]
    plan = rec.reconcile(desired).plan
    assert "RestoreSnapshot" not in {a.name for a in plan.actions}, "never repeated"
    assert len(aws.worker_tasks()) == 1


def test_a_controller_killed_while_its_worker_restores_is_followed_by_one_that_adopts_it(
        aws, tmp_path):
    """A real `studioctl run` (nothing mounted, worker tasks configured) starts the
    restore on a worker and is killed with SIGKILL while the worker is inside it (its
    HeadObject of the archive held by an emulator fault). The controller started after
    it adopts the running worker: one task in all, the restore recorded once, exact."""
    estate, clock, fs, alice = snapshotted_alice(aws, tmp_path, files=120, mib=2)
    settings = estate_workers(aws, fs)
    (tmp_path / "nothing-mounted").mkdir()
    killed_while_its_worker_calls(aws, estate, tmp_path, settings, "s3:HeadObject",
                                  "reached the archive")
    aws.clear_faults()
    (running,) = aws.worker_tasks()
    assert running["lastStatus"] == "RUNNING", "killed while its worker restores"

    desired = load_desired_state(estate)
    restarted = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted", settings)
    record = _restore_until_done(restarted, desired, clock)
    assert record["phase"] == "Succeeded", record
    (task,) = aws.worker_tasks()
    assert task["taskArn"] == running["taskArn"], "adopted, not started again"
    dave = aws.efs_root / fs / "home/analytics/dave"
    (restored,) = [p for p in dave.iterdir() if p.name.startswith("restored-")]
    if os.geteuid() == 0:
        posix = desired.profiles["analytics/dave"].posix
        expected = given_to(alice, tmp_path / "expected", (posix.uid, posix.gid))
        assert compare_trees(expected, restored) == []
    assert not [p for p in dave.iterdir() if p.name.startswith(".studio-restore-")]


def test_a_tampered_snapshot_is_refused_by_the_worker_and_nothing_is_placed(aws, tmp_path):
    """The worker verifies as the controller does: an archive whose bytes changed (the
    same length) is refused, the restore recorded Failed, nothing left in the target."""
    estate, clock, fs, _ = snapshotted_alice(aws, tmp_path, files=60, mib=1)
    s3 = _client(aws, "s3")
    listed = s3.list_objects_v2(Bucket="studio-snapshots-us-east-1",
                                Prefix="studio-snapshots/nightly/home/research/alice/")
    for item in listed["Contents"]:
        if "/archive.tar.zst" in item["Key"]:
            body = bytearray(s3.get_object(Bucket="studio-snapshots-us-east-1",
                                           Key=item["Key"])["Body"].read())
            body[len(body) // 2] ^= 0xFF
            s3.put_object(Bucket="studio-snapshots-us-east-1", Key=item["Key"],
                          Body=bytes(body))
    desired = load_desired_state(estate)
    (tmp_path / "nothing-mounted").mkdir()
    rec = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted",
                               estate_workers(aws, fs))
    record = _restore_until_done(rec, desired, clock)
    assert record["phase"] == "Failed" and "SnapshotRefused" in record["message"], record
    assert len(aws.worker_tasks()) == 1
    dave = aws.efs_root / fs / "home/analytics/dave"
    assert list(dave.iterdir()) == [], "nothing placed, no staging folder left"
    plan = rec.reconcile(desired).plan
    assert "RestoreSnapshot" not in {a.name for a in plan.actions}, "not repeated"


LIVE = """
apiVersion: studio-operator.io/v1alpha1
kind: Restore
metadata: {name: alice-to-dave}
spec:
  from: {profile: research/alice}
  to: {profile: analytics/dave}
  owners: target
"""


def test_a_live_home_is_restored_by_a_worker_mounting_both_homes_file_system(aws, tmp_path):
    """From a live home: the worker mounts the source read-only and the target, and the
    restore is exact (owners given to the target) with nothing else in the target."""
    estate, clock, fs, alice = snapshotted_alice(aws, tmp_path, files=80, mib=1)
    (estate / "restore.yaml").write_text(LIVE)
    desired = load_desired_state(estate)
    (tmp_path / "nothing-mounted").mkdir()
    rec = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted",
                               estate_workers(aws, fs))
    record = _restore_until_done(rec, desired, clock)
    assert record["phase"] == "Succeeded", record
    (task,) = aws.worker_tasks()
    dave = aws.efs_root / fs / "home/analytics/dave"
    (restored,) = list(dave.iterdir())
    assert restored.name == record["report"]["placedIn"]
    if os.geteuid() == 0:
        posix = desired.profiles["analytics/dave"].posix
        expected = given_to(alice, tmp_path / "expected", (posix.uid, posix.gid))
        assert compare_trees(expected, restored) == []
    else:
        assert (restored / "notes.txt").read_text() == "alice's notes"


def test_a_worker_restore_that_ended_while_no_controller_ran_is_read_not_run_again(
        aws, tmp_path):
    """The controller stops (SIGTERM, a lost lease) while its worker restores; the worker
    ends before the next controller starts. That one reads the ended task's report: one
    task in all, one restored folder, the restore recorded once."""
    estate, clock, fs, _alice = snapshotted_alice(aws, tmp_path, files=80, mib=1)
    desired = load_desired_state(estate)
    settings = estate_workers(aws, fs)
    (tmp_path / "nothing-mounted").mkdir()
    first = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted", settings)
    aws.reset_request_counts()
    aws.set_faults(rate=1.0, kinds=("timeout",), operations={"s3:HeadObject"},
                   timeout_seconds=3)
    first.reconcile(desired)
    deadline = time.monotonic() + 120
    while aws.request_counts().get("s3:HeadObject", 0) == 0:  # the worker restores
        assert time.monotonic() < deadline, "no worker reached the archive"
        time.sleep(0.05)
    assert first.snapshots is not None
    first.snapshots.stop()  # lets go of the worker: it runs on, and ends
    aws.clear_faults()
    (task,) = aws.worker_tasks()
    while aws.worker_tasks()[0]["lastStatus"] != "STOPPED":
        assert time.monotonic() < deadline + 120, "the worker never ended"
        time.sleep(0.05)
    restarted = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted", settings)
    record = _restore_until_done(restarted, desired, clock)
    assert record["phase"] == "Succeeded", record
    assert [t["taskArn"] for t in aws.worker_tasks()] == [task["taskArn"]], "read, not rerun"
    dave = aws.efs_root / fs / "home/analytics/dave"
    assert len([p for p in dave.iterdir() if p.name.startswith("restored-")]) == 1
