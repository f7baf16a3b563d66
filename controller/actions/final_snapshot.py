"""TakeFinalSnapshot: the last snapshot of a pruned profile's home folders, taken on the
controller's snapshot workers (controller.snapshots.runner) before the profile goes.

The executor records the job ("finalsnapshot#<domain>/<profile>": phase Uploading, the
incarnation it is for, attempts) before starting it, and returns: the pass never waits.
The job archives each home folder with the snapshot machinery (controller.snapshots,
same source ids and policy as the scheduled ones, so retention keeps it and `studioctl
restore` finds it), then records Complete or Failed and appends a history entry per
folder. A home folder that was never made has nothing to lose and is skipped, said so.
A home whose file system is not mounted here is archived by a worker task where it is
(controller.actions.worker_jobs, as scheduled snapshots are); without workers the final
snapshot, and so the deletion, waits.
`final_phases` is how the next passes see it: Uploading while a job of this process
runs, GaveUp after FINAL_ATTEMPTS failures; a record left Uploading by a controller that
stopped is taken again. Deletes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.actions.context import SETTLE_SECONDS, ExecutionContext
from controller.actions.worker_jobs import (
    WorkerSourceMissing,
    mounted_here,
    snapshot_where_it_lives,
)
from controller.errors import RequeueAfter, TerminalError
from controller.movers.worker_task import WorkerStillRunning
from controller.plan.prune import FINAL_ATTEMPTS, GAVE_UP
from controller.plan.types import Action
from controller.snapshots.manifest import Source, stamp_of
from controller.snapshots.runner import SnapshotRunner
from controller.snapshots.snapshot import SnapshotRequest, SourceUnavailable
from controller.status.history import HistoryEntry, append_quietly

PREFIX = "finalsnapshot#"


def final_phases(runner: SnapshotRunner, profiles: Mapping[str, str]) -> dict[str, str]:
    """Phase of the final snapshot of each profile ("domain/profile" -> the incarnation's
    CreationTime it is for); a record of an earlier profile of that name does not count."""
    running = runner.running()
    phases: dict[str, str] = {}
    for qualified, created in sorted(profiles.items()):
        record = runner.record(PREFIX + qualified)
        phase = str(record.get("phase", ""))
        if not phase or record.get("created", "") != created:
            continue
        if phase == "Uploading" and f"finalsnapshot:{qualified}" not in running:
            phase = "Interrupted"  # its controller stopped: taken again
        if phase == "Failed" and int(record.get("attempts", 0)) >= FINAL_ATTEMPTS:
            phase = GAVE_UP
        phases[qualified] = phase
    return phases


def take_final_snapshot(action: Action, ctx: ExecutionContext) -> str:
    runner: SnapshotRunner | None = getattr(ctx, "snapshots", None)
    if runner is None or ctx.desired is None:
        raise TerminalError("NoSnapshots", "a final snapshot needs the controller's snapshot "
                                           "workers (studioctl run or apply with a status "
                                           "table); the profile is not deleted without it")
    params = action.params
    for source in params["Sources"]:
        if not mounted_here(ctx, source["FileSystemId"]) and ctx.worker_mover is None:
            raise RequeueAfter(SETTLE_SECONDS * 6, f"file system {source['FileSystemId']} is "
                               "not mounted here and no worker task is configured: the "
                               "final snapshot (and the deletion) wait")
    policy = ctx.desired.snapshot_policies[params["Policy"]]
    qualified = params["Profile"]
    pk = PREFIX + qualified
    before = runner.record(pk)
    attempts = int(before.get("attempts", 0)) if before.get("created") == params["Created"] else 0
    stamp = stamp_of(ctx.started_at or time.time(), os.urandom(2).hex())
    requests = [SnapshotRequest(
        params["Policy"], s["Source"],
        Source(s["Kind"], s["FileSystem"], s["FileSystemId"], s["Path"], ctx.region,
               s.get("Profile"), s.get("Share"), s.get("Domain")),
        params["Bucket"], policy.prefix, stamp, ctx.revision, policy.level, policy.kms_key_id)
        for s in params["Sources"]]
    runner.save({"pk": pk, "phase": "Uploading", "created": params["Created"],
                 "attempts": attempts + 1, "ids": [r.id for r in requests]})
    runner.submit(f"finalsnapshot:{qualified}",
                  _job(runner, ctx, pk, params, requests))
    return f"final snapshot of {len(requests)} home folder(s) started"


def _job(runner: SnapshotRunner, ctx: ExecutionContext, pk: str, params: Any,
         requests: list[SnapshotRequest]) -> Callable[[Callable[[], bool]], None]:
    assert ctx.desired is not None
    retention = ctx.desired.estate.history_retention_days
    here = {r.source.file_system_id: mounted_here(ctx, r.source.file_system_id)
            for r in requests}  # decided once, when the job is made

    def entry(request: SnapshotRequest, result: str, began: float, **more: Any) -> HistoryEntry:
        return HistoryEntry(time.time(), "snapshot", ctx.revision, ctx.region, result,
                            source=f"{request.source.file_system_id}:{request.source.path}",
                            target=f"s3://{request.bucket}/{request.id}",
                            profile=params["Profile"],
                            seconds=round(time.monotonic() - began, 3), **more)

    def work(cancelled: Callable[[], bool]) -> None:
        entries, skipped = [], []
        for request in requests:
            began = time.monotonic()
            try:
                made = snapshot_where_it_lives(ctx, request,
                                               here[request.source.file_system_id], cancelled)
            except (SourceUnavailable, WorkerSourceMissing) as error:
                # Opened component by component without following links: only a
                # folder that is not there (ENOENT) is skipped, never a link or a file.
                if (isinstance(error, WorkerSourceMissing)
                        or isinstance(error.__cause__, FileNotFoundError)):
                    skipped.append(request.source.path)  # never made: nothing to keep
                    entries.append(entry(request, "nothing to snapshot", began,
                                         message="final snapshot before prune: "
                                                 "the home folder does not exist"))
                    continue
                _failed(runner, pk, error, entries + [entry(request, "failed", began,
                                                            message=str(error)[:500])],
                        retention)
                raise
            except Exception as error:
                if cancelled() or isinstance(error, WorkerStillRunning):
                    raise  # stopping, or the lease is lost: taken again by the leader
                _failed(runner, pk, error, entries + [entry(request, "failed", began,
                                                            message=str(error)[:500])],
                        retention)
                raise
            entries.append(entry(request, "ok", began, files=made.counts.get("files", 0),
                                 bytes=made.bytes_in,
                                 message="final snapshot before prune"))
        runner.save({**runner.record(pk), "phase": "Complete", "skipped": skipped})
        append_quietly(runner.store, entries, retention, runner.log)
        runner.log.info("final_snapshot_complete", profile=params["Profile"],
                        snapshots=[r.id for r in requests], skipped=skipped)
    return work


def _failed(runner: SnapshotRunner, pk: str, error: Exception, entries: list[HistoryEntry],
            retention: int) -> None:
    runner.save({**runner.record(pk), "phase": "Failed",
                 "message": f"{type(error).__name__}: {error}"[:500]})
    append_quietly(runner.store, entries, retention, runner.log)
