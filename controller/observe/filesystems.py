"""Look at share directories on the mounted file systems, without following links.

Each EFS file system is mounted at <efs root>/<file system id> (the Fargate task's
mounts; in local mode the emulator's folders). Every component of a share path is
looked at with lstat: a symlink a user planted anywhere on the way is reported, never
followed. Reads only; never changes anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from controller.observed import ObservedDirectory


def observe_directory(mount: Path, path: str) -> ObservedDirectory:
    """What sits at `path` (absolute, inside the file system) under `mount`."""
    parts = [p for p in path.split("/") if p]
    current = mount
    try:
        mount_stat = os.lstat(mount)
    except FileNotFoundError:
        return ObservedDirectory("missing", blocked_at=str(mount))
    if not stat.S_ISDIR(mount_stat.st_mode):
        return ObservedDirectory("other", blocked_at=str(mount))
    info = mount_stat
    walked = ""
    for part in parts:
        current = current / part
        walked = f"{walked}/{part}"
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return ObservedDirectory("missing")
        if stat.S_ISLNK(info.st_mode):
            return ObservedDirectory("symlink", blocked_at=walked)
        if not stat.S_ISDIR(info.st_mode):
            return ObservedDirectory("other", blocked_at=walked)
    return ObservedDirectory(
        "directory",
        uid=info.st_uid,
        gid=info.st_gid,
        mode=stat.S_IMODE(info.st_mode),
    )
