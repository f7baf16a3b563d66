"""Where shares appear inside a Studio app: one mount per file system, shares as folders.

Studio mounts each CustomFileSystemConfigs entry at
/mnt/custom-file-systems/efs/<FileSystemId>, showing the file system from the entry's
FileSystemPath down, and takes one entry per file system (at most 10). So the shares a
profile (or a domain's defaults) has on one file system become one entry whose
FileSystemPath is the deepest directory above all of them, and each share appears at
/mnt/custom-file-systems/efs/<FileSystemId>/<its path below that directory>. Pure.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controller.plan.types import Ref

MOUNT_ROOT = "/mnt/custom-file-systems/efs"


def common_ancestor(paths: Iterable[str]) -> str:
    """The deepest directory that holds every path (a path holds itself)."""
    split = [[part for part in path.split("/") if part] for path in paths]
    if not split:
        raise ValueError("common_ancestor of no paths")
    shared: list[str] = []
    for parts in zip(*split, strict=False):
        if any(part != parts[0] for part in parts):
            break
        shared.append(parts[0])
    return "/" + "/".join(shared)


def path_in_app(file_system_id: str, attached_path: str, share_path: str) -> str:
    """Where a share on a file system attached at `attached_path` appears in an app."""
    relative = posixpath.relpath(share_path, attached_path)
    mount = f"{MOUNT_ROOT}/{file_system_id}"
    return mount if relative == "." else f"{mount}/{relative}"


@dataclass
class MountGroup:
    """The shares of one list that live on one file system."""

    file_system: str  # logical FileSystem name (the first one seen for this id)
    file_system_id: str | Ref
    paths: list[str]

    def entry(self, attached_path: str) -> dict[str, Any]:
        return {"EFSFileSystemConfig": {"FileSystemId": self.file_system_id,
                                        "FileSystemPath": attached_path}}


def group_by_file_system(placed: Iterable[tuple[str, str | Ref, str]]) -> list[MountGroup]:
    """(logical file system, its id in the region, share path) -> one group per id, in
    the order the file systems first appear."""
    groups: dict[str | Ref, MountGroup] = {}
    for name, file_system_id, path in placed:
        group = groups.setdefault(file_system_id, MountGroup(name, file_system_id, []))
        if path not in group.paths:
            group.paths.append(path)
    return list(groups.values())
