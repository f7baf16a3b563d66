"""The worker's side of a snapshot: archive a tree of a file system mounted in the task.

A snapshot of a file system the controller does not mount (on AWS, every file system but
its stack's own) is taken in a worker task of that file system's region, through the
same code as one taken in the controller (controller.snapshots.snapshot: the archive
streamed up in parts, the manifest written last, the multipart upload aborted on
failure). The report carries the manifest (`extra["manifest"]`), so the controller
records the job's end, its metrics and its history as it does for its own. A source that
cannot be opened (gone, a link) is an error of the report with `extra["refused"]` set;
one that does not exist (ENOENT, never a link or a file) also sets `extra["missing"]`,
so a final snapshot can tell "nothing to snapshot" from a refusal. `completed_snapshot`
reads a finished job's outcome from its manifest, for a controller that adopts a job
whose task ECS no longer shows.
This module must not decide what to archive nor when (the plan does).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from controller.gateway import AwsGateway
from controller.movers.jobs import MoverReport, SnapshotJob
from controller.movers.local import Mounts
from controller.snapshots.manifest import MANIFEST_NAME, Manifest, Source, object_key
from controller.snapshots.snapshot import SnapshotRequest, SourceUnavailable, take_snapshot

REFUSED = "refused"
MISSING = "missing"


def snapshot_request(job: SnapshotJob) -> SnapshotRequest:
    fields: dict[str, Any] = dict(job.request)
    return SnapshotRequest(**{**fields, "source": Source(**fields["source"])})


def completed_snapshot(job: SnapshotJob, gateway: AwsGateway) -> MoverReport | None:
    """The report of `job` when its snapshot is complete already (its manifest, written
    last, is in the bucket and reads as one), else None: how a job started before is
    known to have ended when ECS no longer shows its task."""
    request = snapshot_request(job)
    s3 = gateway.client("s3", job.bucket_region)
    try:
        text = s3.get_object(Bucket=request.bucket, Key=object_key(
            request.prefix, request.id, MANIFEST_NAME))["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    manifest = Manifest.from_json(text)
    manifest.check()
    return _made(manifest)


def _made(manifest: Manifest) -> MoverReport:
    return MoverReport(kind="snapshot", engine="worker",
                       files=int(manifest.counts.get("files", 0)), bytes=manifest.bytes_in,
                       skipped=0, extra={"manifest": manifest.to_json()})


def run_snapshot_job(job: SnapshotJob, mounts: Mounts, gateway: AwsGateway) -> MoverReport:
    """Run `job` with its file system mounted at `mounts`; never raises for a refusal."""
    request = snapshot_request(job)
    s3 = gateway.client("s3", job.bucket_region)
    kms = gateway.client("kms", job.bucket_region)
    try:
        manifest = take_snapshot(s3, kms, request, mounts[job.fs])
    except SourceUnavailable as error:
        # Opened component by component without following links: only ENOENT is missing.
        missing = isinstance(error.__cause__, FileNotFoundError)
        return MoverReport(kind="snapshot", engine="worker", files=0, bytes=0, skipped=0,
                           errors=(f"{type(error).__name__}: {error}",),
                           extra={REFUSED: True, **({MISSING: True} if missing else {})})
    except Exception as error:  # the upload was aborted; the report says why
        return MoverReport(kind="snapshot", engine="worker", files=0, bytes=0, skipped=0,
                           errors=(f"{type(error).__name__}: {error}"[:1000],))
    return _made(manifest)
