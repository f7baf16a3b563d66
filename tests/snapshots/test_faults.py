"""Snapshots and restores through throttling, server errors and dropped connections from
S3 and KMS (the emulator's fault injector): nothing is lost, no multipart upload is left
open, and the controller's snapshots complete in the end."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.gateway import AwsGateway
from controller.snapshots.manifest import MANIFEST_NAME
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import open_target, restore_snapshot
from controller.snapshots.snapshot import take_snapshot
from tests.converge.helpers import converge, file_system, prepared, reconciler
from tests.snapshots.helpers import BUCKET, compare_trees, generate_tree
from tests.snapshots.test_round_trip import request

REPO = Path(__file__).resolve().parents[2]
S3_AND_KMS = ("s3", "kms")


def clients(aws, attempts: int = 10):  # type: ignore[no-untyped-def]
    """The product's clients (AwsGateway: standard retries), as a controller has them."""
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=attempts)
    return gateway.client("s3", "us-east-1"), gateway.client("kms", "us-east-1")


@pytest.mark.parametrize("kinds", [("throttle",), ("5xx",), ("throttle", "5xx", "timeout")],
                         ids=["throttled", "server-errors", "all-and-dropped-connections"])
def test_snapshot_and_restore_through_faults_are_exact_and_leave_no_upload(
        aws, s3, kms, kms_key, mount, kinds):
    generate_tree(mount / "home/research/alice", files=300, mib=20)
    faulty_s3, faulty_kms = clients(aws)
    aws.reset_request_counts()
    aws.set_faults(rate=0.3, kinds=kinds, services=S3_AND_KMS, seed=7, timeout_seconds=0.5)
    manifest = take_snapshot(faulty_s3, faulty_kms, request("/home/research/alice",
                                                            kms_key=kms_key), mount)
    report = _restore_into_bob(faulty_s3, faulty_kms, manifest, mount)
    faults = aws.faults_snapshot()
    aws.clear_faults()
    assert len(manifest.parts) >= 2
    assert sum(faults["injected"].values()) >= 5, faults
    assert compare_trees(mount / "home/research/alice",
                         mount / "home/research/bob" / report.placed_in) == []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_snapshot_that_fails_for_good_aborts_its_upload(aws, s3, kms, mount):
    """Every UploadPart answers 503 (past botocore's retries): the job fails, and its
    multipart upload is aborted, not left for S3 to charge."""
    generate_tree(mount / "home/research/alice", files=100, mib=2)
    faulty_s3, faulty_kms = clients(aws, attempts=2)
    aws.set_faults(rate=1.0, kinds=("5xx",), operations={"s3:UploadPart"})
    with pytest.raises(Exception, match="ServiceUnavailable|InternalError|reached max"):
        take_snapshot(faulty_s3, faulty_kms, request("/home/research/alice"), mount)
    aws.clear_faults()
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_the_controller_takes_its_snapshots_through_faults_and_leaves_no_upload(aws, tmp_path):
    estate = tmp_path / "desired"
    shutil.copytree(REPO / "desired_state", estate)
    desired = prepared(aws, load_desired_state(estate))
    clock = ManualClock(time.time())  # S3 dates uploads by the real clock
    rec = reconciler(aws, clock, max_attempts=2)
    converge(rec, desired, clock)
    rec.snapshots.wait(timeout=120)
    fs = file_system(aws, "us-east-1")["FileSystemId"]  # not the replica's copy
    generate_tree(aws.efs_root / fs / "home/research/alice/work", files=200, mib=12)
    clock.advance(6 * 3600)  # the next slot of the example's 6-hour schedule
    # Harsh: a third of S3 and KMS calls fail, and each call gets only two attempts, so
    # jobs fail and aborts fail too; the passes that follow must sort it out.
    aws.set_faults(rate=0.35, kinds=("throttle", "5xx"), services=S3_AND_KMS, seed=3)
    for _ in range(12):
        rec.reconcile(desired)
        rec.snapshots.wait(timeout=120)
        rec.queue.pop_ready()
        clock.advance(20)
    aws.clear_faults()
    for _ in range(3):  # a quiet pass or two: whatever was left open is aborted
        rec.reconcile(desired)
        rec.snapshots.wait(timeout=120)
        clock.advance(20)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    bucket = desired.snapshot_policies["nightly"].buckets["us-east-1"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    alice = sorted(k for k in keys if "/home/research/alice/home/" in k
                   and k.endswith(MANIFEST_NAME))
    assert len(alice) >= 2, "the first slot's snapshot and one taken through the faults"
    for key in keys:  # every archive has its manifest: nothing half-made is kept
        if not key.endswith(MANIFEST_NAME):
            assert key.rsplit("/", 1)[0] + "/" + MANIFEST_NAME in keys, key
    rec.snapshots.stop()


def test_an_upload_whose_abort_failed_is_aborted_by_the_next_pass(aws, tmp_path):
    estate = tmp_path / "desired"
    shutil.copytree(REPO / "desired_state", estate)
    desired = prepared(aws, load_desired_state(estate))
    clock = ManualClock(time.time())  # S3 dates uploads by the real clock
    rec = reconciler(aws, clock, max_attempts=2)
    converge(rec, desired, clock)
    rec.snapshots.wait(timeout=120)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    bucket = desired.snapshot_policies["nightly"].buckets["us-east-1"]
    clock.advance(6 * 3600)
    # Parts cannot be uploaded, and the aborts that follow fail too.
    aws.set_faults(rate=1.0, kinds=("5xx",),
                   operations={"s3:UploadPart", "s3:AbortMultipartUpload"})
    assert "TakeSnapshots" in {a.name for a in rec.reconcile(desired).plan.actions}
    rec.snapshots.wait(timeout=120)
    aws.clear_faults()
    left = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert left, "the failed jobs could not abort their uploads"
    after = rec.reconcile(desired)
    assert "AbortSnapshotUploads" in {a.name for a in after.plan.actions}
    rec.snapshots.wait(timeout=120)
    rec.reconcile(desired)
    rec.snapshots.wait(timeout=120)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    rec.snapshots.stop()


def test_a_complete_retried_after_its_answer_was_lost_still_completes_the_snapshot(
        aws, s3, kms, mount):
    """The first CompleteMultipartUpload completes the object but its answer is lost (a
    timeout): botocore sends it again and S3 answers NoSuchUpload, the upload being
    completed. The writer checks the object is the one it uploaded (its composite
    SHA-256) and goes on; the snapshot restores exactly."""
    generate_tree(mount / "home/research/alice", files=100, mib=4)
    retried_s3, retried_kms = clients(aws)
    sent = []

    def answer_lost(attempts, **_):  # type: ignore[no-untyped-def]
        sent.append(attempts)
        return 0.01 if attempts == 1 else None  # retry as after a read timeout

    retried_s3.meta.events.register("needs-retry.s3.CompleteMultipartUpload", answer_lost)
    manifest = take_snapshot(retried_s3, retried_kms, request("/home/research/alice"), mount)
    assert sent == [1, 2]
    report = _restore_into_bob(s3, kms, manifest, mount)
    assert compare_trees(mount / "home/research/alice",
                         mount / "home/research/bob" / report.placed_in) == []


def test_a_complete_answered_no_such_upload_for_another_object_fails(aws, s3, mount):
    """NoSuchUpload where the key holds some other object (written between the lost
    answer and the retry): the writer does not take that object for its own."""
    from botocore.exceptions import ClientError

    from controller.snapshots.s3stream import MultipartWriter

    retried_s3, _ = clients(aws)

    def overwritten_then_lost(attempts, **_):  # type: ignore[no-untyped-def]
        if attempts != 1:
            return None
        s3.put_object(Bucket=BUCKET, Key="snapshots/x/archive.tar.zst", Body=b"another")
        return 0.01

    retried_s3.meta.events.register("needs-retry.s3.CompleteMultipartUpload",
                                    overwritten_then_lost)
    writer = MultipartWriter(retried_s3, BUCKET, "snapshots/x/archive.tar.zst")
    writer.write(os.urandom(9 << 20))
    with pytest.raises(ClientError, match="NoSuchUpload"):
        writer.complete()


def _restore_into_bob(s3, kms, manifest, mount):
    """Restore `manifest` into research/bob's (new) home, through the given clients."""
    (mount / "home/research/bob").mkdir(parents=True)
    target = open_target(str(mount), ["home", "research", "bob"])
    try:
        return restore_snapshot(s3, kms, manifest, target, OwnerPolicy())
    finally:
        os.close(target)
