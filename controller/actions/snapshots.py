"""Snapshot and restore executors: each starts or tidies, none waits for a long job.

TakeSnapshots records the slot and a job per source ("Uploading") in the policy's
record before starting the jobs on the controller's workers (controller.snapshots.runner);
each job records its end. AbortSnapshotUploads aborts multipart uploads no job of this
controller is writing. PruneSnapshots deletes the snapshots retention no longer keeps
(manifest first, so a half-deleted snapshot is never listed). RestoreSnapshot records
"Running" with the spec's fingerprint, then runs the restore on a worker; its outcome
(files, bytes, duration, what was skipped and why) is recorded and shown by
`studioctl status`. A file system not mounted under the controller's --efs-root is
archived or restored by a worker task where it is (controller.actions.worker_jobs): the
thread then follows that task instead. A snapshot's worker job is in its entry of the
record ("workerJob", "key") before the task starts; a TakeSnapshots that finds this
slot's entry still Uploading with one runs that same job again (adopting the task, no
attempt counted) instead of taking the slot under a new stamp. Nothing here deletes
anything but this policy's own objects.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from controller.actions.classify import classify
from controller.actions.context import SETTLE_SECONDS, ExecutionContext
from controller.actions.restore_run import locate_manifest, restore_source, run_restore
from controller.actions.worker_jobs import (
    archive_key,
    lost_track,
    mounted_here,
    recorded_worker_job,
    restore_file_systems,
    run_on_worker,
    runs_here,
    snapshot_job,
    snapshot_where_it_lives,
)
from controller.errors import RequeueAfter, TerminalError
from controller.movers.jobs import SnapshotJob, job_to_json
from controller.movers.worker_task import WorkerStillRunning
from controller.plan.types import Action
from controller.snapshots import metrics
from controller.snapshots.manifest import (
    MANIFEST_NAME,
    ManifestError,
    Source,
    object_key,
    parse_id,
    policy_prefix,
    stamp_of,
)
from controller.snapshots.restore import (
    SnapshotRefused,
)
from controller.snapshots.runner import SnapshotRunner
from controller.snapshots.snapshot import SnapshotRequest
from controller.status.history import HistoryEntry, append_quietly


def _runner(ctx: ExecutionContext) -> SnapshotRunner:
    runner = getattr(ctx, "snapshots", None)
    if runner is None:
        raise TerminalError("NoWorkers", "snapshots need the controller's workers and status "
                            "table (studioctl run or apply with a status table)")
    return runner  # type: ignore[no-any-return]


def take_snapshots(action: Action, ctx: ExecutionContext) -> str:
    runner, params = _runner(ctx), action.params
    for source in params["Sources"]:
        # Not mounted here: archived by a worker task where it is (worker_jobs).
        if not mounted_here(ctx, source["FileSystemId"]) and ctx.worker_mover is None:
            raise TerminalError("NotMounted", f"file system {source['FileSystemId']} is not "
                                f"mounted under {ctx.efs_root} and no worker task is "
                                "configured: nothing to archive")
    policy = params["Policy"]
    spec_desired = ctx.desired.snapshot_policies[policy] if ctx.desired else None
    if spec_desired is None:
        raise TerminalError("Unknown", f"no SnapshotPolicy {policy}")
    pk = f"snapshotpolicy#{policy}"
    record = runner.record(pk)
    jobs = dict(record.get("jobs", {})) if record.get("lastSlot") == str(params["Slot"]) else {}
    started: list[tuple[str, SnapshotRequest, SnapshotJob | None, bool]] = []
    for source in params["Sources"]:
        key = f"snapshot:{policy}:{source['Source']}"
        if key in runner.running():
            continue
        # This slot's worker job, recorded by a controller that stopped while it ran:
        # the same job again (the same id and digest), so its task is adopted.
        adopted = recorded_worker_job(jobs.get(source["Source"], {}), ctx)
        if adopted is not None:
            started.append((key, adopted[1], adopted[0], True))
            continue
        attempts = int(jobs.get(source["Source"], {}).get("attempts", 0)) + 1
        stamp = stamp_of(ctx.started_at or time.time(), os.urandom(2).hex())
        request = SnapshotRequest(
            policy, source["Source"],
            Source(source["Kind"], source["FileSystem"], source["FileSystemId"], source["Path"],
                   ctx.region, source.get("Profile"), source.get("Share"),
                   source.get("Domain")),
            params["Bucket"], spec_desired.prefix, stamp, ctx.revision, spec_desired.level,
            spec_desired.kms_key_id)
        # Decided once, here: not mounted here, the job runs on a worker task, recorded
        # (below, before it starts) with the key its upload writes.
        job = None if mounted_here(ctx, source["FileSystemId"]) else snapshot_job(
            request, ctx.region)
        jobs[source["Source"]] = {"phase": "Uploading", "id": request.id, "stamp": stamp,
                                  "attempts": attempts, "key": archive_key(request),
                                  **({"workerJob": job_to_json(job)} if job else {})}
        started.append((key, request, job, False))
    begun = {request.source_id: jobs[request.source_id] for _, request, _, _ in started}

    def slot(now: dict[str, Any]) -> dict[str, Any]:
        # The slot's other jobs as they are now: one may have ended since `record`.
        kept = dict(now.get("jobs", {})) if now.get("lastSlot") == str(params["Slot"]) else {}
        return {"pk": pk, "lastSlot": str(params["Slot"]), "jobs": {**kept, **begun}}
    # Persisted before any job starts: a restarted controller knows what was in flight.
    runner.update(pk, slot)
    for key, request, job, adopting in started:
        runner.submit(key, _snapshot_job(runner, ctx, pk, request, job, adopting),
                      uploading=archive_key(request))
    again = sum(1 for *_, adopting in started if adopting)
    return (f"started {len(started)} snapshot(s) for slot {stamp_of(params['Slot'])}"
            + (f", {again} of them adopted from a worker task" if again else ""))


def _snapshot_job(runner: SnapshotRunner, ctx: ExecutionContext, pk: str,
                  request: SnapshotRequest, job: SnapshotJob | None, adopted: bool) -> Any:
    log = runner.log

    def work(cancelled: Callable[[], bool]) -> None:
        began = time.monotonic()
        try:
            manifest = snapshot_where_it_lives(ctx, request, job, cancelled, adopted)
        except Exception as error:
            # Stopping, or the lease is lost: the record is not ours now. A worker this
            # controller lost sight of runs on: the record stays Uploading, the next
            # pass adopts it (worker_jobs.lost_track).
            if cancelled():
                metrics.SNAPSHOTS.labels(request.policy, "cancelled").inc()
                raise
            if job is not None and lost_track(error):
                metrics.SNAPSHOTS.labels(request.policy, "cancelled").inc()
                log.warning("snapshot_worker_followed_later", snapshot=request.id,
                            error=f"{type(error).__name__}: {error}"[:500])
                return  # not the job's end: nothing is recorded
            metrics.SNAPSHOTS.labels(request.policy, "failed").inc()
            _end(runner, pk, request.source_id, "Failed", f"{type(error).__name__}: {error}")
            _history(runner, ctx, HistoryEntry(
                time.time(), "snapshot", ctx.revision, ctx.region, "failed", _where(request),
                f"s3://{request.bucket}/{request.id}", request.source.profile or "",
                seconds=round(time.monotonic() - began, 3), message=str(error)[:500]))
            log.warning("snapshot_failed", snapshot=request.id, error=str(error)[:500])
            raise
        metrics.SNAPSHOTS.labels(request.policy, "complete").inc()
        metrics.SNAPSHOT_BYTES.labels(request.policy, "archived").inc(manifest.bytes_in)
        metrics.SNAPSHOT_BYTES.labels(request.policy, "stored").inc(manifest.bytes_out)
        metrics.SNAPSHOT_FILES.labels(request.policy).inc(manifest.counts.get("files", 0))
        metrics.DURATION.labels("snapshot").observe(time.monotonic() - began)
        _end(runner, pk, request.source_id, "Complete", "")
        _history(runner, ctx, HistoryEntry(
            time.time(), "snapshot", ctx.revision, ctx.region, "ok", _where(request),
            f"s3://{request.bucket}/{request.id}", request.source.profile or "",
            manifest.counts.get("files", 0), manifest.bytes_in,
            round(time.monotonic() - began, 3), f"policy {request.policy}"))
        log.info("snapshot_complete", snapshot=request.id, files=manifest.counts.get("files"),
                 bytes_in=manifest.bytes_in, bytes_out=manifest.bytes_out,
                 duration_s=round(time.monotonic() - began, 3))
    return work


def _end(runner: SnapshotRunner, pk: str, source: str, phase: str, message: str) -> None:
    def ended(record: dict[str, Any]) -> dict[str, Any]:
        jobs = dict(record.get("jobs", {}))
        jobs[source] = {**jobs.get(source, {}), "phase": phase, "message": message[:500]}
        return {**record, "jobs": jobs}
    runner.update(pk, ended)


def abort_snapshot_uploads(action: Action, ctx: ExecutionContext) -> str:
    """Abort the left-over multipart uploads and delete the archives that never got
    their manifest (never listed, never restorable: incomplete snapshots)."""
    s3, bucket = ctx.client("s3"), action.params["Bucket"]
    for key, upload_id in action.params["Uploads"]:
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as error:
            if "NoSuchUpload" not in str(error):
                raise classify(error) from error
    archives = action.params.get("Archives", [])
    for key in archives:
        s3.delete_object(Bucket=bucket, Key=key)
    return (f"aborted {len(action.params['Uploads'])} unfinished upload(s), removed "
            f"{len(archives)} archive(s) without a manifest")


def prune_snapshots(action: Action, ctx: ExecutionContext) -> str:
    s3, bucket = ctx.client("s3"), action.params["Bucket"]
    for snapshot in action.params["Snapshots"]:
        policy, _, _ = parse_id(snapshot)
        base = object_key(action.params["Prefix"], snapshot, "")
        assert base.startswith(policy_prefix(action.params["Prefix"], policy))
        # The manifest first: from then on the snapshot is not listed, whatever remains.
        s3.delete_object(Bucket=bucket, Key=base + MANIFEST_NAME)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"])
    return f"removed {len(action.params['Snapshots'])} snapshot(s) retention no longer keeps"


def restore_snapshot_action(action: Action, ctx: ExecutionContext) -> str:
    runner, params = _runner(ctx), action.params
    name = params["Restore"]
    if params.get("Wait"):
        runner.save({"pk": f"restore#{name}", "fingerprint": params["Fingerprint"],
                     "phase": "Waiting", "message": params["Wait"]})
        runner.put_status("Restore", name, False, "Waiting", params["Wait"], ctx.revision)
        raise RequeueAfter(SETTLE_SECONDS * 3, params["Wait"])
    here = runs_here(ctx, params)
    if not here and ctx.worker_mover is None:
        raise TerminalError("NotMounted", f"{' and '.join(restore_file_systems(params))} not "
                            f"mounted under {ctx.efs_root} and no worker task configured: "
                            "nothing to restore into")
    pk = f"restore#{name}"
    before = runner.record(pk)
    # A restore this controller (or one before it) was running when it stopped: its
    # staging folder goes before the restore runs again (controller.snapshots.staging);
    # one it ran on a worker task is the same job again, so the running task is adopted.
    again = before.get("phase") == "Running"
    stale = before.get("staging") if again else None
    job = (before.get("workerJob") if again and not here
           and before.get("fingerprint") == params["Fingerprint"] else None)
    runner.save({"pk": pk, "fingerprint": params["Fingerprint"], "phase": "Running",
                 "startedAt": str(time.time()), **({"workerJob": job} if job else {})})
    runner.put_status("Restore", name, False, "Running", "restoring", ctx.revision)
    runner.submit(f"restore:{name}", _restore_job(runner, ctx, {**params, "Stale": stale,
                                                               "WorkerJob": job}))
    return f"restore {name} started" + ("" if here else " on a worker task")


def _restore_job(runner: SnapshotRunner, ctx: ExecutionContext, params: Any) -> Any:
    name = params["Restore"]
    pk = f"restore#{name}"

    def staging_made(folder: str) -> None:
        """Recorded before anything is written into it: a restart removes it."""
        runner.save({**runner.record(pk), "staging": {
            "FileSystemId": params["FileSystemId"], "Path": params["Path"], "Name": folder}})

    def work(cancelled: Callable[[], bool]) -> None:
        began = time.monotonic()
        here = runs_here(ctx, params)
        try:
            if here:
                report = run_restore(ctx, params, cancelled, on_staging=staging_made)
            else:
                report = run_on_worker(runner, ctx, params, cancelled, lambda: locate_manifest(
                    ctx.client("s3"), ctx, params), pk)
        except Exception as error:
            # Stopping, or the lease is lost: the record is not ours now. A worker followed
            # too long runs on: the record stays Running and the next pass adopts it.
            if cancelled() or isinstance(error, WorkerStillRunning):
                raise
            refused = isinstance(error, SnapshotRefused | ManifestError)
            metrics.RESTORES.labels("refused" if refused else "failed").inc()
            message = f"{type(error).__name__}: {error}"[:1000]
            runner.save({"pk": pk, "fingerprint": params["Fingerprint"], "phase": "Failed",
                         "message": message})
            runner.put_status("Restore", name, False, "Failed", message, ctx.revision, True)
            _history(runner, ctx, HistoryEntry(
                time.time(), "restore", ctx.revision, ctx.region,
                "refused" if refused else "failed", restore_source(params),
                f"{params.get('FileSystemId')}:{params.get('Path')}", params.get("Profile", ""),
                seconds=round(time.monotonic() - began, 3), message=f"Restore/{name}: {message}"))
            raise
        metrics.RESTORES.labels("succeeded").inc()
        metrics.RESTORE_FILES.inc(report.files)
        metrics.RESTORE_BYTES.inc(report.bytes)
        metrics.DURATION.labels("restore").observe(time.monotonic() - began)
        outcome = report.as_dict()
        message = (f"{report.files} files, {report.bytes} bytes in {report.seconds:.1f}s into "
                   f"{params['Path']}/{report.placed_in}; {report.skipped_count} skipped"
                   + ("" if here else "; on a worker task"))
        runner.save({"pk": pk, "fingerprint": params["Fingerprint"], "phase": "Succeeded",
                     "message": message, "report": _plain(outcome)})
        runner.put_status("Restore", name, True, "Succeeded", message, ctx.revision)
        _history(runner, ctx, HistoryEntry(
            time.time(), "restore", ctx.revision, ctx.region, "ok", restore_source(params),
            f"{params['FileSystemId']}:{params['Path']}", params.get("Profile", ""),
            report.files, report.bytes, round(report.seconds, 3), f"Restore/{name}: {message}"))
        runner.log.info("restore_succeeded", restore=name, **{k: v for k, v in outcome.items()
                                                              if k != "skipped"})
    return work


def _history(runner: SnapshotRunner, ctx: ExecutionContext, entry: HistoryEntry) -> None:
    days = ctx.desired.estate.history_retention_days if ctx.desired is not None else 365
    append_quietly(runner.store, [entry], days, runner.log)


def _where(request: SnapshotRequest) -> str:
    return f"{request.source.file_system_id}:{request.source.path}"


def _plain(value: Any) -> Any:
    """DynamoDB takes no floats: keep numbers as strings where they are not whole."""
    if isinstance(value, float):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
