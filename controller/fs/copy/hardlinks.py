"""Hard-link groups: the first name of a source inode is copied, the others are linked to it.

Groups are keyed by (st_dev, st_ino) in the source. Whichever worker meets a group first
becomes its leader and copies the content; the others wait for it (the leader never
waits on anything, so this cannot deadlock) and then make their name with os.link to the
leader's target, reached by opening each directory on the way with O_NOFOLLOW from the
target root. This module must not copy content itself or remove any target entry except
by renaming a fresh link over it (new names are linked directly).
"""

from __future__ import annotations

import os
import resource
import stat
import threading
from dataclasses import dataclass, field

from controller.fs.copy.entries import Done, EntryFailure, Options, Outcome, install
from controller.fs.dirstack import open_below


@dataclass(eq=False)
class LinkGroup:
    settled: threading.Event = field(default_factory=threading.Event)
    leader_dir: tuple[str, ...] = ()  # directory components below the target root
    leader_name: str = ""
    target_inode: tuple[int, int] | None = None  # (st_dev, st_ino) of the leader's target
    usable: bool = False  # False: the leader failed or was left alone (a conflict)
    # A dup of the leader's target directory fd (owned by HardLinkGroups, closed at the
    # end of the run): followers link through it instead of re-opening every directory
    # from the root (one lookup and one open per level, each a round trip on NFS).
    leader_fd: int | None = None

    def settle(self, leader_dir: tuple[str, ...], leader_name: str,
               target_inode: tuple[int, int] | None, usable: bool,
               leader_fd: int | None = None) -> None:
        self.leader_dir, self.leader_name = leader_dir, leader_name
        self.target_inode, self.usable = target_inode, usable
        self.leader_fd = leader_fd
        self.settled.set()


MAX_HELD_FDS = 2048  # leader directory fds kept open; beyond that followers re-open


class HardLinkGroups:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[tuple[int, int], LinkGroup] = {}
        self._held: list[int] = []
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        # Never more than a quarter of the fd limit: the walk needs fds of its own.
        self._budget = MAX_HELD_FDS if soft == resource.RLIM_INFINITY else min(
            MAX_HELD_FDS, soft // 4)

    def hold(self, dir_fd: int | None) -> int | None:
        """A dup of a leader's target directory for its followers, or None (over budget)."""
        if dir_fd is None or len(self._held) >= self._budget:  # a hint; checked again below
            return None
        try:
            fd = os.dup(dir_fd)  # no round trip: the same open directory
        except OSError:
            return None
        with self._lock:  # not held across the dup: other workers claim groups meanwhile
            if len(self._held) < self._budget:
                self._held.append(fd)
                return fd
        os.close(fd)
        return None

    def close(self) -> None:
        """Close the held directory fds; only when no worker can use them any more."""
        with self._lock:
            for fd in self._held:
                os.close(fd)
            self._held.clear()

    def claim(self, src: os.stat_result) -> tuple[LinkGroup, bool]:
        """The group of this source inode, and whether the caller is its leader."""
        key = (src.st_dev, src.st_ino)
        with self._lock:
            group = self._groups.get(key)
            if group is not None:
                return group, False
            group = self._groups[key] = LinkGroup()
            return group, True


def sync_follower(group: LinkGroup, dst_root: int | None, dst_dir: int | None, name: str,
                  src: os.stat_result, dst: os.stat_result | None, opts: Options,
                  recovering: bool = False) -> Done:
    """Make `name` another name of the leader's target inode (or say it already is)."""
    if dst is not None and stat.S_ISDIR(dst.st_mode):
        raise EntryFailure("the target has a directory where the source has a file; left alone")
    if (dst is not None and stat.S_ISREG(dst.st_mode)
            and (dst.st_dev, dst.st_ino) == group.target_inode):
        return Done(Outcome.UP_TO_DATE)  # the leader carries the metadata for all names
    # recovering: a killed run was writing this name (as its group's leader then).
    conflict = dst is not None and dst.st_mtime_ns > src.st_mtime_ns and not recovering
    if conflict and not opts.overwrite_newer:
        return Done(Outcome.CONFLICT, conflict=True)
    if opts.dry_run:
        return Done(Outcome.HARD_LINK, conflict=conflict)
    assert dst_root is not None and dst_dir is not None
    held = group.leader_fd
    leader_dir = held if held is not None else open_leader_dir(dst_root, group.leader_dir)
    try:
        if dst is None:  # a link is made whole: straight under its final name
            try:
                os.link(group.leader_name, name, src_dir_fd=leader_dir, dst_dir_fd=dst_dir,
                        follow_symlinks=False)
            except FileExistsError as error:
                raise EntryFailure("appeared in the target while being linked; left "
                                   "alone, run the copy again") from error
            return Done(Outcome.HARD_LINK, changed_dir=True)

        def make_link(d: int, tmp: str) -> int:
            os.link(group.leader_name, tmp, src_dir_fd=leader_dir, dst_dir_fd=d,
                    follow_symlinks=False)
            return 0
        install(dst_dir, name, make_link)
    finally:
        if leader_dir != dst_root and leader_dir != held:
            os.close(leader_dir)
    return Done(Outcome.HARD_LINK, conflict=conflict, changed_dir=True)


def open_leader_dir(root: int, parts: tuple[str, ...]) -> int:
    """The directory of a hard link's first name in the target, refusing any symlink."""
    try:
        return open_below(root, parts)
    except OSError as error:
        raise EntryFailure(f"cannot reach the first name of this hard link in the target "
                           f"({error.strerror}); not linked") from error
