"""Working copy executors (see controller.plan.working_copy).

CreateWorkingCopy makes the file system (CreateFileSystem's executor, idempotent on its
CreationToken). FillWorkingCopy copies the replica into the working copy through a data
mover (controller.movers: in process when both are mounted here), then records when the
copy began in a tag, which is what says "filled".
AttachWorkingCopy stops the replication into the replica from this side (the replica
keeps every file) and tags the working copy attached. None deletes anything.
"""

from __future__ import annotations

import time

from controller.actions.classify import classify
from controller.actions.context import MANAGED_TAGS, SETTLE_SECONDS, ExecutionContext
from controller.actions.data_moves import move
from controller.actions.replication import delete_replication, still_replicating
from controller.errors import RequeueAfter
from controller.escaping import escape
from controller.fencing import ATTACHED_TAG, COPIED_AT_TAG
from controller.logs import get_logger
from controller.metrics import COPY_BYTES, COPY_FILES
from controller.movers import CopyJob, Tick
from controller.plan.types import Action


def fill_working_copy(action: Action, ctx: ExecutionContext) -> str:
    params = action.params
    replica, working = params["ReplicaId"], params["FileSystemId"]
    began = ctx.started_at or time.time()
    log = get_logger(region=ctx.region)

    def progress(tick: Tick) -> None:
        log.info("working_copy_progress", file_system=params["LogicalName"], files=tick.files,
                 bytes=tick.bytes, elapsed_s=round(tick.elapsed, 1))
    job = CopyJob(replica, working, "active_active" if params.get("Refresh") else "working_copy")
    report = move(job, ctx, progress)
    COPY_FILES.labels("working_copy").inc(report.files)
    COPY_BYTES.labels("working_copy").inc(report.bytes)
    if report.errors:
        shown = "; ".join(escape(error) for error in report.errors[:5])
        raise RuntimeError(f"{len(report.errors)} entries of {replica} could not be copied "
                           f"into {working} ({shown}); tried again")
    if report.not_kept:
        # EFS holds no extended attributes or ACLs: said once per copy, with examples.
        log.warning("working_copy_metadata_not_kept", file_system=params["LogicalName"],
                    count=len(report.not_kept),
                    examples=list(report.not_kept[:20]))
    if report.conflicts:
        log.warning("working_copy_conflicts", file_system=params["LogicalName"],
                    count=len(report.conflicts), paths=list(report.conflicts[:20]),
                    message="newer in the working copy: kept, not overwritten")
    try:
        ctx.client("efs").tag_resource(ResourceId=working, Tags=[
            {"Key": COPIED_AT_TAG, "Value": f"{began:.3f}"}, *MANAGED_TAGS])
    except Exception as error:
        raise classify(error) from error
    what = "refreshed" if params.get("Refresh") else "filled"
    return (f"{what} {working} from {replica}: {report.files} files, "
            f"{report.bytes} bytes copied, {report.skipped} already there, "
            f"{len(report.conflicts)} newer there kept, in {report.duration_seconds:.1f}s")


def attach_working_copy(action: Action, ctx: ExecutionContext) -> str:
    params = action.params
    efs = ctx.client("efs")
    replica, working = params["ReplicaId"], params["FileSystemId"]
    if params.get("SourceFileSystemId"):
        delete_replication(efs, params["SourceFileSystemId"], params.get("DeletionMode"))
    if still_replicating(efs, replica):
        raise RequeueAfter(SETTLE_SECONDS, f"replication into {replica} is being deleted")
    try:
        efs.tag_resource(ResourceId=working, Tags=[{"Key": ATTACHED_TAG, "Value": "true"}])
    except Exception as error:
        raise classify(error) from error
    return (f"{working} now serves {params['LogicalName']} in {ctx.region}; the replica "
            f"{replica} is kept as it was")
