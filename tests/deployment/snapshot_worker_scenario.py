"""The deployment scenario's snapshot and restore on a worker task: as the stack configures
the controller's workers, alice's home on the region's file system is archived by a worker
(a SnapshotJob: encrypted with the snapshot key, uploaded to the snapshot bucket), then
restored by a worker into the operator's scratch file system (a RestoreJob), neither
mounted by the controller. What the workers sent (their own role's requests) and which
objects they wrote are kept, to be held to the worker role at resource level."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

from controller.emulator import Emulator
from controller.gateway import AwsGateway
from controller.movers import MoverReport, run_job
from controller.movers.jobs import RestoreJob, SnapshotJob
from controller.movers.worker_task import WorkerTaskMover
from controller.snapshots.manifest import MANIFEST_NAME, Source, stamp_of
from controller.snapshots.snapshot import SnapshotRequest

REGION = "us-east-1"
BUCKET, PREFIX, KEY_ALIAS = "studio-snapshots-us-east-1", "studio-snapshots", \
    "alias/studio-snapshots"
POLICY = "worker-check"  # no SnapshotPolicy of the estate: its objects are never listed
MARK = "archived-by-a-worker.txt"


@dataclass
class ArchiveRun:
    snapshot: MoverReport
    restore: MoverReport
    written: list[str]  # the snapshot's object keys (archive, manifest)
    key_arn: str
    restored: Path | None
    worker_requests: Counter[str]


def run_archive_jobs(aws: Emulator, gateway: AwsGateway, mover: WorkerTaskMover,
                     source: str, target: str) -> ArchiveRun:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws.endpoint_url)
    key_arn = boto3.client("kms", region_name=REGION, endpoint_url=aws.endpoint_url) \
        .describe_key(KeyId=KEY_ALIAS)["KeyMetadata"]["Arn"]
    (aws.efs_root / source / "home/research/alice" / MARK).write_text("archived on a worker")
    (aws.efs_root / target / "restores").mkdir(exist_ok=True)
    request = SnapshotRequest(
        POLICY, "home/research/alice/home",
        Source("home", "studio-efs", source, "/home/research/alice", REGION,
               "research/alice"),
        BUCKET, PREFIX, stamp_of(time.time(), "beef"), "", 3, KEY_ALIAS)
    before = _by_operation(gateway.calls)
    aws.reset_request_counts()
    snapshot = run_job(SnapshotJob(source, asdict(request), REGION), None, mover)
    seen = Counter(aws.request_counts())
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{POLICY}/")  # not counted
    written = sorted(item["Key"] for item in listed.get("Contents", []))
    manifest = next((k for k in written if k.endswith("/" + MANIFEST_NAME)), "")
    aws.reset_request_counts()
    restore = run_job(RestoreJob(target, "/restores", "newFolder", "keep",
                                 manifest=f"s3://{BUCKET}/{manifest}",
                                 snapshot_region=REGION), None, mover)
    seen.update(aws.request_counts())
    worker = seen - (_by_operation(gateway.calls) - before)
    placed = restore.extra.get("restore", {}).get("placedIn", "")
    restored = aws.efs_root / target / "restores" / placed if placed else None
    for key in written:  # not the estate's: removed, so no later step sees them
        s3.delete_object(Bucket=BUCKET, Key=key)
    return ArchiveRun(snapshot, restore, written, key_arn, restored, worker)


def _by_operation(calls: Counter[tuple[str, str, str]]) -> Counter[str]:
    summed: Counter[str] = Counter()
    for (service, operation, _), count in calls.items():
        summed[f"{service}:{operation}"] += count
    return summed


def worker_names(key_arn: str) -> dict[str, Any]:
    """The worker role's names for rendering its snapshot statements."""
    return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": "123456789012",
            "SnapshotBucketName": BUCKET, "SnapshotKmsKeyArn": key_arn}
