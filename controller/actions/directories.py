"""CreateDirectory, SetDirectoryOwnership and ReownHome on the mounted file systems.

All go through controller.fs: no-follow, fd-relative, inside the share, never anything
removed. CreateDirectory and SetDirectoryOwnership change only the share directory
itself; ReownHome gives a profile's whole tree to its new POSIX ids (controller.fs.reown,
see controller.plan.homes for when), the top folder last.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from controller.actions.context import ExecutionContext
from controller.errors import TerminalError
from controller.fs.reown import reown_tree
from controller.fs.safe_dirs import ensure_directory, open_directory
from controller.plan.homes import REOWNED
from controller.plan.types import Action, Kind


def _mount(params: dict[str, object], ctx: ExecutionContext) -> Path:
    if ctx.efs_root is None:
        raise TerminalError("NoMountRoot", "no --efs-root: share directories cannot be made")
    mount = ctx.efs_root / str(params["FileSystemId"])
    if not mount.is_dir():
        raise TerminalError("NotMounted", f"file system {params['FileSystemId']} is not "
                                          f"mounted at {mount}")
    return mount


def ensure_share_directory(action: Action, ctx: ExecutionContext) -> str:
    params = ctx.resolve(dict(action.params))
    mount = _mount(params, ctx)
    result = ensure_directory(mount, params["Path"], int(params["Uid"]), int(params["Gid"]),
                              int(params["Mode"], 8))
    if result.ownership_not_set:
        ctx.warn(result.ownership_not_set)
    verb = "created" if result.created else "corrected"
    return f"{verb} {result.uid}:{result.gid} {result.mode:04o}"


def reown_home(action: Action, ctx: ExecutionContext) -> str:
    params = ctx.resolve(dict(action.params))
    path = str(params["Path"])
    previous = (int(params["PreviousUid"]), int(params["PreviousGid"]))
    new = (int(params["Uid"]), int(params["Gid"]))
    fd = open_directory(_mount(params, ctx), path)
    try:
        top = os.fstat(fd)
        if top.st_uid not in (previous[0], new[0]):
            raise TerminalError("NotAdopted", (
                f"{path} is owned by {top.st_uid}:{top.st_gid} now, neither the profile's "
                f"previous uid {previous[0]} nor its new uid {new[0]}; left as it is"))
        report = reown_tree(fd, previous, new)
        if report.skipped:
            # Left for the next pass, before the top folder and the profile's new ids
            # say that this one is done.
            raise RuntimeError(f"{path}: {report.skipped} entries changed while being "
                               "re-owned; the next pass finishes the job")
        # The top folder last: until it has its new owner, the next pass does it again.
        if (top.st_uid, top.st_gid) != new:
            os.fchown(fd, *new)
        mode = int(str(params["Mode"]), 8)
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
    ctx.learn(Kind.DIRECTORY, action.key.name, REOWNED, True)
    left = []
    if report.others:
        left.append(f"{report.others} owned by others (such as {', '.join(report.examples)})")
    if report.linked:
        left.append(f"{report.linked} with hard links from outside it")
    if report.mounts:
        left.append(f"{report.mounts} other file system(s) mounted in it")
    if left:
        ctx.warn(f"{path}: re-owned for {params['Profile']}; left as they are: "
                            + "; ".join(left))
    return (f"re-owned {report.reowned} entries from uid {previous[0]} to "
            f"{new[0]}:{new[1]}" + (f"; left {'; '.join(left)}" if left else ""))
