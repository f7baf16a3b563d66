"""Merge a verified staging folder into the restore's target: fill missing, overwrite older.

Entries move by rename (same file system, one call per entry whatever its size, never
following a link: a rename replaces a link, it does not write through it). A missing
entry moves whole, subtree and all; a directory on both sides is merged into; an
existing non-directory is replaced only in `overwriteOlder` mode and only when the
target's is older; everything else stays in the staging folder and is reported. The
walk holds both trees on the copy engine's DirStack (bounded descriptors, no recursion,
whatever the depth); a target directory a user moves meanwhile is skipped and reported,
never followed to its new place. This module must not write anything but renames from
the staging folder into the target.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from controller.fs.dirstack import DirStack, Moved

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
STAGED, TARGET = 0, 1

Skip = Callable[[str, str], None]


def merge_into(staged_root: int, target_root: int, overwrite_older: bool, skip: Skip) -> None:
    """Move the staged entries into the target (see the module); `skip(path, reason)` is
    told of each entry left in the staging folder."""
    stack = DirStack([staged_root, target_root])
    pending = [sorted(os.listdir(staged_root), reverse=True)]
    try:
        while pending:
            if not pending[-1]:
                pending.pop()
                if stack.top:
                    stack.pop()
                continue
            name = pending[-1].pop()
            where = stack.path()
            shown = f"{where}/{name}" if where else name
            try:
                staged, target = stack.fd(stack.top, STAGED), stack.fd(stack.top, TARGET)
                assert staged is not None and target is not None
                inner = _merge_entry(staged, target, name, shown, overwrite_older, skip)
            except Moved:
                skip(where or ".", "the target folder moved while merging: left as staged")
                pending[-1] = []
                continue
            if inner is not None:
                stack.push(name, list(inner))
                pending.append(sorted(os.listdir(inner[STAGED]), reverse=True))
    finally:
        stack.close()


def _merge_entry(staged: int, target: int, name: str, shown: str, overwrite_older: bool,
                 skip: Skip) -> tuple[int, int] | None:
    """Handle one staged entry; a pair of descriptors when both sides are directories
    (the caller descends into them)."""
    mine = os.stat(name, dir_fd=staged, follow_symlinks=False)
    try:
        theirs = os.stat(name, dir_fd=target, follow_symlinks=False)
    except FileNotFoundError:
        os.rename(name, name, src_dir_fd=staged, dst_dir_fd=target)
        return None
    if stat.S_ISDIR(mine.st_mode) and stat.S_ISDIR(theirs.st_mode):
        inner_staged = os.open(name, _DIR, dir_fd=staged)
        try:
            inner_target = os.open(name, _DIR, dir_fd=target)
        except OSError:
            os.close(inner_staged)
            skip(shown, "the target's entry changed while merging")
            return None
        return inner_staged, inner_target
    if stat.S_ISDIR(mine.st_mode) or stat.S_ISDIR(theirs.st_mode):
        skip(shown, "a directory on one side and not on the other: kept")
    elif overwrite_older and theirs.st_mtime_ns < mine.st_mtime_ns:
        os.rename(name, name, src_dir_fd=staged, dst_dir_fd=target)
    else:
        skip(shown, "exists in the target (newer or as new)" if overwrite_older
             else "exists in the target")
    return None
