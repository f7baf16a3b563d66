"""Directories waiting for their subtrees give their descriptors back when too many are open.

A directory of the parallel walk holds two descriptors (source and target) until
everything below it is done, so a tree deeper than half the open-file limit (any user
can make one: 40,000 levels is a shell loop) would stop the copy with "Too many open
files". Once more than the budget are held, a directory whose own work is done (its
entries synced, its subdirectories entered) and that only waits for its subtrees is
"parked": its descriptors are closed. When its last subtree finishes, the directory is
opened again through ".." of that subdirectory (two opens), and must be the directory
recorded when it was first opened (its st_dev and st_ino); if it is not (renamed or
replaced meanwhile), it stays parked and its metadata is not set (the walk says so).
Below the budget nothing changes: no extra call on the way. This module must not open
anything but those directories again, or decide anything about entries.
"""

from __future__ import annotations

import os
import resource
import threading

from controller.fs.copy.directories import DirNode
from controller.fs.dirstack import OPEN_DIR


def default_budget() -> int:
    """A quarter of the soft open-file limit (the rest: files, links, sockets)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 16384 if soft == resource.RLIM_INFINITY else max(16, soft // 4)


class DirectoryBudget:
    def __init__(self, lock: threading.Lock, budget: int | None = None) -> None:
        self._lock = lock  # the walk's lock, which also guards DirNode.pending
        self._budget = budget if budget is not None else default_budget()
        self._held = 0

    def opened(self, node: DirNode) -> None:
        """A directory below the roots was opened (its descriptors now count)."""
        node.held = 1 + (node.dst_fd is not None)
        with self._lock:
            self._held += node.held

    def closed(self, node: DirNode) -> None:
        """A directory was finished and closed."""
        with self._lock:
            self._held -= node.held
        node.held = 0

    def use(self, node: DirNode) -> None:
        """A task that will use the directory's descriptors was queued."""
        with self._lock:
            node.users += 1

    def done(self, node: DirNode, releases: bool = True) -> None:
        """A task is done with the directory's descriptors; park it if it only waits.

        `releases`: the task releases its pending count on the directory right after
        (an entered subdirectory keeps it until its subtree is done)."""
        with self._lock:
            node.users -= 1
            # pending counts each subtree still in progress, and this task until it is
            # released: any other means the directory now only waits.
            park = (node.users == 0 and node.pending > releases and node.held
                    and self._held > self._budget)
            if park:
                self._held -= node.held
                node.held = 0
                node.parked = True
                node.kept_rel = None  # worked out from the names again if ever needed
        if park:
            os.close(node.src_fd)
            node.src_fd = -1  # never a number the process may give another file
            if node.dst_fd is not None:
                os.close(node.dst_fd)
                node.dst_fd = -1

    def before_finish(self, child: DirNode) -> None:
        """`child` is about to finish: if it is the last thing its parked parent waits
        for, open the parent again through the child's ".." while the child is open."""
        parent = child.parent
        if parent is None or not parent.parked or child.parked:
            return
        with self._lock:
            if parent.pending != 1:
                return
        src = _open_again(child.src_fd, parent.src_stat)
        if src is None:
            return
        dst = None
        if parent.dst_stat is not None:
            assert child.dst_fd is not None
            dst = _open_again(child.dst_fd, parent.dst_stat)
            if dst is None:
                os.close(src)
                return
        parent.src_fd, parent.dst_fd, parent.parked = src, dst, False
        self.opened(parent)


def _open_again(child_fd: int, recorded: os.stat_result) -> int | None:
    """The directory above `child_fd`, if it is the one recorded."""
    try:
        fd = os.open("..", OPEN_DIR, dir_fd=child_fd)
    except OSError:
        return None
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != (recorded.st_dev, recorded.st_ino):
        os.close(fd)
        return None
    return fd
