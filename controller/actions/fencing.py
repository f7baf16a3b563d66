"""Fencing and failback executors (see controller.plan.failback for the order).

StopStudioApps and FenceFileSystem fence an old active region; SaveUnreplicatedWrites
copies what only its copy holds into a recovery folder on the active copy (through a
data mover, controller.movers);
AllowReplicationOverwrite then lets the active region replicate into it. LiftFence and
EnableOverwriteProtection undo the fence on a copy that is active again. Each is
idempotent: it reads what is there and changes only what differs. None deletes data.
"""

from __future__ import annotations

import time
from typing import Any

from controller.actions.classify import classify, error_code
from controller.actions.context import ExecutionContext
from controller.actions.data_moves import move
from controller.escaping import escape
from controller.fencing import fence_stamp, with_fence, without_fence
from controller.logs import get_logger
from controller.metrics import COPY_BYTES, COPY_FILES
from controller.movers import SaveJob, Tick
from controller.plan.types import Action

# How many saved paths are named in the action's message (all are in the list file).
NAMED_PATHS = 20


def stop_studio_apps(action: Action, ctx: ExecutionContext) -> str:
    sagemaker = ctx.client("sagemaker")
    stopped = 0
    for app in action.params["Apps"]:
        try:
            sagemaker.delete_app(**app)
            stopped += 1
        except Exception as error:
            if error_code(error) not in ("ResourceNotFound", "ResourceInUse"):
                raise classify(error) from error
    return f"stopping {stopped} Studio app(s) in {action.params['Domain']}"


def fence_file_system(action: Action, ctx: ExecutionContext) -> str:
    efs = ctx.client("efs")
    file_system_id = action.params["FileSystemId"]
    policy = _policy(efs, file_system_id)
    stamp = fence_stamp(policy)
    if stamp is not None:
        return f"{file_system_id} already fenced at {stamp}"
    arn = efs.describe_file_systems(FileSystemId=file_system_id)["FileSystems"][0][
        "FileSystemArn"]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        efs.put_file_system_policy(FileSystemId=file_system_id,
                                   Policy=with_fence(policy, stamp, arn))
    except Exception as error:
        raise classify(error) from error
    return f"fenced {file_system_id}: NFS writes denied by its file system policy"


def save_unreplicated_writes(action: Action, ctx: ExecutionContext) -> str:
    params = action.params
    old, active = params["FileSystemId"], params["ActiveFileSystemId"]
    log = get_logger(region=ctx.region)

    def progress(tick: Tick) -> None:
        log.info("saving_unreplicated", file_system=old, compared=tick.files)
    report = move(SaveJob(old, active, params["Folder"]), ctx, progress)
    where = f"{active}:{report.folder}"
    COPY_FILES.labels("recovery").inc(report.files)
    COPY_BYTES.labels("recovery").inc(report.bytes)
    if report.errors:
        shown = "; ".join(escape(error) for error in report.errors[:5])
        raise RuntimeError(f"{len(report.errors)} entries of {old} could not be saved into "
                           f"{where} ({shown}); the copy is not overwritten until they are")
    if report.not_kept:
        # xattrs/ACLs the active copy cannot hold (EFS holds none): saved without them.
        log.warning("unreplicated_writes_metadata_not_kept", file_system=params["LogicalName"],
                    count=len(report.not_kept), examples=report.not_kept[:NAMED_PATHS])
    names = [entry.path for entry in report.saved]
    if names:
        # Said loudly, by name: these files are not where their owners left them.
        log.warning("unreplicated_writes_saved", file_system=params["LogicalName"],
                    old_copy=old, saved_in=where, count=len(names),
                    paths=names[:NAMED_PATHS], listed_in=f"{report.folder}/saved-files.txt")
    # The log event above carries the exact names; this message is shown line by line.
    listed = ", ".join(escape(name) for name in names[:NAMED_PATHS])
    more = f" and {len(names) - NAMED_PATHS} more" if len(names) > NAMED_PATHS else ""
    return f"{report.summary} on {active}" + (f": {listed}{more}" if names else "")


def allow_replication_overwrite(action: Action, ctx: ExecutionContext) -> str:
    file_system_id = action.params["FileSystemId"]
    _set_protection(ctx.client("efs"), file_system_id, "DISABLED")
    return (f"{file_system_id}: replication overwrite protection off, so the active region "
            f"can replicate into it; what only it held is in {action.params['Recovery']}")


def lift_fence(action: Action, ctx: ExecutionContext) -> str:
    efs = ctx.client("efs")
    file_system_id = action.params["FileSystemId"]
    policy = _policy(efs, file_system_id)
    if fence_stamp(policy) is None:
        return f"{file_system_id} is not fenced"
    remaining = without_fence(policy)
    try:
        if remaining is None:
            efs.delete_file_system_policy(FileSystemId=file_system_id)
        else:
            efs.put_file_system_policy(FileSystemId=file_system_id, Policy=remaining)
    except Exception as error:
        raise classify(error) from error
    return f"{file_system_id} un-fenced: NFS writes allowed again"


def enable_overwrite_protection(action: Action, ctx: ExecutionContext) -> str:
    file_system_id = action.params["FileSystemId"]
    try:
        _set_protection(ctx.client("efs"), file_system_id, "ENABLED")
    except Exception as error:
        if error_code(error) == "ReplicationAlreadyExists":
            return f"{file_system_id} is a replication destination again (REPLICATING)"
        raise
    return f"{file_system_id}: replication overwrite protection back on"


def _policy(efs: Any, file_system_id: str) -> str | None:
    try:
        return str(efs.describe_file_system_policy(FileSystemId=file_system_id)["Policy"])
    except efs.exceptions.PolicyNotFound:
        return None


def _set_protection(efs: Any, file_system_id: str, value: str) -> None:
    try:
        efs.update_file_system_protection(FileSystemId=file_system_id,
                                          ReplicationOverwriteProtection=value)
    except Exception as error:
        raise classify(error) from error

