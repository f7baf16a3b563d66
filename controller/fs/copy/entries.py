"""Bring one non-directory entry of the target in line with the source, fd-relative.

Every operation here works on a name inside an already opened directory (dir_fd) and
never follows a symlink: files are opened with O_NOFOLLOW, replacements are written to a
temporary name and renamed over the old entry (which replaces a link, never what it
points at), and metadata fixes go through an O_PATH descriptor of the entry itself.
Entries the target lacks are made directly under their final name (O_EXCL, so nothing
existing is ever touched): regular files are first noted in the in-flight journal
(journal.py), so a run killed mid-file leaves no partial file that a later run would take
for a newer user file; a run with no journal (Options.create_in_place off) writes them
under a temporary name instead. Each target operation is a round trip on NFS, so a new file costs
create, [chown], [chmod only when the create mode could not be final], utime and close.
This module must not walk directories, delete anything other than its own temporary names
and its own half-made new files, or overwrite a target entry that is newer than the
source unless told to (or the journal says an earlier run was writing it).
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from controller.fs.copy import xattrs
from controller.fs.copy.content import copy_bytes, may_have_holes
from controller.fs.copy.identity import identity
from controller.fs.copy.metadata import (
    EntryFailure,
    LinkedElsewhere,
    Options,
    apply_metadata,
    create_mode,
    fix_link_metadata,
    fix_metadata,
    metadata_differs,
)

if TYPE_CHECKING:
    from controller.fs.copy.journal import Journal

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in for a regular file between stat and open must not hang us.
_READ_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NO_ATIME = getattr(os, "O_NOATIME", 0)  # owner or CAP_FOWNER only: used as root
_temp_counter = itertools.count()


class Outcome(enum.Enum):
    COPIED = "copied"
    SYMLINK = "symlink"
    HARD_LINK = "hard_link"
    SPECIAL = "special"
    METADATA_FIXED = "metadata_fixed"
    UP_TO_DATE = "up_to_date"
    CONFLICT = "conflict"  # left alone: newer in the target


class Done(NamedTuple):
    """What became of one entry. A named tuple: one is made for every entry, and a tuple
    is several times cheaper to make than a frozen dataclass."""

    outcome: Outcome
    bytes: int = 0
    conflict: bool = False  # the target was newer; with overwrite_newer it was replaced
    changed_dir: bool = False  # the target directory's mtime moved because of us
    not_kept: tuple[str, ...] = ()  # xattrs/ACLs the target could not hold, in words


def sync_entry(src_dir: int, dst_dir: int | None, name: str, src: os.stat_result,
               dst: os.stat_result | None, opts: Options, journal: Journal | None = None,
               rel: str = "", recovering: bool = False,
               inode: list[os.stat_result] | None = None) -> Done:
    """Copy, fix or leave one non-directory entry; dst_dir None: the target dir is not there.

    `recovering`: an earlier run was writing this path (the journal says so), so a target
    that differs is our own unfinished work, replaced without a conflict. `inode`, when
    given, receives the stat of a regular file this call created (for hard-link leaders).
    """
    if dst is not None and stat.S_ISDIR(dst.st_mode):
        # Replacing it would mean deleting a whole subtree of the target: never.
        raise EntryFailure("the target has a directory where the source has "
                           f"{_kind(src.st_mode)}; left alone")
    entry = _Entry(src_dir, dst_dir, name, src, opts)
    done = _sync_kind(entry, dst, journal, rel, recovering, inode)
    return done._replace(not_kept=tuple(entry.not_kept)) if entry.not_kept else done


class _Entry:
    """The entry being synced, and the xattrs/ACLs its target could not take."""

    __slots__ = ("src_dir", "dst_dir", "name", "src", "opts", "not_kept", "_wanted")

    def __init__(self, src_dir: int, dst_dir: int | None, name: str, src: os.stat_result,
                 opts: Options) -> None:
        self.src_dir, self.dst_dir, self.name, self.src, self.opts = (
            src_dir, dst_dir, name, src, opts)
        self.not_kept: list[str] = []
        self._wanted: dict[str, bytes] | None = None

    def wanted(self) -> dict[str, bytes] | None:
        """The source entry's xattrs (read once, by name); None: nothing to copy."""
        if not self.opts.xattrs:
            return None
        if self._wanted is None:
            self._wanted = xattrs.read(xattrs.entry(self.src_dir, self.name))
        return self._wanted

    def xattrs_differ(self) -> bool:
        wanted = self.wanted()
        if wanted is None or self.dst_dir is None:
            return False
        return not xattrs.same(wanted, xattrs.read(xattrs.entry(self.dst_dir, self.name)))


def _sync_kind(entry: _Entry, dst: os.stat_result | None, journal: Journal | None, rel: str,
               recovering: bool, inode: list[os.stat_result] | None) -> Done:
    src_dir, dst_dir, name, src, opts = (entry.src_dir, entry.dst_dir, entry.name,
                                         entry.src, entry.opts)
    if stat.S_ISREG(src.st_mode):
        same = (dst is not None and stat.S_ISREG(dst.st_mode)
                and dst.st_size == src.st_size and dst.st_mtime_ns == src.st_mtime_ns)
        if dst is None and dst_dir is not None and not opts.dry_run and opts.create_in_place:
            return _create_file(entry, journal, rel, inode)
        return _sync(entry, dst, same, Outcome.COPIED,
                     lambda d, tmp: _copy_file(entry, d, tmp, inode), recovering)
    if stat.S_ISLNK(src.st_mode):
        target = os.readlink(name, dir_fd=src_dir)
        # A link's "content" is its target; its mtime is metadata, fixed in place.
        same = (dst is not None and dst_dir is not None and stat.S_ISLNK(dst.st_mode)
                and dst.st_size == len(os.fsencode(target))
                and os.readlink(name, dir_fd=dst_dir) == target)

        def make_link(d: int, tmp: str) -> int:
            os.symlink(target, tmp, dir_fd=d)
            # A new link has no attributes (no ACL is inherited by a link): only set some.
            fix_link_metadata(d, tmp, src, opts, entry.wanted() or None, entry.not_kept)
            return 0
        if dst is None and dst_dir is not None and not opts.dry_run:
            # A link is made whole; killed before its metadata, a re-run sees the same
            # target and fixes the metadata (never a conflict): no temporary name needed.
            try:
                os.symlink(target, name, dir_fd=dst_dir)
            except FileExistsError as error:
                raise _appeared() from error
            fix_link_metadata(dst_dir, name, src, opts, entry.wanted() or None,
                              entry.not_kept)
            return Done(Outcome.SYMLINK, changed_dir=True)
        return _sync(entry, dst, same, Outcome.SYMLINK, make_link, recovering)
    same = (dst is not None and stat.S_IFMT(dst.st_mode) == stat.S_IFMT(src.st_mode)
            and dst.st_rdev == src.st_rdev and dst.st_mtime_ns == src.st_mtime_ns)

    def make_node(d: int, tmp: str) -> int:
        os.mknod(tmp, stat.S_IFMT(src.st_mode) | 0o600, src.st_rdev, dir_fd=d)
        fix_metadata(d, tmp, src, opts, entry.wanted(), entry.not_kept)
        return 0
    return _sync(entry, dst, same, Outcome.SPECIAL, make_node, recovering)


MakeAt = Callable[[int, str], int]  # (target dir fd, temporary name) -> bytes copied


def _appeared() -> EntryFailure:
    return EntryFailure("appeared in the target while being copied; left alone, "
                        "run the copy again")


def _create_file(entry: _Entry, journal: Journal | None, rel: str,
                 inode: list[os.stat_result] | None) -> Done:
    """A file the target lacks: written directly under its final name, journaled first."""
    assert entry.dst_dir is not None
    if journal is not None:
        journal.note(rel)
    try:
        copied = _copy_file(entry, entry.dst_dir, entry.name, inode, fresh=True)
    except FileExistsError as error:
        raise _appeared() from error
    return Done(Outcome.COPIED, copied, changed_dir=True)


def _sync(entry: _Entry, dst: os.stat_result | None, same: bool, made: Outcome, make: MakeAt,
          recovering: bool = False) -> Done:
    dst_dir, name, src, opts = entry.dst_dir, entry.name, entry.src, entry.opts
    if dst is not None and same:
        if not metadata_differs(src, dst, opts) and not entry.xattrs_differ():
            return Done(Outcome.UP_TO_DATE)
        # An inode with other names may be anyone's (a user can hard-link a teammate's
        # file in place of ours): it is replaced below, never changed in place.
        if dst.st_nlink == 1:
            if opts.dry_run:
                return Done(Outcome.METADATA_FIXED)
            assert dst_dir is not None
            try:
                if stat.S_ISLNK(src.st_mode):
                    fix_link_metadata(dst_dir, name, src, opts, entry.wanted(),
                                      entry.not_kept)
                else:
                    fix_metadata(dst_dir, name, src, opts, entry.wanted(), entry.not_kept)
                return Done(Outcome.METADATA_FIXED)
            except LinkedElsewhere:
                pass  # linked since the stat: replaced like any shared inode
    # A path an earlier run was writing: newer only because we were killed mid-copy.
    conflict = dst is not None and dst.st_mtime_ns > src.st_mtime_ns and not recovering
    if conflict and not opts.overwrite_newer:
        return Done(Outcome.CONFLICT, conflict=True)
    if opts.dry_run:
        return Done(made, src.st_size if made is Outcome.COPIED else 0, conflict)
    assert dst_dir is not None
    copied = install(dst_dir, name, make)
    return Done(made, copied, conflict, changed_dir=True)


def install(dst_dir: int, name: str, make: MakeAt) -> int:
    """Create the new entry under a temporary name, then rename it over `name`.

    A half-written file never carries the final name, so an interrupted run leaves no
    file that a re-run would take for a newer target (a conflict). Renaming over a
    symlink replaces the link, not what it points at.
    """
    while True:
        tmp = f".studio-copy-{os.getpid()}-{next(_temp_counter)}.tmp"
        try:
            result = make(dst_dir, tmp)
            break
        except FileExistsError:
            continue  # a leftover of an earlier run with the same pid: pick another name
        except BaseException:
            _remove_temp(dst_dir, tmp)
            raise
    try:
        os.rename(tmp, name, src_dir_fd=dst_dir, dst_dir_fd=dst_dir)
    except BaseException:
        _remove_temp(dst_dir, tmp)
        raise
    return result


def _copy_file(entry: _Entry, dst_dir: int, tmp: str,
               inode: list[os.stat_result] | None = None, fresh: bool = False) -> int:
    """Copy into a new entry `tmp` (O_EXCL). `fresh`: `tmp` is the final name, so a
    failure removes the half-made file (ours: O_EXCL made it) instead of leaving it."""
    src, opts = entry.src, entry.opts
    # As root, reading the source leaves its atime alone (the target gets it as it was).
    source = os.open(entry.name, _READ_FILE | (_NO_ATIME if opts.set_owner else 0),
                     dir_fd=entry.src_dir)
    try:
        mode, final = create_mode(src.st_mode, opts)
        target = os.open(tmp, _NEW_FILE, mode, dir_fd=dst_dir)
        try:
            copied = copy_bytes(source, target, src.st_size, may_have_holes(src))
            # Without the atime: after a read, NFS and FUSE would fetch it again (identity.py).
            after = identity(source, opts.remote)
            if (after.ino, after.size, after.mtime_ns, copied) != (
                    src.st_ino, src.st_size, src.st_mtime_ns, src.st_size):
                # Stamping the old mtime on new bytes would hide the change from re-runs.
                raise EntryFailure("the source changed while being copied; not installed, "
                                   "run the copy again")
            # From the descriptor just read: the very inode whose bytes were copied.
            wanted = xattrs.read(xattrs.of_fd(source)) if opts.xattrs else None
            apply_metadata(target, src, opts, final, wanted, entry.not_kept)
            if inode is not None:
                inode.append(os.fstat(target))  # answered from the attributes just set
        except BaseException:
            if fresh:
                os.close(target)
                target = -1
                _remove_temp(dst_dir, tmp)
            raise
        finally:
            if target >= 0:
                os.close(target)
    finally:
        os.close(source)
    return copied


def _remove_temp(dst_dir: int, tmp: str) -> None:
    # The only unlink in the engine: our own temporary name or a new file we made (O_EXCL)
    # and failed to finish, never a user's entry.
    with contextlib.suppress(OSError):
        os.unlink(tmp, dir_fd=dst_dir)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "a special file"
