"""A controller that stops while its snapshots run on worker tasks is followed by one that
ADOPTS them: the same recorded job (same snapshot id, same digest) finds the running task,
or reads the report of one that ended meanwhile; no second task, no second snapshot of
the slot, the worker's multipart upload not aborted under it. A worker that fails after
the restart still has its upload aborted and the slot taken again.

The first controller mounts nothing and has worker tasks (the emulator runs each as a
local `studioctl worker` process). Its workers are held inside their first UploadPart
by an emulator fault; it then stops as at SIGTERM or a lost lease (its jobs let go of the
workers). Against the emulator, with real folders; the kill -9 of a real `studioctl run`
is in test_snapshot_adoption_kill9.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import boto3

from controller.loop.reconciler import Reconciler
from controller.movers.jobs import SnapshotJob, job_from_json
from controller.snapshots.manifest import MANIFEST_NAME
from tests.snapshots.helpers import generate_tree
from tests.snapshots.test_controller import BUCKET, PREFIX
from tests.snapshots.test_restore_on_worker import (
    daily_estate,
    estate_workers,
    unmounted_reconciler,
)

PK = "snapshotpolicy#nightly"
ALICE = "home/research/alice/home"


def s3_client(aws):  # type: ignore[no-untyped-def]
    return boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)


def manifests(aws) -> list[str]:
    listed = s3_client(aws).list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return sorted(o["Key"] for o in listed if o["Key"].endswith(MANIFEST_NAME))


def open_uploads(aws) -> list[dict]:
    return list(s3_client(aws).list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))


def wait_for(check, what: str, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def held_then_stopped(aws, tmp_path: Path, hold: float = 4.0):  # type: ignore[no-untyped-def]
    """The daily estate; the next day's slot started by a controller mounting nothing, on
    one worker task per home (alice's filled, bob's empty), each held inside its first
    UploadPart; then that controller stops. Answers (desired, clock, settings, the
    held tasks, the recorded jobs, the open uploads); the hold is still on."""
    _estate, desired, clock, rec, fs, alice = daily_estate(aws, tmp_path)
    rec.snapshots.stop()
    generate_tree(alice / "work", files=120, mib=3)
    (tmp_path / "nothing-mounted").mkdir()
    settings = estate_workers(aws, fs)
    first = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted", settings)
    clock.advance(86400)
    aws.reset_request_counts()
    aws.set_faults(rate=1.0, kinds=("timeout",), operations={"s3:UploadPart"},
                   timeout_seconds=hold)
    assert "TakeSnapshots" in {a.name for a in first.reconcile(desired).plan.actions}
    wait_for(lambda: len(open_uploads(aws)) == 2
             and aws.request_counts().get("s3:UploadPart", 0) >= 2, "both workers upload")
    assert first.snapshots is not None
    first.snapshots.stop()  # lets go of the workers: they run on
    held = aws.worker_tasks()
    assert len(held) == 2 and {t["lastStatus"] for t in held} == {"RUNNING"}, held
    record = first.status.store.get_item(PK)
    assert {j["phase"] for j in record["jobs"].values()} == {"Uploading"}, record
    assert all(j.get("workerJob") for j in record["jobs"].values()), "recorded before"
    return desired, clock, settings, held, record["jobs"], open_uploads(aws)


def restarted(aws, tmp_path: Path, clock, settings) -> Reconciler:  # type: ignore[no-untyped-def]
    return unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted", settings)


def run_until_complete(rec: Reconciler, desired, clock, passes: int = 40) -> dict:  # type: ignore[no-untyped-def]
    record: dict = {}
    for _ in range(passes):
        rec.reconcile(desired)
        assert rec.snapshots is not None
        rec.snapshots.wait(timeout=300)
        record = rec.status.store.get_item(PK) or {}
        if {j.get("phase") for j in record.get("jobs", {}).values()} == {"Complete"}:
            return record
        rec.queue.pop_ready()
        clock.advance(5)
    raise AssertionError(f"not complete: {record}")


def test_a_restarted_controller_adopts_its_running_snapshot_workers(aws, tmp_path):
    desired, clock, settings, held, jobs, uploads = held_then_stopped(aws, tmp_path)
    before = manifests(aws)
    second = restarted(aws, tmp_path, clock, settings)
    plan = second.reconcile(desired).plan
    names = [a.name for a in plan.actions]
    assert "AbortSnapshotUploads" not in names, "the adopted workers' uploads are theirs"
    (take,) = [a for a in plan.actions if a.name == "TakeSnapshots"]
    assert len(take.params["Sources"]) == 2
    aws.clear_faults()
    record = run_until_complete(second, desired, clock)
    tasks = aws.worker_tasks()
    assert sorted(t["taskArn"] for t in tasks) == sorted(t["taskArn"] for t in held), (
        "adopted: no second task")
    assert {t["lastStatus"] for t in tasks} == {"STOPPED"}
    assert {s: j["id"] for s, j in record["jobs"].items()} == {
        s: j["id"] for s, j in jobs.items()}, "the same snapshots, not new stamps"
    assert {s: j["attempts"] for s, j in record["jobs"].items()} == {s: 1 for s in jobs}
    made = sorted(set(manifests(aws)) - set(before))
    assert len(made) == 2 and any(jobs[ALICE]["id"] in k for k in made), made
    second.reconcile(desired)
    second.snapshots.wait(timeout=60)
    assert open_uploads(aws) == []
    assert {u["UploadId"] for u in uploads}, "they were the workers' uploads"


def test_a_worker_that_ended_while_no_controller_ran_is_read_not_started_again(
        aws, tmp_path):
    desired, clock, settings, held, jobs, _ = held_then_stopped(aws, tmp_path)
    aws.clear_faults()
    wait_for(lambda: {t["lastStatus"] for t in aws.worker_tasks()} == {"STOPPED"},
             "the workers end with no controller following them")
    before = manifests(aws)
    assert len(before) >= 2 + 2, "their snapshots are complete (and the day before's)"
    second = restarted(aws, tmp_path, clock, settings)
    record = run_until_complete(second, desired, clock)
    assert len(aws.worker_tasks()) == len(held), "their reports read: no task started"
    assert {s: j["id"] for s, j in record["jobs"].items()} == {
        s: j["id"] for s, j in jobs.items()}
    assert manifests(aws) == before, "no second snapshot of the slot"
    assert open_uploads(aws) == []


def test_a_completed_worker_that_ecs_no_longer_shows_is_not_run_again(aws, tmp_path):
    """ECS shows a stopped task for an hour or so, not forever: a restart later than that
    finds the snapshot complete by its manifest, and neither starts the job again (which
    would write the complete snapshot's archive over again) nor takes the slot again."""
    desired, clock, settings, held, jobs, _ = held_then_stopped(aws, tmp_path)
    aws.clear_faults()
    wait_for(lambda: {t["lastStatus"] for t in aws.worker_tasks()} == {"STOPPED"},
             "the workers end with no controller following them")
    assert aws.forget_stopped_worker_tasks() == len(held)
    before = manifests(aws)
    written = {k: o["LastModified"] for k, o in objects(aws).items()}
    runs = aws.request_counts().get("ecs:RunTask", 0)
    record = run_until_complete(restarted(aws, tmp_path, clock, settings), desired, clock)
    assert aws.request_counts().get("ecs:RunTask", 0) == runs, "no task started again"
    assert {s: j["id"] for s, j in record["jobs"].items()} == {
        s: j["id"] for s, j in jobs.items()}, "the slot's snapshots, complete"
    assert manifests(aws) == before
    assert {k: o["LastModified"] for k, o in objects(aws).items()
            if k in written} == written, "nothing of theirs written again"
    assert open_uploads(aws) == []


def test_a_worker_whose_report_was_read_by_a_controller_since_killed_is_done(aws, tmp_path):
    """A controller read the ended worker's report (reading deletes it) and was killed
    before recording the end: the next one finds the snapshot complete by its manifest,
    not a failed worker, and neither retries the slot nor starts a task."""
    desired, clock, settings, held, jobs, _ = held_then_stopped(aws, tmp_path)
    aws.clear_faults()
    wait_for(lambda: {t["lastStatus"] for t in aws.worker_tasks()} == {"STOPPED"},
             "the workers end with no controller following them")
    s3 = s3_client(aws)
    reports = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket).get(
        "Contents", []) if "/reports/" in "/" + o["Key"]]
    assert len(reports) == len(held)
    for key in reports:
        s3.delete_object(Bucket=settings.bucket, Key=key)
    before = manifests(aws)
    runs = aws.request_counts().get("ecs:RunTask", 0)
    record = run_until_complete(restarted(aws, tmp_path, clock, settings), desired, clock)
    assert aws.request_counts().get("ecs:RunTask", 0) == runs, "no task started again"
    assert {s: (j["id"], j["attempts"]) for s, j in record["jobs"].items()} == {
        s: (j["id"], 1) for s, j in jobs.items()}, "complete, not failed and retried"
    assert manifests(aws) == before
    assert open_uploads(aws) == []


def objects(aws) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    listed = s3_client(aws).list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return {o["Key"]: o for o in listed}


def test_a_worker_that_fails_after_the_restart_has_its_upload_aborted_and_is_retried(
        aws, tmp_path):
    desired, clock, settings, held, jobs, uploads = held_then_stopped(aws, tmp_path,
                                                                       hold=8.0)
    assert [u for u in uploads if jobs[ALICE]["id"] in u["Key"]], "alice's worker uploads"
    second = restarted(aws, tmp_path, clock, settings)
    following = aws.request_counts().get("ecs:DescribeTasks", 0)
    second.reconcile(desired)  # adopts both
    wait_for(lambda: aws.request_counts().get("ecs:DescribeTasks", 0) >= following + 4,
             "the restarted controller follows its workers")
    assert len(aws.worker_tasks()) == 2, "adopted, not started again"
    (alices,) = [t for t in held if archives(aws, t) == jobs[ALICE]["id"]]
    assert aws.kill_worker_task(alices["taskArn"]), "alice's worker dies (no report)"
    aws.clear_faults()
    record = run_until_complete(second, desired, clock)
    alice = record["jobs"][ALICE]
    assert alice["attempts"] == 2 and alice["id"] != jobs[ALICE]["id"], alice
    assert record["jobs"]["home/research/bob/home"]["attempts"] == 1
    second.reconcile(desired)
    second.snapshots.wait(timeout=60)
    assert open_uploads(aws) == [], "the dead worker's upload aborted: no orphan"
    assert len(aws.worker_tasks()) == 3, "bob's adopted, alice's dead one, its retry"
    assert any(alice["id"] in k for k in manifests(aws))
    assert not any(jobs[ALICE]["id"] in k for k in manifests(aws))


def archives(aws, task: dict) -> str:  # type: ignore[no-untyped-def]
    """The snapshot id a worker task archives: its job, read where RunTask points it."""
    command = task["overrides"]["containerOverrides"][0]["command"]
    bucket, key = command[command.index("--job") + 1].removeprefix("s3://").split("/", 1)
    job = job_from_json(s3_client(aws).get_object(Bucket=bucket, Key=key)["Body"].read())
    assert isinstance(job, SnapshotJob)
    return f"{job.request['policy']}/{job.request['source_id']}/{job.request['stamp']}"


def test_adoption_under_ecs_and_s3_faults_converges_with_one_task_and_one_snapshot(
        aws, tmp_path):
    """25% of the controller's ECS and S3 calls throttled or failing (5xx) while it
    adopts: it loses sight of the workers now and then, and adopts them again."""
    desired, clock, settings, held, jobs, _ = held_then_stopped(aws, tmp_path)
    before = manifests(aws)
    aws.set_faults(rate=0.25, kinds=("throttle", "5xx"), seed=7, operations={
        "ecs:ListTasks", "ecs:DescribeTasks", "ecs:RunTask", "ecs:DescribeTaskDefinition",
        "s3:ListObjectsV2", "s3:ListMultipartUploads", "s3:GetObject", "s3:HeadObject",
        "s3:DeleteObject", "s3:AbortMultipartUpload"})
    try:
        second = restarted(aws, tmp_path, clock, settings)
        record = run_until_complete(second, desired, clock, passes=120)
        injected = aws.faults_snapshot()["injected"]
    finally:
        aws.clear_faults()
    assert sum(injected.values()) >= 5, injected
    assert sorted(t["taskArn"] for t in aws.worker_tasks()) == sorted(
        t["taskArn"] for t in held), "one task per snapshot"
    assert {s: j["id"] for s, j in record["jobs"].items()} == {
        s: j["id"] for s, j in jobs.items()}
    assert len(set(manifests(aws)) - set(before)) == 2, "one snapshot per home"
    second.reconcile(desired)
    second.snapshots.wait(timeout=60)
    assert open_uploads(aws) == []


def test_a_report_that_cannot_be_read_now_is_read_on_the_next_attempt(aws, tmp_path):
    """The workers end while S3 fails every GetObject (5xx): the controller cannot read
    their reports, so it has lost sight of them (not a failure): the records stay
    Uploading, the reports stay in S3, and a later pass reads them. No task again."""
    desired, clock, settings, held, jobs, _ = held_then_stopped(aws, tmp_path)
    aws.set_faults(rate=1.0, kinds=("5xx",), operations={"s3:GetObject"})
    try:
        second = restarted(aws, tmp_path, clock, settings)
        for _ in range(3):
            second.reconcile(desired)
            assert second.snapshots is not None
            second.snapshots.wait(timeout=300)
            wait_for(lambda: {t["lastStatus"] for t in aws.worker_tasks()} == {"STOPPED"},
                     "the workers end")
            second.queue.pop_ready()
            clock.advance(5)
        record = second.status.store.get_item(PK)
        assert {j["phase"] for j in record["jobs"].values()} == {"Uploading"}, record
    finally:
        aws.clear_faults()
    record = run_until_complete(second, desired, clock)
    assert len(aws.worker_tasks()) == len(held), "read later, not started again"
    assert {s: (j["id"], j["attempts"]) for s, j in record["jobs"].items()} == {
        s: (j["id"], 1) for s, j in jobs.items()}
    assert open_uploads(aws) == []
