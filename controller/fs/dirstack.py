"""An explicit stack of directories walked in step on several trees, with few descriptors.

A walk that kept one open directory per level (and per tree) would run out of
descriptors on a deep tree, and one that recursed would run out of stack: any user can
make a home 5,000 levels deep. Here each level of the walk records, for each tree (a
"side"), the identity (st_dev, st_ino) of its directory there, and holds a descriptor
only while it is among the `budget` deepest levels holding one; the others are closed
and opened again when the walk climbs back to them: through ".." of the level below
(one open), or down from the nearest level still open, one name at a time with
O_NOFOLLOW. Either way the directory opened must be the one recorded, else Moved: a
directory renamed meanwhile is never mistaken for the one the walk was in.

A descriptor returned by fd() stays valid until the next call on the stack. This module
must not read, create or change anything but directory descriptors.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Sequence
from dataclasses import dataclass, field

OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
DEFAULT_BUDGET = 96  # descriptors below the roots; fewer when the process limit is low


def open_below(root: int, parts: Sequence[str | bytes]) -> int:
    """The directory `parts` below `root`, opened one component at a time with
    O_NOFOLLOW (a symlink anywhere on the way fails it); `root` itself when `parts` is
    empty. The caller closes what is returned unless it is `root`; on OSError nothing
    is left open."""
    fd = root
    try:
        for part in parts:
            child = os.open(part, OPEN_DIR, dir_fd=fd)
            if fd != root:
                os.close(fd)
            fd = child
    except OSError:
        if fd != root:
            os.close(fd)
        raise
    return fd


class Moved(Exception):
    """A directory of the walk is no longer where it was (renamed or replaced)."""


Identity = tuple[int, int]


@dataclass(eq=False)
class Level:
    """One directory of the walk: its name below the level above, per side."""

    name: str
    ids: list[Identity | None]  # None: no directory at this path on that side
    fds: list[int | None] = field(default_factory=list)
    path_length: int = 0  # of its path, the start of the deepest level's path


def budget_for_limit() -> int:
    """The descriptor budget: a quarter of the process's soft limit, at most the default."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_BUDGET
    return max(4, min(DEFAULT_BUDGET, soft // 4))


class DirStack:
    def __init__(self, roots: list[int | None], budget: int | None = None) -> None:
        """`roots`: a descriptor per side (None: that side has no root yet); the caller
        keeps them open and closes them."""
        self._budget = budget if budget is not None else budget_for_limit()
        ids = [_identity(fd) if fd is not None else None for fd in roots]
        self.levels: list[Level] = [Level("", ids, list(roots))]
        self._open = 0  # descriptors held below the roots
        self._holding: set[int] = set()  # the levels below the roots that hold some
        # Only the deepest level's path is kept (each level knows how much of it is its
        # own): one path per level would be quadratic in the depth.
        self._path = ""

    @property
    def top(self) -> int:
        return len(self.levels) - 1

    def path(self, index: int | None = None) -> str:
        """The relative path of a level ("" for the roots)."""
        return self._path[:self.levels[self.top if index is None else index].path_length]

    def push(self, name: str, fds: list[int | None]) -> Level:
        """A new deepest level whose directories the caller opened (one per side, or
        None); the stack owns them from now on."""
        self._path = f"{self._path}/{name}" if self._path else name
        level = Level(name, [_identity(fd) if fd is not None else None for fd in fds],
                      list(fds), len(self._path))
        self.levels.append(level)
        held = sum(fd is not None for fd in fds)
        if held:
            self._open += held
            self._holding.add(self.top)
        self._evict(keep=self.top)
        return level

    def pop(self) -> Level:
        """Drop the deepest level, first opening through its ".." what the level above
        had closed (one open per side, instead of a walk down from an open level)."""
        level = self.levels[-1]
        parent = self.top - 1
        if parent > 0:
            for side, fd in enumerate(level.fds):
                if (fd is not None and self.levels[parent].ids[side] is not None
                        and self.levels[parent].fds[side] is None):
                    # On failure fd() walks down to it when it is needed, or says Moved.
                    with contextlib.suppress(Moved, OSError):
                        self._settle(parent, side, os.open("..", OPEN_DIR, dir_fd=fd))
        self._close(self.top)
        self.levels.pop()
        self._path = self._path[:self.levels[-1].path_length]
        self._evict(keep=self.top)
        return level

    def attach(self, index: int, side: int, fd: int) -> None:
        """A directory made on `side` at level `index` after it was pushed."""
        level = self.levels[index]
        assert level.fds[side] is None
        level.ids[side] = _identity(fd)
        level.fds[side] = fd
        if index:
            self._open += 1
            self._holding.add(index)
        self._evict(keep=index)

    def fd(self, index: int, side: int) -> int | None:
        """The open directory of level `index` on `side` (reopened if it was closed), or
        None when that level has no directory there. Raises Moved."""
        level = self.levels[index]
        if level.ids[side] is None:
            return None
        fd = level.fds[side]
        if fd is None:
            fd = self._reopen(index, side)
            self._evict(keep=index)
        return fd

    def close(self) -> None:
        while len(self.levels) > 1:
            self.pop()

    def _reopen(self, index: int, side: int) -> int:
        below = self.levels[index + 1] if index < self.top else None
        if below is not None and below.fds[side] is not None:
            fd = os.open("..", OPEN_DIR, dir_fd=below.fds[side])
            return self._settle(index, side, fd)
        start = index - 1
        while self.levels[start].fds[side] is None:
            start -= 1  # the roots are always open
        fd = -1
        for step in range(start + 1, index + 1):
            parent = self.levels[step - 1].fds[side]
            assert parent is not None
            try:
                fd = os.open(self.levels[step].name, OPEN_DIR, dir_fd=parent)
            except OSError as error:
                raise Moved(f"{self.path(step)} cannot be opened again: "
                            f"{error.strerror}") from error
            self._settle(step, side, fd)
            self._evict(keep=step)  # the levels passed on the way need not stay open
        return fd

    def _settle(self, index: int, side: int, fd: int) -> int:
        level = self.levels[index]
        if _identity(fd) != level.ids[side]:
            os.close(fd)
            raise Moved(f"{self.path(index)} was moved or replaced during the walk")
        level.fds[side] = fd
        self._open += 1
        self._holding.add(index)
        return fd

    def _evict(self, keep: int) -> None:
        """Close the shallowest levels' descriptors while more than the budget are open;
        never the roots, the deepest level or `keep`."""
        if self._open <= self._budget:
            return
        for index in sorted(self._holding):  # about `budget` of them: cheap
            if self._open <= self._budget:
                return
            if index not in (keep, self.top):
                self._close(index)

    def _close(self, index: int) -> None:
        level = self.levels[index]
        for side, fd in enumerate(level.fds):
            if fd is not None:
                os.close(fd)
                level.fds[side] = None
                self._open -= 1
        self._holding.discard(index)


def _identity(fd: int) -> Identity:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino
