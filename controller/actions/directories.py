"""CreateDirectory and SetDirectoryOwnership on the mounted file systems.

Both go through controller.fs.safe_dirs: no-follow, fd-relative, inside the share,
only the share directory itself changed, never anything removed.
"""

from __future__ import annotations

from controller.actions.context import ExecutionContext
from controller.errors import TerminalError
from controller.fs.safe_dirs import ensure_directory
from controller.plan.types import Action


def ensure_share_directory(action: Action, ctx: ExecutionContext) -> str:
    if ctx.efs_root is None:
        raise TerminalError("NoMountRoot", "no --efs-root: share directories cannot be made")
    params = ctx.resolve(dict(action.params))
    mount = ctx.efs_root / params["FileSystemId"]
    if not mount.is_dir():
        raise TerminalError("NotMounted", f"file system {params['FileSystemId']} is not "
                                          f"mounted at {mount}")
    result = ensure_directory(mount, params["Path"], int(params["Uid"]), int(params["Gid"]),
                              int(params["Mode"], 8))
    if result.ownership_not_set:
        ctx.warnings.append(result.ownership_not_set)
    verb = "created" if result.created else "corrected"
    return f"{verb} {result.uid}:{result.gid} {result.mode:04o}"
