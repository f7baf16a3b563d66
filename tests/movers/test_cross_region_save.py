"""The save of late writes across a region boundary, through S3, on the emulator: the
active copy's worker lists it, the old copy's worker (in the other region) sends what
differs as a snapshot, the active copy's worker extracts it into the recovery folder. No
task mounts the other region's file system (the emulator refuses one that tries); the
saved folder is what a local save gives; nothing is left under movers/ in S3."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from controller.gateway import AwsGateway
from controller.movers import SaveJob, run_job
from controller.movers.jobs import ListJob
from controller.movers.regions import RELAY_ENGINE, RegionalWorkers
from controller.movers.worker_task import WorkerFailed, WorkerStillRunning
from tests.movers.conftest import client, make_region
from tests.movers.test_local_mover import make_tree, snapshot_of

RECOVERY = ".studio-operator-recovery/failback-x"


@pytest.fixture
def west(aws):
    return make_region(aws, "us-west-2")


def late_writes(old: Path) -> None:
    """What only the old copy holds after the failover: new, changed, a whole new folder
    (owned by someone else, with a link), and a name no line-oriented format can hold."""
    (old / "home/alice/late.txt").write_text("written after the failover")
    (old / "home/alice/notes.txt").write_text("changed after the failover\n")
    os.utime(old / "home/alice/notes.txt", ns=(1_700_000_000_000_000_000,) * 2)
    (old / "home/bob/new/deeper").mkdir(parents=True)
    (old / "home/bob/new/deeper/data.bin").write_bytes(os.urandom(5000))
    os.symlink("../elsewhere", old / "home/bob/new/link")
    os.chown(old / "home/bob/new/deeper/data.bin", 2001, 3001)
    os.chmod(old / "home/bob/new/deeper", 0o750)
    (old / "home/alice/tab\tand\nnewline").write_text("odd")


def relay(aws, *regions) -> RegionalWorkers:
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=8)
    return RegionalWorkers(gateway, [region.mover(aws) for region in regions])


def local_reference(aws, old: Path, active: Path, tmp_path: Path) -> dict[str, tuple]:
    """The recovery folder the local engine makes from copies of the same two trees."""
    for tree in (old, active):
        subprocess.run(["cp", "-a", str(tree), str(tmp_path / tree.name)], check=True)
    job = SaveJob(old.name, active.name, "failback-x")
    assert run_job(job, tmp_path).engine == "local"
    return snapshot_of(tmp_path / active.name / RECOVERY)



def comparable(tree: dict[str, tuple]) -> dict[str, tuple]:
    """Without link counts (a hard link pair sent in one archive stays a pair; the local
    save writes two files), the list's own mtime (written when each save ended) and its
    order (depth first here; a directory's files before its subdirectories there)."""
    return {path: (mode, uid, None, sorted(body.splitlines())) if path == "saved-files.txt"
            else (mode, uid, mtime, body) for path, (mode, uid, mtime, _, body) in tree.items()}


def objects_left(aws, *regions) -> list[str]:
    left = []
    for region in regions:
        s3 = client(aws, "s3", region.settings.region)
        found = s3.list_objects_v2(Bucket=region.settings.bucket, Prefix="movers/")
        left += [item["Key"] for item in found.get("Contents", [])]
    return left


def test_late_writes_cross_the_region_boundary_through_s3(aws, east, west, tmp_path):
    old, active = west.file_systems[0], east.file_systems[0]
    make_tree(aws.efs_root / old)
    make_tree(aws.efs_root / active)
    late_writes(aws.efs_root / old)
    expected = local_reference(aws, aws.efs_root / old, aws.efs_root / active, tmp_path)
    job = SaveJob(old, active, "failback-x")
    # One region's worker cannot do it: its task may not mount the other's file system.
    with pytest.raises(WorkerFailed, match="ResourceInitializationError"):
        run_job(job, None, east.mover(aws))

    report = run_job(job, None, relay(aws, east, west))
    assert (report.engine, report.ok, report.folder) == (RELAY_ENGINE, True, f"/{RECOVERY}")
    assert comparable(snapshot_of(aws.efs_root / active / RECOVERY)) == comparable(expected)
    assert {(s.path, s.reason) for s in report.saved} == {
        ("home/alice/late.txt", "missing"), ("home/alice/notes.txt", "differs"),
        ("home/alice/hard", "differs"), ("home/bob/", "missing"),
        ("home/bob/new/", "missing"), ("home/bob/new/deeper/", "missing"),
        ("home/bob/new/deeper/data.bin", "missing"), ("home/bob/new/link", "missing"),
        ("home/alice/tab\tand\nnewline", "missing")}
    saved = aws.efs_root / active / RECOVERY / "home/bob/new/deeper/data.bin"
    assert (saved.stat().st_uid, saved.stat().st_gid) == (2001, 3001), "owners kept"
    listed = (aws.efs_root / active / RECOVERY / "saved-files.txt").read_text()
    assert "missing\t0\thome/alice/tab\\tand\\nnewline" in listed.replace("\t3\t", "\t0\t")
    # Each task mounted only its own region's file system, the old copy read-only.
    ecs = {r: client(aws, "ecs", r) for r in ("us-east-1", "us-west-2")}
    mounted = []
    ran = [t for t in aws.worker_tasks() if "exitCode" in t["containers"][0]]
    assert len(ran) == 3, "the refused task never ran; list, send, receive did"
    for task in ran:
        region = task["taskArn"].split(":")[3]
        definition = ecs[region].describe_task_definition(
            taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
        points = definition["containerDefinitions"][0]["mountPoints"]
        mounted += [(region, p["sourceVolume"], p["readOnly"]) for p in points]
    assert sorted(set(mounted)) == [("us-east-1", active, False), ("us-east-1", active, True),
                                    ("us-west-2", old, True)]
    assert objects_left(aws, east, west) == [], "specs, listing, archive, reports removed"
    assert sorted(os.listdir(aws.efs_root / active / RECOVERY)) == ["home", "saved-files.txt"], \
        "no staging folder left"


def test_a_second_run_changes_nothing_and_an_identical_copy_saves_nothing(aws, east, west):
    old, active = west.file_systems[0], east.file_systems[0]
    make_tree(aws.efs_root / old)
    shutil.copytree(aws.efs_root / old, aws.efs_root / active, symlinks=True,
                    dirs_exist_ok=True)
    for path in (aws.efs_root / old).rglob("*"):  # copytree keeps mtimes only of files
        os.utime(aws.efs_root / active / path.relative_to(aws.efs_root / old),
                 ns=(path.lstat().st_atime_ns, path.lstat().st_mtime_ns),
                 follow_symlinks=False)
    mover = relay(aws, east, west)
    report = run_job(SaveJob(old, active, "failback-x"), None, mover)
    assert report.ok and report.saved == () and report.compared > 5
    assert os.listdir(aws.efs_root / active / RECOVERY) == ["saved-files.txt"]
    late_writes(aws.efs_root / old)
    first = run_job(SaveJob(old, active, "failback-y"), None, mover)
    again = run_job(SaveJob(old, active, "failback-y"), None, mover)
    assert first.saved == again.saved and len(first.saved) == 9
    assert objects_left(aws, east, west) == []


def test_throttling_and_5xx_on_s3_and_ecs_converge(aws, east, west):
    old, active = west.file_systems[0], east.file_systems[0]
    make_tree(aws.efs_root / old)
    make_tree(aws.efs_root / active)
    late_writes(aws.efs_root / old)
    aws.set_faults(0.25, kinds=("throttle", "5xx"), services={"s3", "ecs"}, seed=11)
    try:
        report = run_job(SaveJob(old, active, "failback-x"), None, relay(aws, east, west))
        injected = aws.faults_snapshot()["injected"]
    finally:
        aws.clear_faults()
    assert report.ok and len(report.saved) == 9
    assert sum(injected.values()) > 0
    assert (aws.efs_root / active / RECOVERY / "home/alice/late.txt").read_text() == \
        "written after the failover"
    assert len(aws.worker_tasks()) == 3, "one task per step, no second"
    assert objects_left(aws, east, west) == []


def test_a_restarted_controller_adopts_the_running_step(aws, east, west):
    aws.set_transition_seconds(1.0)
    old, active = west.file_systems[0], east.file_systems[0]
    make_tree(aws.efs_root / old)
    make_tree(aws.efs_root / active)
    late_writes(aws.efs_root / old)
    job = SaveJob(old, active, "failback-x")
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=8)
    # The first controller stops following soon after starting the listing (as one that
    # was killed would): the task runs on without it.
    gone = RegionalWorkers(gateway, [r.mover(aws, follow_seconds=0.2) for r in (east, west)])
    with pytest.raises(WorkerStillRunning):
        run_job(job, None, gone)
    (listing,) = aws.worker_tasks()
    assert listing["lastStatus"] != "STOPPED"
    report = run_job(job, None, relay(aws, east, west))  # a new controller, same job
    assert report.ok and len(report.saved) == 9
    assert len(aws.worker_tasks()) == 3, "the listing step was adopted, not started again"
    assert objects_left(aws, east, west) == []


def test_the_run_commands_json_names_the_other_regions_workers(aws, east, west):
    import json

    from controller.movers.worker_task import regional_settings

    def of(region):
        s = region.settings
        return {"cluster": s.cluster, "subnets": list(s.subnets), "bucket": s.bucket,
                "securityGroups": list(s.security_groups), "taskRoleArn": s.task_role_arn,
                "executionRoleArn": s.execution_role_arn, "image": s.image}
    text = json.dumps({**of(east), "regions": {"us-west-2": of(west)}})
    here, there = regional_settings("us-east-1", text)
    assert (here.region, here.bucket, there.region, there.bucket) == (
        "us-east-1", east.settings.bucket, "us-west-2", west.settings.bucket)
    assert len(regional_settings("us-east-1", json.dumps(of(east)))) == 1
    with pytest.raises(ValueError, match="lacks 'cluster'"):
        regional_settings("us-east-1", json.dumps({**of(east), "regions": {"us-west-2": {}}}))


def test_a_listing_that_cannot_be_uploaded_is_aborted_by_the_worker(aws, east):
    """A worker whose relay upload fails aborts it (S3 keeps no parts of it): the worker's
    own role grants s3:AbortMultipartUpload under movers/relay/ for this."""
    active = east.file_systems[0]
    make_tree(aws.efs_root / active)
    bucket = east.settings.bucket
    job = ListJob(active, f"s3://{bucket}/movers/relay/abort-test/", "us-east-1")
    aws.reset_request_counts()
    aws.set_faults(1.0, kinds=("5xx",), operations={"s3:UploadPart"})
    with pytest.raises(WorkerFailed):
        east.mover(aws).run(job)
    aws.clear_faults()
    assert aws.request_counts().get("s3:AbortMultipartUpload", 0) >= 1
    uploads = client(aws, "s3", "us-east-1").list_multipart_uploads(
        Bucket=bucket, Prefix="movers/relay/")
    assert not uploads.get("Uploads"), "no parts of the failed listing kept"
