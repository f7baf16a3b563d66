"""RestoreRecreatedHome: a recreated profile's old home, restored into its new one.

The restore is the snapshot issue's machinery (controller.snapshots.restore, live home
to home: tar's stream straight into the verified, no-follow extractor, staged, then
merged filling only what is missing, owners remapped old home uid -> new). It runs on
the controller's snapshot workers; the pass never waits for it. Its record
("homerestore#<domain>/<profile>", for one old incarnation) says where it is:

- no record for this old incarnation, or a failed one under FAILED_ATTEMPTS: started
  (Running recorded first, with the staging folder once made), and the action waits;
- Running while a job of this process runs: the action waits;
- Succeeded: the action succeeds, with the files, bytes and time in the history, and the
  user table moves to the new incarnation (controller.loop.user_table): once, however
  many passes saw it running. A record left Running by a controller that stopped is run
  again (its staging folder removed first);
- the old home folder gone since the plan (ENOENT, here or on the worker; a link or a
  file where it was is still a failure): Succeeded with "gone" and 0 files, not an
  attempt that failed: there is nothing left to restore, and the history says so;
- Failed FAILED_ATTEMPTS times: terminal (looked at again with a new revision).
When the old or new home's file system is not mounted here, the restore runs on a worker
task where both are (controller.actions.worker_jobs.run_on_worker), its job recorded in
this record ("workerJob") before the task starts: a controller restarted while it runs
adopts the task. A new home the worker does not find yet makes it wait ("Waiting", not
an attempt), as one not made yet does here.
Writes only inside the new home; reads the old one, never changes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from controller.actions.context import SETTLE_SECONDS, ExecutionContext
from controller.actions.restore_run import run_restore
from controller.actions.worker_jobs import (
    WorkerLiveSourceMissing,
    WorkerTargetMissing,
    mounted_here,
    run_on_worker,
)
from controller.errors import RequeueAfter, TerminalError
from controller.movers.worker_task import WorkerStillRunning
from controller.plan.types import Action
from controller.snapshots.remap import MAP
from controller.snapshots.restore import FILL_MISSING
from controller.snapshots.runner import SnapshotRunner
from controller.snapshots.snapshot import SourceUnavailable
from controller.status.history import HistoryEntry

PREFIX = "homerestore#"
FAILED_ATTEMPTS = 3


def restore_recreated_home(action: Action, ctx: ExecutionContext) -> str:
    runner: SnapshotRunner | None = getattr(ctx, "snapshots", None)
    params = action.params
    qualified = params["Profile"]
    here = all(mounted_here(ctx, params[side]["FileSystemId"]) for side in ("Source", "Target"))
    if runner is None or (not here and ctx.worker_mover is None):
        raise TerminalError("NoWorkers", f"{qualified}: restoring a recreated profile's home "
                            "needs the controller's snapshot workers and mounted file "
                            "systems (studioctl run or apply with a status table and "
                            "--efs-root); the old home is left where it is")
    pk = PREFIX + qualified
    record = runner.record(pk)
    ours = record.get("previous") == params["Previous"]
    phase = str(record.get("phase", "")) if ours else ""
    job = f"homerestore:{qualified}"
    if phase == "Succeeded":
        ctx.history.append(_entry(ctx, params, record))
        if record.get("gone"):
            return str(record.get("message", "the old home was gone: nothing to restore"))
        return f"old home restored: {record.get('message', '')}"
    if phase == "Running" and job in runner.running():
        raise RequeueAfter(SETTLE_SECONDS, f"{qualified}: restoring its old home")
    attempts = int(record.get("attempts", 0)) if ours else 0
    if phase == "Failed" and attempts >= FAILED_ATTEMPTS:
        raise TerminalError("RestoreFailed", f"{qualified}: restoring its old home failed "
                            f"{attempts} times: {record.get('message', '')}")
    if here:
        assert ctx.efs_root is not None
        target = ctx.efs_root / params["Target"]["FileSystemId"]
        if not (target / params["Target"]["Path"].strip("/")).is_dir():
            raise RequeueAfter(SETTLE_SECONDS, f"{qualified}: its new home "
                               f"{params['Target']['Path']} is not made yet")
    stale = record.get("staging") if ours and phase == "Running" else None
    # A worker a stopped controller started for this restore: the same job, adopted.
    adopted = record.get("workerJob") if ours and phase == "Running" and not here else None
    runner.save({"pk": pk, "previous": params["Previous"], "phase": "Running",
                 "attempts": attempts if adopted else attempts + 1,
                 "startedAt": str(time.time()), **({"workerJob": adopted} if adopted else {})})
    runner.submit(job, _job(runner, ctx, pk, params, stale, here, adopted))
    raise RequeueAfter(SETTLE_SECONDS, f"{qualified}: restore of its old home started")


def _job(runner: SnapshotRunner, ctx: ExecutionContext, pk: str, params: Any,
         stale: Any, here: bool, adopted: Any) -> Callable[[Callable[[], bool]], None]:
    restore = {"Restore": params["Profile"], "Mode": FILL_MISSING, "Owners": MAP,
               "UidMap": {str(k): int(v) for k, v in params["UidMap"].items()}, "GidMap": {},
               "FileSystemId": params["Target"]["FileSystemId"],
               "Path": params["Target"]["Path"],
               "LiveFileSystemId": params["Source"]["FileSystemId"],
               "LivePath": params["Source"]["Path"], "Stale": stale, "WorkerJob": adopted}

    def staging_made(folder: str) -> None:
        """Recorded before anything is written into it: a restart removes it."""
        runner.save({**runner.record(pk), "staging": {
            "FileSystemId": restore["FileSystemId"], "Path": restore["Path"], "Name": folder}})

    def work(cancelled: Callable[[], bool]) -> None:
        try:
            if here:
                report = run_restore(ctx, restore, cancelled, on_staging=staging_made)
            else:
                report = run_on_worker(runner, ctx, restore, cancelled, _no_manifest, pk)
        except WorkerTargetMissing as error:
            # Not made yet where the worker mounts it: wait for it, as here; not an attempt.
            before = runner.record(pk)
            runner.save({**{k: v for k, v in before.items() if k != "workerJob"},
                         "phase": "Waiting", "attempts": max(int(before.get("attempts", 1)) - 1, 0),
                         "message": f"its new home is not made yet: {error}"[:1000]})
            return
        except Exception as error:
            if cancelled() or isinstance(error, WorkerStillRunning):
                raise  # stopping, the lease is lost, or followed too long: adopted later
            if _old_home_gone(ctx, params, error):
                runner.save({**runner.record(pk), "phase": "Succeeded", "gone": True,
                             "files": 0, "bytes": 0, "seconds": "0",
                             "message": f"the old home {_where(params['Source'])} was gone: "
                                        "nothing to restore"})
                runner.log.warning("recreated_home_gone", profile=params["Profile"],
                                   old_home=_where(params["Source"]))
                return
            runner.save({**runner.record(pk), "phase": "Failed",
                         "message": f"{type(error).__name__}: {error}"[:1000]})
            raise
        runner.save({**runner.record(pk), "phase": "Succeeded", "files": report.files,
                     "bytes": report.bytes, "seconds": str(round(report.seconds, 3)),
                     "message": f"{report.files} files, {report.bytes} bytes in "
                                f"{report.seconds:.1f}s; {report.skipped_count} skipped "
                                "(already there)"})
        runner.log.info("recreated_home_restored", profile=params["Profile"],
                        files=report.files, bytes=report.bytes,
                        skipped=report.skipped_count)
    return work


def _old_home_gone(ctx: ExecutionContext, params: Any, error: Exception) -> bool:
    """The old home folder does not exist (ENOENT; opened without following links, so a
    link or a file where it was is not this), on a file system that is mounted."""
    if isinstance(error, WorkerLiveSourceMissing):
        return True
    source = params["Source"]["FileSystemId"]
    return (isinstance(error, SourceUnavailable)
            and isinstance(error.__cause__, FileNotFoundError)
            and ctx.efs_root is not None and (ctx.efs_root / source).is_dir())


def _where(side: Any) -> str:
    return f"{side['FileSystemId']}:{side['Path']}"


def _no_manifest() -> tuple[str, str]:
    raise AssertionError("a recreated home is restored from the live old home")


def _entry(ctx: ExecutionContext, params: Any, record: dict[str, Any]) -> HistoryEntry:
    source, target = params["Source"], params["Target"]
    if record.get("gone"):
        return HistoryEntry(
            time.time(), "recreation", ctx.revision, ctx.region, "nothing to restore",
            source=_where(source), target=_where(target), profile=params["Profile"],
            message=str(record.get("message", "the old home was gone")))
    return HistoryEntry(
        time.time(), "recreation", ctx.revision, ctx.region, "restored",
        source=f"{source['FileSystemId']}:{source['Path']}",
        target=f"{target['FileSystemId']}:{target['Path']}", profile=params["Profile"],
        files=int(record.get("files", 0)), bytes=int(record.get("bytes", 0)),
        seconds=float(record.get("seconds", 0)),
        message=f"old home restored into the new incarnation, owners "
                f"{', '.join(f'{k}->{v}' for k, v in params['UidMap'].items())}; "
                f"{record.get('message', '')}")
