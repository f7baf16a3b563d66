"""Restores and snapshots whose file systems are not mounted where the controller runs:
run as mover jobs (controller.movers.jobs RestoreJob, SnapshotJob) on a worker task in
the file system's region.

On AWS the controller's task mounts only its stack's file systems, so a restore into any
other file system of the region runs where it can be mounted: the worker-task engine
(controller.movers.worker_task) starts, follows and adopts it as it does a copy. The job
is recorded in the restore's status record before it starts; a controller restarted
while the worker runs finds the record Running, starts the same job (the same digest),
and so adopts the running task instead of starting a second one. A snapshot's job ends
as one taken here does (the manifest comes back in the report). This module must not
move data itself (the worker does) nor decide what to restore or archive (the plan does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from controller.actions.context import ExecutionContext
from controller.movers.jobs import RestoreJob, SnapshotJob, job_from_json, job_to_json
from controller.movers.restores import REFUSED, SOURCE_MISSING, restore_report
from controller.movers.snapshots import MISSING
from controller.snapshots.manifest import Manifest
from controller.snapshots.restore import RestoreReport, SnapshotRefused
from controller.snapshots.snapshot import SnapshotRequest, take_snapshot


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


def snapshot_on_worker(ctx: ExecutionContext, request: SnapshotRequest,
                       cancelled: Callable[[], bool]) -> Manifest:
    """Take the snapshot on a worker task; its manifest, as take_snapshot answers it."""
    job = SnapshotJob(request.source.file_system_id, asdict(request), ctx.region)
    report = ctx.worker_mover.run(job, None, cancelled)
    if report.errors and report.extra.get(MISSING):
        raise WorkerSourceMissing("; ".join(report.errors)[:1000])
    if report.errors or "manifest" not in report.extra:
        raise WorkerSnapshotFailed("; ".join(report.errors)[:1000] or "no manifest reported")
    return Manifest.from_json(report.extra["manifest"])


def snapshot_where_it_lives(ctx: ExecutionContext, request: SnapshotRequest, here: bool,
                            cancelled: Callable[[], bool]) -> Manifest:
    """Take the snapshot in this process when its file system is mounted here (`here`,
    decided once when the job was made), else on a worker task in its region."""
    if not here:
        return snapshot_on_worker(ctx, request, cancelled)
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
    report = ctx.worker_mover.run(job, None, cancelled)
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
