"""The failback save's walk: the old copy and the active copy side by side, depth first.

One explicit stack (dirstack.DirStack) holds the walk's directories on three sides: the
old copy, the active copy (where it has the directory too), and the recovery folder
(made level by level, only where something is saved below). However deep or large the
tree, the walk holds a bounded number of descriptors and no Python stack per level. A
directory's entries are listed (sorted) and compared when the walk enters it; its
subdirectories are then walked one after the other; when it is left, its saved copy (if
any) gets the old directory's owner, mode, xattrs and mtime (deepest first, mtimes last).

This module must not write anywhere but in the recovery folder, follow a link, or remove
anything (a saved file a killed run left half-made is replaced by its rename).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from controller.fs.copy import xattrs
from controller.fs.copy.entries import sync_entry
from controller.fs.copy.metadata import EntryFailure, Options, apply_metadata, describe
from controller.fs.dirstack import OPEN_DIR, DirStack, Moved

OLD, ACTIVE, SAVED = 0, 1, 2
RECOVERY_MODE = 0o700


@dataclass
class SavedEntry:
    path: str  # relative to the file system root
    reason: str  # "missing" (the active copy lacks it) or "differs"
    size: int = 0


@dataclass
class _Frame:
    """A directory being walked: what is left of it, and what its saved copy gets."""

    subdirs: list[tuple[str, bool]]  # (name, the active copy has it as a directory), last first
    info: os.stat_result | None = None  # the old directory's (None for the roots)
    wanted: dict[str, bytes] | None = None  # its xattrs and ACLs


class SaveWalk:
    def __init__(self, opts: Options, skip_at_root: str,
                 progress: Callable[[int], None] | None) -> None:
        self.opts = opts
        self.skip_at_root = skip_at_root  # the old copy's own recovery folders
        self.progress = progress
        self.saved: list[SavedEntry] = []
        self.compared = 0
        self.errors: list[str] = []
        self.not_kept: list[str] = []

    def run(self, old_root: int, active_root: int, recovery: int) -> None:
        stack = DirStack([old_root, active_root, recovery])
        try:
            frames = [self._visit(stack, _Frame([]))]
            while frames:
                frame = frames[-1]
                if frame.subdirs:
                    name, in_active = frame.subdirs.pop()
                    child = self._enter(stack, name, in_active)
                    if child is not None:
                        frames.append(self._visit(stack, child))
                    continue
                frames.pop()
                if frames:  # the roots are the caller's
                    self._leave(stack, frame)
        finally:
            stack.close()

    def _visit(self, stack: DirStack, frame: _Frame) -> _Frame:
        """Compare the entries of the deepest directory; save the files that differ."""
        top, rel = stack.top, stack.path()
        try:
            # The deepest level's descriptors stay open while it is the deepest.
            old, active = stack.fd(top, OLD), stack.fd(top, ACTIVE)
            assert old is not None
            with os.scandir(old) as listing:  # scandir works on a dup: old stays open
                names = sorted(entry.name for entry in listing)
        except (OSError, Moved) as error:
            self.errors.append(f"{rel or '.'}/: {_describe(error)}")
            return frame
        for name in names:
            if top == 0 and name == self.skip_at_root:
                continue
            path = f"{rel}/{name}" if rel else name
            self.compared += 1
            if self.progress is not None and self.compared % 1000 == 0:
                self.progress(self.compared)
            try:
                mine = os.stat(name, dir_fd=old, follow_symlinks=False)
                theirs = _lstat_at(active, name)
                if stat.S_ISDIR(mine.st_mode):
                    frame.subdirs.append((name, theirs is not None
                                          and stat.S_ISDIR(theirs.st_mode)))
                elif theirs is None or not _same(old, active, name, mine, theirs):
                    self._save(stack, old, name, path, mine,
                               "missing" if theirs is None else "differs")
            except (OSError, EntryFailure, Moved) as error:
                self.errors.append(f"{path}: {_describe(error)}")
        frame.subdirs.reverse()  # popped from the end: in name order
        return frame

    def _enter(self, stack: DirStack, name: str, in_active: bool) -> _Frame | None:
        top = stack.top
        path = f"{stack.path()}/{name}" if top else name
        try:
            parent_old, parent_active = stack.fd(top, OLD), stack.fd(top, ACTIVE)
            child_old = os.open(name, OPEN_DIR, dir_fd=parent_old)
        except (OSError, Moved) as error:
            self.errors.append(f"{path}/: {_describe(error)}")
            return None
        child_active = None
        if in_active and parent_active is not None:
            # Gone or replaced by a link since the listing: then it is missing there.
            with contextlib.suppress(OSError):
                child_active = os.open(name, OPEN_DIR, dir_fd=parent_active)
        try:
            info = os.fstat(child_old)
            wanted = xattrs.read(xattrs.of_fd(child_old)) if self.opts.xattrs else None
        except OSError as error:
            os.close(child_old)
            if child_active is not None:
                os.close(child_active)
            self.errors.append(f"{path}/: {_describe(error)}")
            return None
        stack.push(name, [child_old, child_active, None])
        if child_active is None:
            # The whole directory is missing from the active copy: keep it, even empty.
            self.saved.append(SavedEntry(path + "/", "missing"))
            try:
                self._saved_dir(stack)
            except (OSError, Moved) as error:
                self.errors.append(f"{path}/: {_describe(error)}")
        return _Frame([], info, wanted)

    def _leave(self, stack: DirStack, frame: _Frame) -> None:
        top = stack.top
        try:
            saved = stack.fd(top, SAVED)
            if saved is not None and frame.info is not None:
                not_kept: list[str] = []
                apply_metadata(saved, frame.info, self.opts, wanted=frame.wanted,
                               not_kept=not_kept)
                self.not_kept += [f"{stack.path()}/: {note}" for note in not_kept]
        except (OSError, Moved) as error:
            self.errors.append(f"{stack.path()}/: {_describe(error)}")
        finally:
            stack.pop()

    def _save(self, stack: DirStack, old: int, name: str, path: str, mine: os.stat_result,
              reason: str) -> None:
        parent = self._saved_dir(stack)
        existing = _lstat_at(parent, name)
        # Everything in the recovery folder is our own work: a differing entry there is
        # one a killed run left half-made, replaced (recovering=True).
        done = sync_entry(old, parent, name, mine, existing, self.opts, recovering=True)
        self.not_kept += [f"{path}: {note}" for note in done.not_kept]
        size = mine.st_size if stat.S_ISREG(mine.st_mode) else 0
        self.saved.append(SavedEntry(path, reason, size))

    def _saved_dir(self, stack: DirStack) -> int:
        """The deepest level's directory in the recovery folder, made (0700 until it is
        left) with the levels above it that lack theirs."""
        top = stack.top
        fd = stack.fd(top, SAVED)
        if fd is not None:
            return fd
        made = top
        while stack.levels[made - 1].ids[SAVED] is None:
            made -= 1  # the roots have the recovery folder
        for index in range(made, top + 1):
            parent = stack.fd(index - 1, SAVED)
            name = stack.levels[index].name
            with contextlib.suppress(FileExistsError):  # made by a killed run: ours
                os.mkdir(name, RECOVERY_MODE, dir_fd=parent)
            stack.attach(index, SAVED, os.open(name, OPEN_DIR, dir_fd=parent))
        fd = stack.fd(top, SAVED)
        assert fd is not None
        return fd


def _same(old_fd: int, active_fd: int | None, name: str, mine: os.stat_result,
          theirs: os.stat_result) -> bool:
    if stat.S_IFMT(mine.st_mode) != stat.S_IFMT(theirs.st_mode):
        return False
    if stat.S_ISLNK(mine.st_mode):
        return os.readlink(name, dir_fd=old_fd) == os.readlink(name, dir_fd=active_fd)
    if stat.S_ISREG(mine.st_mode):
        return (mine.st_size, mine.st_mtime_ns) == (theirs.st_size, theirs.st_mtime_ns)
    return mine.st_rdev == theirs.st_rdev


def _lstat_at(fd: int | None, name: str) -> os.stat_result | None:
    if fd is None:
        return None
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _describe(error: BaseException) -> str:
    return describe(error) if isinstance(error, OSError) else str(error)
