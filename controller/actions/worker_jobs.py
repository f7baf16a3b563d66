"""Restores and snapshots whose file systems are not mounted where the controller runs:
run as mover jobs (controller.movers.jobs RestoreJob, SnapshotJob) on a worker task in
the file system's region.

On AWS the controller's task mounts only its stack's file systems, so a restore into any
other file system of the region runs where it can be mounted: the worker-task engine
(controller.movers.worker_task) starts, follows and adopts it as it does a copy. The job
is recorded in the restore's status record before it starts; a controller restarted
while the worker runs finds the record Running, starts the same job (the same digest),
and so adopts the running task instead of starting a second one. A snapshot's job
(scheduled or final) is recorded the same way, in its policy's or final snapshot's
record with the key its upload writes, and run again as it is by a restarted controller
(the same snapshot id, so the same task; one that ended meanwhile is read from its
report); it ends as one taken here does (the manifest comes back in the report). A
controller that only lost sight of its worker (`lost_track`) leaves the record as it is
for the next attempt. This module must not move data itself (the worker does) nor
decide what to restore or archive (the plan does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from controller.actions.context import ExecutionContext
from controller.movers.jobs import RestoreJob, SnapshotJob, job_from_json, job_to_json
from controller.movers.restores import REFUSED, SOURCE_MISSING, restore_report
from controller.movers.snapshots import MISSING, completed_snapshot, snapshot_request
from controller.movers.worker_task import WorkerStillRunning
from controller.snapshots.manifest import (
    ARCHIVE_NAME,
    ENCRYPTED_ARCHIVE_NAME,
    Manifest,
    object_key,
)
from controller.snapshots.restore import RestoreReport, SnapshotRefused
from controller.snapshots.snapshot import SnapshotRequest, take_snapshot

# What AWS answers when it throttles (ECS, S3's SlowDown, ...): worth following again.
THROTTLED = frozenset({"ThrottlingException", "Throttling", "SlowDown",
                       "RequestLimitExceeded", "TooManyRequestsException",
                       "RequestThrottled", "RequestThrottledException"})


class WorkerRestoreFailed(RuntimeError):
    """The worker ran the restore and it failed (entries it could not write)."""


class WorkerSnapshotFailed(RuntimeError):
    """The worker could not take the snapshot (its upload was aborted)."""


class WorkerTargetMissing(SnapshotRefused):
    """The worker found no target folder (not made yet). A Restore is refused by it (as
    before); a recreated home's restore waits for its new home instead."""


class WorkerSourceMissing(WorkerSnapshotFailed):
    """The worker found no folder to archive (ENOENT; never a link or a file)."""


class WorkerLiveSourceMissing(SnapshotRefused):
    """The worker found no live folder to restore from (ENOENT; never a link or a file):
    a recreated profile's old home gone since the plan."""


def mounted_here(ctx: ExecutionContext, file_system: str) -> bool:
    return ctx.efs_root is not None and (ctx.efs_root / file_system).is_dir()


def snapshot_job(request: SnapshotRequest, region: str) -> SnapshotJob:
    """The worker's job for `request`: recorded before its task starts, so that a
    restarted controller runs this same job (the same digest) and adopts the task."""
    return SnapshotJob(request.source.file_system_id, asdict(request), region)


def recorded_snapshot(text: str) -> tuple[SnapshotJob, SnapshotRequest]:
    """A recorded snapshot job and its request (ValueError: not one)."""
    job = job_from_json(text)
    if not isinstance(job, SnapshotJob):
        raise ValueError(f"a {job.kind} job where a snapshot job was recorded")
    return job, snapshot_request(job)


def recorded_worker_job(entry: Mapping[str, Any], ctx: ExecutionContext
                        ) -> tuple[SnapshotJob, SnapshotRequest] | None:
    """The worker job recorded in a snapshot's entry that is still "Uploading" (its
    controller stopped while the worker ran), when this controller has worker tasks to
    adopt it with; None: the snapshot is taken anew."""
    if (entry.get("phase") != "Uploading" or not entry.get("workerJob")
            or ctx.worker_mover is None):
        return None
    try:
        return recorded_snapshot(str(entry["workerJob"]))
    except (ValueError, TypeError):
        return None  # not a job this version can read: taken anew, as before


def archive_key(request: SnapshotRequest) -> str:
    """The object key the snapshot's multipart upload writes."""
    return object_key(request.prefix, request.id,
                      ENCRYPTED_ARCHIVE_NAME if request.kms_key_id else ARCHIVE_NAME)


def lost_track(error: BaseException) -> bool:
    """The controller lost sight of its worker; the worker did not fail: followed too
    long, or AWS throttled or failed (5xx, no answer) after botocore's retries while the
    task was looked for, followed or its report read. The job stays recorded and the
    next attempt adopts the same task. Anything else (the worker's own failure, a task
    that stopped without a report, a refusal such as AccessDenied) is the job's end."""
    if isinstance(error, WorkerStillRunning | ConnectionError | ReadTimeoutError):
        return True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return status >= 500 or code in THROTTLED
    return False


def snapshot_on_worker(ctx: ExecutionContext, job: SnapshotJob,
                       cancelled: Callable[[], bool], adopted: bool = False) -> Manifest:
    """Take the snapshot on a worker task; its manifest, as take_snapshot answers it.
    `adopted`: the job was recorded and started by an earlier attempt (a controller
    that stopped): its task is followed, or its report read if it ended meanwhile, or
    its manifest if ECS no longer shows the task."""
    report = ctx.worker_mover.run(
        job, None, cancelled, ended=adopted,
        finished=lambda: completed_snapshot(job, ctx.gateway))
    if report.errors and report.extra.get(MISSING):
        raise WorkerSourceMissing("; ".join(report.errors)[:1000])
    if report.errors or "manifest" not in report.extra:
        raise WorkerSnapshotFailed("; ".join(report.errors)[:1000] or "no manifest reported")
    return Manifest.from_json(report.extra["manifest"])


def snapshot_where_it_lives(ctx: ExecutionContext, request: SnapshotRequest,
                            job: SnapshotJob | None, cancelled: Callable[[], bool],
                            adopted: bool = False) -> Manifest:
    """Take the snapshot in this process when its file system is mounted here (`job`
    None, decided once when the job was made), else run `job` on a worker task in its
    region (snapshot_on_worker)."""
    if job is not None:
        return snapshot_on_worker(ctx, job, cancelled, adopted)
    assert ctx.efs_root is not None
    s3, kms = ctx.gateway.client("s3", ctx.region), ctx.gateway.client("kms", ctx.region)
    return take_snapshot(s3, kms, request, ctx.efs_root / request.source.file_system_id,
                         cancelled=cancelled)


def restore_file_systems(params: Any) -> tuple[str, ...]:
    live = params.get("LiveFileSystemId")
    return (live, params["FileSystemId"]) if live else (params["FileSystemId"],)


def runs_here(ctx: ExecutionContext, params: Any) -> bool:
    """Both the target and a live source mounted under the controller's --efs-root."""
    return all(mounted_here(ctx, fs) for fs in restore_file_systems(params))


def restore_job(params: Any, manifest: str, region: str) -> RestoreJob:
    stale = params.get("Stale") or {}
    same_target = (stale.get("FileSystemId") == params["FileSystemId"]
                   and stale.get("Path") == params["Path"])
    owner = params.get("TargetOwner")
    return RestoreJob(
        target_fs=params["FileSystemId"], target_path=params["Path"], mode=params["Mode"],
        owners=params["Owners"],
        uid_map={str(k): int(v) for k, v in sorted(params["UidMap"].items())},
        gid_map={str(k): int(v) for k, v in sorted(params["GidMap"].items())},
        target_owner=(int(owner[0]), int(owner[1])) if owner else None,
        manifest=manifest, snapshot_region=region if manifest else "",
        live_fs=params.get("LiveFileSystemId") or "", live_path=params.get("LivePath") or "",
        stale=(str(stale["Name"]),) if stale and same_target else ())


def run_on_worker(runner: Any, ctx: ExecutionContext, params: Any,
                  cancelled: Callable[[], bool],
                  locate_manifest: Callable[[], tuple[str, str]], pk: str) -> RestoreReport:
    """Run the restore on a worker task and answer its report; the job is recorded in
    the status record `pk` ("workerJob") before the task starts. Raises SnapshotRefused
    when the worker refused it (it would refuse it again; WorkerTargetMissing when the
    target is not there), WorkerRestoreFailed when entries failed, and the movers'
    errors (WorkerStillRunning: followed again later)."""
    recorded = params.get("WorkerJob")
    if recorded:
        job = job_from_json(recorded)  # the one a stopped controller started: adopted
    else:
        manifest = ""
        if not params.get("LiveFileSystemId"):
            bucket, key = locate_manifest()  # the newest one is chosen once, here
            manifest = f"s3://{bucket}/{key}"
        job = restore_job(params, manifest, ctx.region)
        # Recorded before the task starts: a restart runs this same job again.
        runner.save({**runner.record(pk), "workerJob": job_to_json(job)})
    # Adopted: a task of it that ended while no controller ran is its outcome, read.
    report = ctx.worker_mover.run(job, None, cancelled, ended=bool(recorded))
    if report.errors:
        message = "; ".join(report.errors)[:1000]
        if report.extra.get(MISSING):
            raise WorkerTargetMissing(message.removeprefix("FileNotFoundError: "))
        if report.extra.get(SOURCE_MISSING):
            raise WorkerLiveSourceMissing(message)
        if report.extra.get(REFUSED):  # named once: the controller's record names it
            raise SnapshotRefused(message.removeprefix(f"{SnapshotRefused.__name__}: "))
        raise WorkerRestoreFailed(message)
    return restore_report(report)
