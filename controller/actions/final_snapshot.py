"""TakeFinalSnapshot: the last snapshot of a pruned profile's home folders, taken on the
controller's snapshot workers (controller.snapshots.runner) before the profile goes.

The executor records the job ("finalsnapshot#<domain>/<profile>": phase Uploading, the
incarnation it is for, attempts) before starting it, and returns: the pass never waits.
The job archives each home folder with the snapshot machinery (controller.snapshots,
same source ids and policy as the scheduled ones, so retention keeps it and `studioctl
restore` finds it), then records Complete or Failed and appends a history entry per
folder. A home folder that was never made has nothing to lose and is skipped, said so.
A home whose file system is not mounted here is archived by a worker task where it is
(controller.actions.worker_jobs, as scheduled snapshots are): its job is recorded
("workerJobs") before the task starts, and each folder's end as it comes ("done"); without
workers the final snapshot, and so the deletion, waits.
`final_phases` is how the next passes see it: Uploading while a job of this process
runs, GaveUp after FINAL_ATTEMPTS failures; a record left Uploading by a controller that
stopped is taken again: its recorded worker jobs run again as they are (the same ids,
so their tasks are adopted, their uploads kept: `final_uploads`), with no attempt counted;
what it ran here is taken anew. Deletes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.actions.context import SETTLE_SECONDS, ExecutionContext
from controller.actions.worker_jobs import (
    WorkerSourceMissing,
    archive_key,
    lost_track,
    mounted_here,
    recorded_snapshot,
    recorded_worker_job,
    snapshot_job,
    snapshot_where_it_lives,
)
from controller.errors import RequeueAfter, TerminalError
from controller.movers.jobs import SnapshotJob, job_to_json
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
    same = before.get("created") == params["Created"]
    attempts = int(before.get("attempts", 0)) if same else 0
    # Interrupted while workers ran (its controller stopped): the same worker jobs again,
    # so their tasks are adopted, and what was done is not done again. Not an attempt.
    adopted = _adoptable(before, ctx) if same else {}
    done = dict(before.get("done", {})) if adopted else {}
    stamp = stamp_of(ctx.started_at or time.time(), os.urandom(2).hex())
    requests: list[SnapshotRequest] = []
    jobs: dict[str, SnapshotJob] = {}
    for s in params["Sources"]:
        if s["Source"] in done:
            continue
        if s["Source"] in adopted:
            jobs[s["Source"]], request = adopted[s["Source"]]
        else:
            request = SnapshotRequest(
                params["Policy"], s["Source"],
                Source(s["Kind"], s["FileSystem"], s["FileSystemId"], s["Path"], ctx.region,
                       s.get("Profile"), s.get("Share"), s.get("Domain")),
                params["Bucket"], policy.prefix, stamp, ctx.revision, policy.level,
                policy.kms_key_id)
            if not mounted_here(ctx, s["FileSystemId"]):  # decided once, here
                jobs[s["Source"]] = snapshot_job(request, ctx.region)
        requests.append(request)
    # Recorded before any task starts: a restart runs these same jobs again.
    runner.save({"pk": pk, "phase": "Uploading", "created": params["Created"],
                 "attempts": attempts + (0 if adopted else 1),
                 "ids": [r.id for r in requests], "done": done,
                 "workerJobs": {k: job_to_json(j) for k, j in sorted(jobs.items())}})
    runner.submit(f"finalsnapshot:{qualified}",
                  _job(runner, ctx, pk, params, requests, jobs, set(adopted)))
    return (f"final snapshot of {len(requests)} home folder(s) started"
            + (f", {len(adopted)} adopted from worker tasks" if adopted else ""))


def _adoptable(record: Mapping[str, Any], ctx: ExecutionContext
               ) -> dict[str, tuple[SnapshotJob, SnapshotRequest]]:
    """The recorded worker jobs of a final snapshot left Uploading, by source."""
    found = {}
    for source, text in dict(record.get("workerJobs", {})).items():
        entry = {"phase": record.get("phase"), "workerJob": text}
        recorded = recorded_worker_job(entry, ctx)
        if recorded is not None:
            found[str(source)] = recorded
    return found


def final_uploads(runner: SnapshotRunner, profiles: Mapping[str, str]) -> frozenset[str]:
    """The object keys the worker tasks of interrupted final snapshots upload (records
    Uploading that no thread here runs): adopted, so not left over (plan/snapshots)."""
    running = runner.running()
    keys: set[str] = set()
    for qualified, created in sorted(profiles.items()):
        record = runner.record(PREFIX + qualified)
        if (record.get("phase") != "Uploading" or record.get("created", "") != created
                or f"finalsnapshot:{qualified}" in running):
            continue
        done = dict(record.get("done", {}))
        for source, text in dict(record.get("workerJobs", {})).items():
            try:
                _, request = recorded_snapshot(str(text))
            except (ValueError, TypeError):
                continue
            if source not in done:
                keys.add(archive_key(request))
    return frozenset(keys)


def _job(runner: SnapshotRunner, ctx: ExecutionContext, pk: str, params: Any,
         requests: list[SnapshotRequest], jobs: Mapping[str, SnapshotJob],
         adopted: set[str]) -> Callable[[Callable[[], bool]], None]:
    assert ctx.desired is not None
    retention = ctx.desired.estate.history_retention_days

    def entry(request: SnapshotRequest, result: str, began: float, **more: Any) -> HistoryEntry:
        return HistoryEntry(time.time(), "snapshot", ctx.revision, ctx.region, result,
                            source=f"{request.source.file_system_id}:{request.source.path}",
                            target=f"s3://{request.bucket}/{request.id}",
                            profile=params["Profile"],
                            seconds=round(time.monotonic() - began, 3), **more)

    def finished(request: SnapshotRequest, how: str) -> None:
        """Recorded as each one ends: an adopting controller does not take it again."""
        record = runner.record(pk)
        runner.save({**record, "done": {**dict(record.get("done", {})),
                                        request.source_id: how}})

    def work(cancelled: Callable[[], bool]) -> None:
        entries, skipped = [], []
        for request in requests:
            began = time.monotonic()
            job = jobs.get(request.source_id)
            try:
                made = snapshot_where_it_lives(ctx, request, job, cancelled,
                                               request.source_id in adopted)
            except (SourceUnavailable, WorkerSourceMissing) as error:
                # Opened component by component without following links: only a
                # folder that is not there (ENOENT) is skipped, never a link or a file.
                if (isinstance(error, WorkerSourceMissing)
                        or isinstance(error.__cause__, FileNotFoundError)):
                    skipped.append(request.source.path)  # never made: nothing to keep
                    entries.append(entry(request, "nothing to snapshot", began,
                                         message="final snapshot before prune: "
                                                 "the home folder does not exist"))
                    finished(request, "missing:" + request.source.path)
                    continue
                _failed(runner, pk, error, entries + [entry(request, "failed", began,
                                                            message=str(error)[:500])],
                        retention)
                raise
            except Exception as error:
                # Stopping, or the lease is lost: taken again by the leader; a worker
                # lost sight of runs on: adopted by the next attempt (Uploading stays).
                if cancelled():
                    raise
                if job is not None and lost_track(error):
                    runner.log.warning("final_snapshot_worker_followed_later",
                                       snapshot=request.id,
                                       error=f"{type(error).__name__}: {error}"[:500])
                    return  # not the job's end: nothing is recorded
                _failed(runner, pk, error, entries + [entry(request, "failed", began,
                                                            message=str(error)[:500])],
                        retention)
                raise
            entries.append(entry(request, "ok", began, files=made.counts.get("files", 0),
                                 bytes=made.bytes_in,
                                 message="final snapshot before prune"))
            finished(request, "ok")
        record = runner.record(pk)
        # Skipped by an earlier, interrupted attempt of this final snapshot too.
        skipped += [how.removeprefix("missing:") for how in dict(record.get("done", {})).values()
                    if how.startswith("missing:") and how.removeprefix("missing:") not in skipped]
        runner.save({**record, "phase": "Complete", "skipped": skipped})
        append_quietly(runner.store, entries, retention, runner.log)
        runner.log.info("final_snapshot_complete", profile=params["Profile"],
                        snapshots=[r.id for r in requests], skipped=skipped)
    return work


def _failed(runner: SnapshotRunner, pk: str, error: Exception, entries: list[HistoryEntry],
            retention: int) -> None:
    runner.save({**runner.record(pk), "phase": "Failed",
                 "message": f"{type(error).__name__}: {error}"[:500]})
    append_quietly(runner.store, entries, retention, runner.log)
