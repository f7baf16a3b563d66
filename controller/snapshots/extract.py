"""Extract a snapshot's tar stream as root, into a folder this restore made, safely.

The archive is untrusted input. Every entry is created relative to an open directory
fd of the staging folder (staging.py makes it: new, root's, 0700, so nobody else can
touch what is inside while it fills), opening each path component with
O_NOFOLLOW | O_DIRECTORY; files are created O_EXCL | O_NOFOLLOW. So:

- an absolute name, a `..` component, or a path through a symlink the archive made
  refuses the whole archive (HostileArchive): a snapshot the operator took never holds
  one, so such an archive was not made by us from a real tree;
- a hard link may only name a regular file already extracted into the staging folder
  (everything there was made by this restore); one to anything else refuses the archive;
- device nodes are skipped and reported; set-id bits survive only with the owner the
  archive names after remapping (remap.py); only `user.*` xattrs and POSIX ACLs are
  applied (security.* and trusted.* could grant capabilities), the rest is reported;
- sparse files are written region by region and stay sparse; mtimes to the nanosecond.

The directories being filled are held on the copy engine's DirStack (controller.fs
.dirstack): no depth of archive runs the process out of descriptors. A directory gets
its archived mode, owner and times when the stream leaves it (children change a
directory's mtime), again if the stream comes back to it. The staging root's own
metadata (the archive's `./` entry) is returned, not applied: the caller applies it once
the whole stream is verified. Names in messages go through controller.escaping. This
module must not read or write anything outside the staging folder, nor remove anything
it did not make.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from controller.escaping import escape
from controller.fs.copy import xattrs
from controller.fs.dirstack import OPEN_DIR as _DIR
from controller.fs.dirstack import DirStack, Identity, open_below
from controller.snapshots.acl import ACCESS_XATTR, DEFAULT_XATTR, AclError, acl_xattr
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.tarstream import (
    BLOCK_DEVICE,
    CHAR_DEVICE,
    DIRECTORY,
    FIFO,
    HARD_LINK,
    REGULAR,
    SYMLINK,
    Entry,
    TarReader,
)

_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20
MAX_SKIPPED_SHOWN = 200
T = TypeVar("T")


class HostileArchive(Exception):
    """The archive tries to reach outside the restore; nothing of it is kept."""


def shown(name: bytes | str) -> str:
    """A name as one line of a report or message shows it (controller.escaping)."""
    return escape(os.fsdecode(name))


@dataclass
class ExtractReport:
    files: int = 0
    directories: int = 0
    symlinks: int = 0
    hard_links: int = 0
    other: int = 0
    data_bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    skipped_count: int = 0
    notes: set[str] = field(default_factory=set)
    root: Entry | None = None  # the archive's "./" entry, applied by the caller

    def skip(self, name: bytes | str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED_SHOWN:
            self.skipped.append((shown(name), reason))


def components(name: bytes, what: str = "name") -> tuple[bytes, ...]:
    """The components of an archive name below the restore root, or HostileArchive."""
    if name.startswith(b"/"):
        raise HostileArchive(f"absolute {what} '{shown(name)}'")
    parts = tuple(p for p in name.split(b"/") if p and p != b".")
    for part in parts:
        if part == b".." or b"\0" in part:
            raise HostileArchive(f"{what} '{shown(name)}' climbs out with '..'")
    return parts


class Extractor:
    def __init__(self, root_fd: int, owners: OwnerPolicy, set_owner: bool) -> None:
        self.root_fd = root_fd
        self.owners = owners
        self.set_owner = set_owner
        self.report = ExtractReport()
        self._stack = DirStack([root_fd])
        # The archive's entry of each directory made, by identity (names dropped: a
        # deep tree's names would cost memory quadratic in its depth).
        self._directories: dict[Identity, Entry] = {}
        self._at: tuple[bytes, ...] = ()  # the archive path of the deepest level held
        # Whether a default ACL was given to a directory here: entries made in it after
        # that inherit ACLs, which must then be checked on every entry (the staging
        # folder itself has none: staging.make_staging).
        self._inheriting = False


    # -- directories ---------------------------------------------------------------------
    def _dir(self, parts: tuple[bytes, ...]) -> int:
        """An fd of the directory `parts` below the root, made when missing; the stream
        leaving a directory gives it its archived metadata."""
        if parts == self._at:
            return self._fd()  # the usual case: the same directory as the entry before
        names = [os.fsdecode(part) for part in parts]
        keep = 0
        levels = self._stack.levels
        while (keep < min(self._stack.top, len(names))
               and levels[keep + 1].name == names[keep]):
            keep += 1
        while self._stack.top > keep:
            self._leave()
        for name in names[keep:]:
            parent = self._fd()
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=parent)
            try:
                fd = os.open(name, _DIR, dir_fd=parent)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise HostileArchive(f"'{shown(b'/'.join(parts))}' goes through "
                                         "something that is not a directory (a symlink "
                                         "followed by a file through it)") from error
                raise
            self._stack.push(name, [fd])
        self._at = parts
        return self._fd()

    def _fd(self) -> int:
        fd = self._stack.fd(self._stack.top, 0)
        assert fd is not None  # every level below the root holds a directory
        return fd

    def _leave(self) -> None:
        level = self._stack.levels[-1]
        entry = self._directories.get(level.ids[0]) if level.ids[0] else None
        if entry is not None:
            self._fd_metadata(self._fd(), entry)
        self._stack.pop()
        self._at = self._at[:-1]

    def close(self) -> None:
        self._stack.close()

    # -- the walk ------------------------------------------------------------------------
    def extract(self, reader: TarReader) -> ExtractReport:
        try:
            for entry in reader:
                self._one(entry, reader)
            while self._stack.top:
                self._leave()
        finally:
            self.close()
        return self.report

    def _one(self, entry: Entry, reader: TarReader) -> None:
        parts = components(entry.name)
        if not parts:
            if entry.type == DIRECTORY:
                self.report.root = entry
            return
        if entry.type in (CHAR_DEVICE, BLOCK_DEVICE):
            self.report.skip(entry.name, "device node: not restored")
            return
        parent = self._dir(parts[:-1])
        name = parts[-1]
        if entry.type == DIRECTORY:
            self._make_directory(parent, name, entry)
            fd = os.open(name, _DIR, dir_fd=parent)
            self._stack.push(os.fsdecode(name), [fd])  # leaving it sets its metadata
            self._at = parts
            info = os.fstat(fd)
            self._directories[(info.st_dev, info.st_ino)] = replace(entry, name=b"")
            self.report.directories += 1
            return
        if entry.type == REGULAR:
            self._write_file(parent, name, entry, reader)
        elif entry.type == SYMLINK:
            self._create(parent, name, entry, lambda: os.symlink(entry.link, name,
                                                                 dir_fd=parent))
            self._link_metadata(parent, name, entry)
            self.report.symlinks += 1
        elif entry.type == HARD_LINK:
            self._hard_link(parent, name, entry)
        elif entry.type == FIFO:
            self._create(parent, name, entry, lambda: os.mkfifo(name, 0o600, dir_fd=parent))
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            try:
                self._path_metadata(fd, entry)
            finally:
                os.close(fd)
            self.report.other += 1

    def _make_directory(self, parent: int, name: bytes, entry: Entry) -> None:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
        except FileExistsError:
            info = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode):
                raise HostileArchive(f"'{shown(entry.name)}': a directory entry over "
                                     "an earlier non-directory entry") from None

    def _create(self, parent: int, name: bytes, entry: Entry, make: Callable[[], T]) -> T:
        """make(); a later entry with the same name replaces an earlier one, as tar does:
        only our own non-directory entries can be there (the staging folder is ours)."""
        try:
            return make()
        except FileExistsError:
            info = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                raise HostileArchive(f"'{shown(entry.name)}' would replace a directory") from None
            os.unlink(name, dir_fd=parent)
            return make()

    def _write_file(self, parent: int, name: bytes, entry: Entry, reader: TarReader) -> None:
        fd = self._create(parent, name, entry, lambda: os.open(name, _NEW, 0o600,
                                                               dir_fd=parent))
        try:
            if entry.sparse is not None:
                for offset, length in entry.sparse:
                    os.lseek(fd, offset, os.SEEK_SET)
                    self._copy(reader, fd, length)
                os.ftruncate(fd, entry.real_size)
            else:
                self._copy(reader, fd, entry.size)
            self._fd_metadata(fd, entry)
        finally:
            os.close(fd)
        self.report.files += 1
        self.report.data_bytes += entry.real_size

    @staticmethod
    def _copy(reader: TarReader, fd: int, length: int) -> None:
        while length:
            view = reader.read_data(min(CHUNK, length))
            if not view:
                raise HostileArchive("a file's data ends early")
            length -= len(view)
            while view:
                view = view[os.write(fd, view):]

    def _hard_link(self, parent: int, name: bytes, entry: Entry) -> None:
        target = components(entry.link, "hard link target")
        if not target:
            raise HostileArchive(f"'{shown(entry.name)}': hard link to the root")
        # The target must be a regular file this restore already made: walked down from
        # the root one component at a time (two descriptors at most), creating nothing.
        target_dir = _open_below(self.root_fd, target[:-1], entry)
        try:
            try:
                info = os.stat(target[-1], dir_fd=target_dir, follow_symlinks=False)
            except FileNotFoundError:
                raise HostileArchive(f"'{shown(entry.name)}': hard link to "
                                     f"'{shown(entry.link)}', which this restore did "
                                     "not make") from None
            if not stat.S_ISREG(info.st_mode):
                raise HostileArchive(f"'{shown(entry.name)}': hard link to something "
                                     "that is not a regular file")
            self._create(parent, name, entry, lambda: os.link(
                target[-1], name, src_dir_fd=target_dir, dst_dir_fd=parent,
                follow_symlinks=False))
        finally:
            if target_dir != self.root_fd:
                os.close(target_dir)
        self.report.hard_links += 1

    # -- metadata ------------------------------------------------------------------------
    def _owner(self, entry: Entry) -> tuple[int, int]:
        return self.owners.uid(entry.uid), self.owners.gid(entry.gid)

    def _fd_metadata(self, fd: int, entry: Entry) -> None:
        final: tuple[int, int] | None = None
        if self.set_owner:
            final = self._owner(entry)
            os.fchown(fd, *final)
        mode = entry.mode
        if entry.type != DIRECTORY:  # a directory's setgid bit shares a group, grants nothing
            mode = self.owners.mode_bits(mode, (entry.uid, entry.gid), final)
        os.fchmod(fd, mode)
        if self._attributes(fd, entry):
            os.fchmod(fd, mode)  # an access ACL moves the group bits: the archive's win
        os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))

    def _path_metadata(self, fd: int, entry: Entry) -> None:
        pinned = f"/proc/self/fd/{fd}"
        final: tuple[int, int] | None = None
        if self.set_owner:
            final = self._owner(entry)
            os.chown(pinned, *final)
        os.chmod(pinned, self.owners.mode_bits(entry.mode, (entry.uid, entry.gid), final))
        os.utime(pinned, ns=(entry.mtime_ns, entry.mtime_ns))

    def _link_metadata(self, parent: int, name: bytes, entry: Entry) -> None:
        if self.set_owner:
            os.chown(name, *self._owner(entry), dir_fd=parent, follow_symlinks=False)
        os.utime(name, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=parent,
                 follow_symlinks=False)

    def _attributes(self, fd: int, entry: Entry) -> bool:
        """Give the entry the archive's user.* xattrs and ACLs (and no inherited ACL the
        archive does not hold): the copy engine's xattrs.apply, which says what the file
        system could not keep. True when an ACL changed."""
        wanted: dict[str, bytes] = {}
        for key, value in entry.xattrs.items():
            if key.startswith("user."):
                wanted[key] = value
            else:
                self.report.notes.add(f"extended attributes outside user.* not restored "
                                      f"(e.g. {escape(key)})")
        for text, name in ((entry.acl_access, ACCESS_XATTR), (entry.acl_default, DEFAULT_XATTR)):
            if text is None:
                continue
            try:
                wanted[name] = acl_xattr(text, self.owners.mapped_uid, self.owners.mapped_gid)
            except AclError as error:
                self.report.skip(entry.name, f"ACL not restored: {error}")
        if not wanted and not self._inheriting:
            return False  # nothing to set, and nothing inherited to take away
        self._inheriting |= DEFAULT_XATTR in wanted
        applied = xattrs.apply(xattrs.of_fd(fd), wanted)
        self.report.notes.update(applied.not_kept)
        return applied.acl_changed


def _open_below(root: int, parts: tuple[bytes, ...], entry: Entry) -> int:
    """The directory `parts` below `root`, each component opened without following; the
    root itself when `parts` is empty (the caller closes anything else)."""
    try:
        return open_below(root, parts)
    except OSError as error:
        raise HostileArchive(f"'{shown(entry.name)}': hard link to '{shown(entry.link)}', "
                             "which this restore did not make") from error


def apply_root_metadata(root_fd: int, entry: Entry | None, extractor: Extractor) -> None:
    """Give the staging root the archive's `./` metadata, once the stream is verified."""
    if entry is not None:
        extractor._fd_metadata(root_fd, entry)
