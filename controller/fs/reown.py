"""Give a user's tree to their new POSIX ids, entry by entry, as root, without following.

When a profile's uid or gid changes, everything in its home that belongs to it under the
old ids must belong to it under the new ones, or it is locked out of its own files. The
rule for each entry below the top folder:

- owned by the previous uid: given the new uid (and the new gid where it had the
  previous gid; a group the user chose otherwise is kept);
- owned by the new uid already: left (a run that was cut short, or new work);
- owned by anyone else: left as it is, counted and reported, never taken;
- a regular file with hard links: changed only once every one of its links has been
  seen inside this tree (otherwise a link from outside would have its owner changed
  through this one), else left and reported.

Each entry is pinned with O_PATH | O_NOFOLLOW and checked again through that descriptor
before its owner is changed through /proc/self/fd, so an entry swapped for a link or for
someone else's file between the listing and the change is left alone; directories are
entered with O_NOFOLLOW | O_DIRECTORY relative to their parent, on the same file system
only. The walk uses an explicit stack and at most MAX_OPEN_DIRECTORIES descriptors: a
directory whose descriptor was closed is opened again as its child's "..", or from an
open ancestor, checking it is still the directory it was. Directories are re-owned after
their content. The top folder itself is the caller's (it is done last, so that an
interrupted run is finished by the next). With apply=False nothing is changed: the
same walk only counts.

This module must not remove, create or rename anything, or change a mode except to put
back set-id bits that the kernel clears on a change of owner.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PIN = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_OPEN_DIRECTORIES = 32
EXAMPLES = 5


@dataclass
class ReownReport:
    reowned: int = 0  # entries given the new ids (or, counting only, that would be)
    current: int = 0  # entries owned by the new uid already
    others: int = 0  # entries owned by someone else: left
    linked: int = 0  # files owned by the previous uid with links outside the tree: left
    skipped: int = 0  # entries that changed while being looked at: for the next run
    mounts: int = 0  # directories of another file system (mounted here): not entered
    examples: list[str] = field(default_factory=list)  # "path (uid:gid)" of some others

    def note(self, path: str, info: os.stat_result) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{path!r} ({info.st_uid}:{info.st_gid})")


@dataclass
class _Frame:
    parts: tuple[str, ...]
    identity: tuple[int, int]
    names: list[str]
    fd: int | None
    lost: bool = False  # moved away while being walked: the rest is left to the next run


class _Walk:
    def __init__(self, root_fd: int, previous: tuple[int, int], new: tuple[int, int],
                 apply: bool) -> None:
        self.previous, self.new, self.apply = previous, new, apply
        self.report = ReownReport()
        root = os.fstat(root_fd)
        self.device = root.st_dev
        # Hard-linked files owned by the previous uid: (dev, ino) -> links seen so far.
        self.links: dict[tuple[int, int], int] = {}
        self.stack = [_Frame((), (root.st_dev, root.st_ino), os.listdir(root_fd),
                             os.dup(root_fd))]

    def run(self) -> ReownReport:
        try:
            while self.stack:
                frame = self.stack[-1]
                if frame.lost or not frame.names:
                    self._finish(frame)  # while still on the stack: it may be reopened
                    self._climb(frame)
                    self.stack.pop()
                    continue
                name = frame.names.pop()
                fd = self._fd(frame)
                if fd is None:
                    continue
                try:
                    self._visit(frame, fd, name)
                except OSError:
                    self.report.skipped += 1  # gone, or not ours to look at: next run
        finally:
            for frame in self.stack:
                self._close(frame)
        self.report.linked = sum(1 for _ in self.links)
        return self.report

    def _visit(self, frame: _Frame, parent: int, name: str) -> None:
        try:
            info = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return  # gone since the listing
        if stat.S_ISDIR(info.st_mode) and info.st_dev == self.device:
            self._enter(frame, parent, name, info)
            return
        if stat.S_ISDIR(info.st_mode):
            self.report.mounts += 1  # something mounted here: not this tree
            return
        self._entry(frame, parent, name, info)

    def _enter(self, frame: _Frame, parent: int, name: str, info: os.stat_result) -> None:
        try:
            fd = os.open(name, _OPEN_DIR, dir_fd=parent)
        except OSError:
            self.report.skipped += 1  # swapped for a link or a file since the stat
            return
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            os.close(fd)
            self.report.skipped += 1
            return
        try:
            names = os.listdir(fd)
        except OSError:
            os.close(fd)
            self.report.skipped += 1
            return
        self.stack.append(_Frame((*frame.parts, name), (now.st_dev, now.st_ino), names, fd))
        self._bound_descriptors()

    def _entry(self, frame: _Frame, parent: int, name: str, info: os.stat_result) -> None:
        path = "/".join((*frame.parts, name))
        if info.st_uid != self.previous[0]:
            if info.st_uid == self.new[0]:
                self.report.current += 1
            else:
                self.report.others += 1
                self.report.note(path, info)
            return
        if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
            key = (info.st_dev, info.st_ino)
            seen = self.links.get(key, 0) + 1
            if seen < info.st_nlink:
                self.links[key] = seen
                return  # changed when its last link is seen, if it is
            self.links.pop(key, None)
        if self.apply:
            self._change(parent, name, info)
        else:
            self.report.reowned += 1

    def _change(self, parent: int, name: str, info: os.stat_result) -> None:
        try:
            pinned = os.open(name, _PIN, dir_fd=parent)
        except FileNotFoundError:
            return
        try:
            now = os.fstat(pinned)
            if ((now.st_dev, now.st_ino) != (info.st_dev, info.st_ino)
                    or now.st_uid != self.previous[0]
                    or now.st_nlink > info.st_nlink):
                self.report.skipped += 1  # changed since it was looked at: next run
                return
            _set_owner(f"/proc/self/fd/{pinned}", now, self.new[0], self._gid(now))
            self.report.reowned += 1
        finally:
            os.close(pinned)

    def _finish(self, frame: _Frame) -> None:
        """A directory whose content is done: itself next (the top folder is the caller's)."""
        try:
            if frame.parts and not frame.lost:
                fd = self._fd(frame)
                if fd is not None:
                    info = os.fstat(fd)
                    if info.st_uid == self.previous[0]:
                        if self.apply:
                            _set_owner(f"/proc/self/fd/{fd}", info, self.new[0],
                                       self._gid(info))
                        self.report.reowned += 1
                    elif info.st_uid == self.new[0]:
                        self.report.current += 1
                    else:
                        self.report.others += 1
                        self.report.note("/".join(frame.parts), info)
        except OSError:
            self.report.skipped += 1

    def _climb(self, frame: _Frame) -> None:
        """Closes a finished directory; first, if its parent's descriptor was closed to
        stay within bounds, opens the parent again as its "..", in one step, if that is
        still the directory it was (it was not moved meanwhile)."""
        parent = self.stack[-2] if len(self.stack) > 1 else None
        if parent is not None and parent.fd is None and frame.fd is not None:
            try:
                fd = os.open("..", _OPEN_DIR, dir_fd=frame.fd)
            except OSError:
                fd = -1
            if fd >= 0 and _identity(fd) == parent.identity:
                parent.fd = fd
            elif fd >= 0:
                os.close(fd)  # _fd() tries again from an open ancestor
        self._close(frame)

    def _gid(self, info: os.stat_result) -> int:
        return self.new[1] if info.st_gid == self.previous[1] else info.st_gid

    def _fd(self, frame: _Frame) -> int | None:
        """The frame's descriptor, opened again from its nearest open ancestor if it was
        closed; None (and the frame marked lost) if the path no longer leads to it."""
        if frame.fd is not None:
            return frame.fd
        index = self.stack.index(frame)
        base = index
        while self.stack[base].fd is None:
            base -= 1  # the root frame always keeps its descriptor
        fd = os.dup(self.stack[base].fd)  # type: ignore[arg-type]
        for step in self.stack[base + 1:index + 1]:
            try:
                child = os.open(step.parts[-1], _OPEN_DIR, dir_fd=fd)
            except OSError:
                child = -1
            os.close(fd)
            if child < 0 or _identity(child) != step.identity:
                if child >= 0:
                    os.close(child)
                frame.lost = True
                self.report.skipped += 1
                return None
            fd = child
        frame.fd = fd
        self._bound_descriptors()
        return fd

    def _bound_descriptors(self) -> None:
        open_frames = [f for f in self.stack[1:] if f.fd is not None]
        for frame in open_frames[:max(0, len(open_frames) - MAX_OPEN_DIRECTORIES)]:
            self._close(frame)

    @staticmethod
    def _close(frame: _Frame) -> None:
        if frame.fd is not None:
            os.close(frame.fd)
            frame.fd = None


def _identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return (info.st_dev, info.st_ino)


def _set_owner(pinned: str, info: os.stat_result, uid: int, gid: int) -> None:
    """chown through the pinned descriptor (for a link: the link itself, never its
    target); then put back the set-id bits the kernel clears on a file's chown."""
    os.chown(pinned, uid, gid)
    if not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o6000:
        os.chmod(pinned, stat.S_IMODE(info.st_mode))


def reown_tree(root_fd: int, previous: tuple[int, int], new: tuple[int, int],
               apply: bool = True) -> ReownReport:
    """Re-own (apply) or count (not apply) what is below the directory open as root_fd;
    the directory itself is left to the caller."""
    return _Walk(root_fd, previous, new, apply).run()
