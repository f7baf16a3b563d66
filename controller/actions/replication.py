"""EnsureReplication and PromoteReplica: EFS replication from the active region.

EnsureReplication creates the configuration (a new replica in the other region) and
tags the replica with its source's Name tag, the one cross-region write replication
set-up needs, so the other region's controller finds its copy by name. PromoteReplica
deletes the configuration from the replica's side so the replica becomes writable, and
reports EFS's replication lost+found folder if one appears. Neither ever deletes a
file system or anything in it.
"""

from __future__ import annotations

from typing import Any

from controller.actions.classify import classify, error_code
from controller.actions.context import MANAGED_TAGS, SETTLE_SECONDS, ExecutionContext
from controller.errors import RequeueAfter, TerminalError
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
        if error_code(error) not in ("ReplicationAlreadyExists", "ConflictException"):
            raise classify(error) from error
        response = efs.describe_replication_configurations(
            FileSystemId=params["SourceFileSystemId"])["Replications"][0]
    replica = response["Destinations"][0]["FileSystemId"]
    if params.get("NameTag"):
        remote = ctx.gateway.client("efs", params["DestinationRegion"])
        remote.tag_resource(ResourceId=replica, Tags=[
            {"Key": "Name", "Value": params["NameTag"]}, *MANAGED_TAGS])
    return f"replicating to {replica} in {params['DestinationRegion']}"


def promote_replica(action: Action, ctx: ExecutionContext) -> str:
    efs = ctx.client("efs")
    params = action.params
    delete_replication(efs, params["FileSystemId"], params["SourceFileSystemId"])
    described = efs.describe_file_systems(FileSystemId=params["FileSystemId"])["FileSystems"][0]
    protection = (described.get("FileSystemProtection") or {}).get(
        "ReplicationOverwriteProtection")
    if protection == "REPLICATING" or still_replicating(efs, params["FileSystemId"]):
        raise RequeueAfter(SETTLE_SECONDS, "replica is being promoted (replication deleting)")
    found = _lost_and_found(ctx, params["FileSystemId"])
    if found:
        ctx.warnings.append(f"EFS wrote {', '.join(found)} at the root of "
                            f"{params['FileSystemId']} while promoting it: look there")
    return f"promoted {params['FileSystemId']} (writable)"


def delete_replication(efs: Any, replica_id: str, source_id: str) -> None:
    """Delete the configuration from the replica's region.

    The call names the configuration by a file system id; the replica's own id is the one
    this region knows (the source's is tried too, for endpoints that want that). When
    the source region is down, only this side is deleted, as AWS advises then.
    """
    for file_system_id in dict.fromkeys((replica_id, source_id)):
        try:
            efs.delete_replication_configuration(SourceFileSystemId=file_system_id)
            return
        except Exception as error:
            code = error_code(error)
            if code == "ReplicationNotFound":
                return  # a previous attempt (perhaps killed after it) already did it
            if code == "FileSystemNotFound":
                continue
            if code is None or code in ("ValidationException", "BadRequest"):
                raise classify(error) from error
            efs.delete_replication_configuration(SourceFileSystemId=file_system_id,
                                                 DeletionMode="LOCAL_CONFIGURATION_ONLY")
            return
    raise TerminalError("ReplicaNotFound", f"no replication found for {replica_id}")


def still_replicating(efs: Any, file_system_id: str) -> bool:
    try:
        efs.describe_replication_configurations(FileSystemId=file_system_id)
    except efs.exceptions.ReplicationNotFound:
        return False
    return True


def _lost_and_found(ctx: ExecutionContext, file_system_id: str) -> list[str]:
    if ctx.efs_root is None or not (ctx.efs_root / file_system_id).is_dir():
        return []
    return sorted(entry.name for entry in (ctx.efs_root / file_system_id).iterdir()
                  if entry.name.startswith(LOST_AND_FOUND_PREFIX))
