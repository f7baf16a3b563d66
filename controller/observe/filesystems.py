"""Look at share directories on the mounted file systems, without following links.

Each EFS file system is mounted at <efs root>/<file system id> (the Fargate task's
mounts; in local mode the emulator's folders). Every component of a share path is
looked at with lstat: a symlink a user planted anywhere on the way is reported, never
followed. A directory whose owner is not the desired one is also looked into (is it
empty?), and one whose profile's POSIX ids are changing is counted entry by entry (who
owns what, controller.fs.reown without applying). Reads only; never changes anything.
"""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

from controller.fs.reown import reown_tree
from controller.fs.safe_dirs import UnsafePathError, open_directory
from controller.model import ShareDirectory
from controller.observed import HomeCensus, ObservedDirectory, ObservedProfile


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


def previous_ids(profile: ObservedProfile | None) -> tuple[int, int] | None:
    """The POSIX ids SageMaker holds for a profile (None when it has none yet)."""
    if profile is None:
        return None
    config: Any = profile.description.get("UserSettings", {}).get("CustomPosixUserConfig")
    if not isinstance(config, dict) or "Uid" not in config or "Gid" not in config:
        return None
    return int(config["Uid"]), int(config["Gid"])


def observe_share_directory(mount: Path, wanted: ShareDirectory,
                            previous: tuple[int, int] | None,
                            as_root: bool) -> ObservedDirectory:
    """observe_directory, plus what deciding about its owner needs (see HomeCensus);
    only as root, where owners are managed at all."""
    seen = observe_directory(mount, wanted.path)
    if seen.kind != "directory" or not as_root:
        return seen
    wanted_ids = (wanted.owner.uid, wanted.owner.gid)
    changing = previous is not None and wanted.profile is not None and previous != wanted_ids
    if (seen.uid, seen.gid) == wanted_ids and not changing:
        return seen
    try:
        fd = open_directory(mount, wanted.path)
    except (UnsafePathError, OSError):
        return seen  # changed since the look above: the next pass sees what it is now
    try:
        empty = not os.listdir(fd)
        census = None
        if changing and previous is not None:
            report = reown_tree(fd, previous, wanted_ids, apply=False)
            census = HomeCensus(previous[0], previous[1], report.reowned, report.current,
                                report.others, report.linked, report.skipped,
                                tuple(report.examples))
    finally:
        os.close(fd)
    return replace(seen, empty=empty, census=census)
