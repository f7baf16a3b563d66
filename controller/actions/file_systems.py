"""CreateFileSystem: an EFS file system the desired state asks the operator to make.

The CreationToken makes the create idempotent: a retry after a lost answer returns the
same file system (FileSystemAlreadyExists names it). Never deletes a file system.
"""

from __future__ import annotations

from controller.actions.classify import classify, error_code
from controller.actions.context import MANAGED_TAGS, SETTLE_SECONDS, ExecutionContext
from controller.errors import RequeueAfter
from controller.plan.types import Action, Kind


def create_file_system(action: Action, ctx: ExecutionContext) -> str:
    efs = ctx.client("efs")
    request = dict(action.params)
    request["Tags"] = [*request.get("Tags", []), *MANAGED_TAGS]
    try:
        response = efs.create_file_system(**request)
        fs_id, outcome = response["FileSystemId"], "created"
    except Exception as error:
        if error_code(error) != "FileSystemAlreadyExists":
            raise classify(error) from error
        fs_id = error.response.get("FileSystemId") or _by_token(ctx, request["CreationToken"])  # type: ignore[attr-defined]
        outcome = "adopted"
    ctx.learn(Kind.FILE_SYSTEM, action.key.name, "FileSystemId", fs_id)
    state = efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]["LifeCycleState"]
    if state != "available":
        raise RequeueAfter(SETTLE_SECONDS, f"file system {fs_id} is {state}")
    return f"{outcome} {fs_id}"


def _by_token(ctx: ExecutionContext, token: str) -> str:
    response = ctx.client("efs").describe_file_systems(CreationToken=token)
    return str(response["FileSystems"][0]["FileSystemId"])
