"""A leader that loses its lease cancels its snapshot jobs at once: their uploads are
aborted, no snapshot of theirs completes, and the records are left to the new leader."""

from __future__ import annotations

import time
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.loop.controller import Controller, Timing
from controller.source import FolderSource
from tests.converge.helpers import file_system, prepared, reconciler
from tests.loop.test_lease import lease
from tests.snapshots.helpers import generate_tree

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def wait_for(condition, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_leader_that_loses_its_lease_cancels_its_snapshot_jobs(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock(time.time())
    rec = reconciler(aws, clock)
    leader = Controller(FolderSource(EXAMPLE), rec, clock,
                        Timing(resync_seconds=300, poll_seconds=300),
                        lease=lease(aws, clock, "leader"))
    assert leader.tick() is not None  # converges the estate; the first snapshots start
    rec.snapshots.wait(timeout=120)
    home = aws.efs_root / file_system(aws, "us-east-1")["FileSystemId"] / "home/research/alice"
    generate_tree(home / "work", files=100, mib=20)
    clock.advance(6 * 3600)  # the next slot: its uploads hang inside UploadPart
    aws.reset_request_counts()
    aws.set_faults(rate=1.0, kinds=("timeout",), operations={"s3:UploadPart"},
                   timeout_seconds=2)
    rec.queue.pop_ready()
    leader._next_pass = 0.0  # due now
    assert leader.tick() is not None
    wait_for(lambda: aws.request_counts().get("s3:UploadPart", 0) > 0)
    assert rec.snapshots.running()
    record_before = rec.status.store.get_item("snapshotpolicy#nightly")

    clock.advance(31)  # the leader stalled past its lease; another replica takes it
    other = lease(aws, clock, "other")
    assert other.hold()
    assert leader.tick() is None, "standing by now"
    aws.clear_faults()
    wait_for(lambda: not rec.snapshots.running())

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    bucket = desired.snapshot_policies["nightly"].buckets["us-east-1"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], (
        "cancelled jobs abort their uploads")
    slot_ids = {job["id"] for job in record_before["jobs"].values() if "id" in job}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if any(f"/{sid}/" in f"/{k}" for sid in slot_ids)], (
        "no snapshot of the cancelled jobs completed")
    assert rec.status.store.get_item("snapshotpolicy#nightly") == record_before, (
        "the records are the new leader's now")
    rec.snapshots.stop()
