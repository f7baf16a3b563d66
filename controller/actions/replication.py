"""Replication executors: EnsureReplication, TagReplica, PromoteReplica and
DeleteOrphanedReplication.

EnsureReplication creates the configuration (a new replica in the other region, or the
old copy a failback made ready) and tags the replica with its source's Name tag, the
one cross-region write replication set-up needs, so the other region's controller finds
its copy by name; TagReplica puts that tag back when it has gone. PromoteReplica
deletes the configuration by the source id it was observed with (the only id EFS names
a configuration by), in the deletion mode the plan chose, and is done only once the
replica's own region answers ReplicationNotFound for it; it reports EFS's lost+found
folder if one appears. DeleteOrphanedReplication deletes a side left behind by a
LOCAL_CONFIGURATION_ONLY deletion in the other region. None ever deletes a file system
or anything in it.
"""

from __future__ import annotations

from typing import Any

from controller.actions.classify import classify, error_code
from controller.actions.context import MANAGED_TAGS, SETTLE_SECONDS, ExecutionContext
from controller.errors import RequeueAfter
from controller.plan.types import Action

LOST_AND_FOUND_PREFIX = "efs-replication-lost+found-"


def ensure_replication(action: Action, ctx: ExecutionContext) -> str:
    efs = ctx.client("efs")
    params = action.params
    try:
        destination = {"Region": params["DestinationRegion"]}
        if params.get("DestinationFileSystemId"):
            destination["FileSystemId"] = params["DestinationFileSystemId"]
        response = efs.create_replication_configuration(
            SourceFileSystemId=params["SourceFileSystemId"], Destinations=[destination])
    except Exception as error:
        # A create whose answer was lost, retried, finds the source in a configuration
        # (BadRequest): that one is ours if it replicates where this one would.
        existing = _own_configuration(efs, params) if error_code(error) == "BadRequest" else None
        if existing is None:
            raise classify(error) from error
        response = existing
    replica = response["Destinations"][0]["FileSystemId"]
    if params.get("NameTag"):
        _tag(ctx, params["DestinationRegion"], replica, params["NameTag"])
    return f"replicating to {replica} in {params['DestinationRegion']}"


def tag_replica(action: Action, ctx: ExecutionContext) -> str:
    params = action.params
    _tag(ctx, params["Region"], params["FileSystemId"], params["NameTag"])
    return f"{params['FileSystemId']} in {params['Region']} tagged Name={params['NameTag']} again"


def promote_replica(action: Action, ctx: ExecutionContext) -> str:
    efs = ctx.client("efs")
    params = action.params
    replica = params["FileSystemId"]
    delete_replication(efs, params["SourceFileSystemId"], params.get("DeletionMode"))
    if still_replicating(efs, replica):
        raise RequeueAfter(SETTLE_SECONDS, f"replica {replica} is being promoted (its "
                                           "replication configuration is being deleted)")
    found = _lost_and_found(ctx, replica)
    if found:
        ctx.warn(f"EFS wrote {', '.join(found)} at the root of {replica} while "
                            "promoting it: look there")
    local = params.get("DeletionMode") == "LOCAL_CONFIGURATION_ONLY"
    return f"promoted {replica} (writable)" + (
        f"; {params.get('SourceRegion')} was unreachable: only this region's side of the "
        "configuration was deleted, that region deletes its own when it is back"
        if local else "")


def delete_orphaned_replication(action: Action, ctx: ExecutionContext) -> str:
    efs = ctx.client("efs")
    source = action.params["SourceFileSystemId"]
    delete_replication(efs, source, action.params.get("DeletionMode"))
    if still_replicating(efs, source):
        raise RequeueAfter(SETTLE_SECONDS, f"the orphaned configuration of {source} is being "
                                           "deleted")
    return (f"deleted {source}'s orphaned replication configuration (its destination "
            f"{action.params['DestinationFileSystemId']} had left it)")


def delete_replication(efs: Any, source_id: str, mode: str | None = None) -> None:
    """Delete the configuration named by its source's id, from this region.

    ReplicationNotFound means an earlier attempt (perhaps killed after it) already did;
    whether the deletion has finished is for the caller to check.
    """
    try:
        efs.delete_replication_configuration(SourceFileSystemId=source_id,
                                             DeletionMode=mode or "ALL_CONFIGURATIONS")
    except Exception as error:
        if error_code(error) != "ReplicationNotFound":
            raise classify(error) from error


def still_replicating(efs: Any, file_system_id: str) -> bool:
    """True until this region says the file system takes part in no configuration."""
    try:
        efs.describe_replication_configurations(FileSystemId=file_system_id)
    except efs.exceptions.ReplicationNotFound:
        return False
    except Exception as error:
        raise classify(error) from error
    return True


def _own_configuration(efs: Any, params: Any) -> dict[str, Any] | None:
    try:
        found = efs.describe_replication_configurations(
            FileSystemId=params["SourceFileSystemId"])["Replications"]
    except efs.exceptions.ReplicationNotFound:
        return None
    for config in found:
        destination = config["Destinations"][0]
        wanted = params.get("DestinationFileSystemId")
        if (config["SourceFileSystemId"] == params["SourceFileSystemId"]
                and destination["Region"] == params["DestinationRegion"]
                and (not wanted or destination["FileSystemId"] == wanted)):
            return dict(config)
    return None


def _tag(ctx: ExecutionContext, region: str, file_system_id: str, name: str) -> None:
    remote = ctx.gateway.client("efs", region)
    try:
        remote.tag_resource(ResourceId=file_system_id,
                            Tags=[{"Key": "Name", "Value": name}, *MANAGED_TAGS])
    except Exception as error:
        raise classify(error) from error


def _lost_and_found(ctx: ExecutionContext, file_system_id: str) -> list[str]:
    if ctx.efs_root is None or not (ctx.efs_root / file_system_id).is_dir():
        return []
    return sorted(entry.name for entry in (ctx.efs_root / file_system_id).iterdir()
                  if entry.name.startswith(LOST_AND_FOUND_PREFIX))
