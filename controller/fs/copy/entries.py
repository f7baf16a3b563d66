"""Bring one non-directory entry of the target in line with the source, fd-relative.

Every operation here works on a name inside an already opened directory (dir_fd) and
never follows a symlink: files are opened with O_NOFOLLOW, replacements are written to a
temporary name and renamed over the old entry (which replaces a link, never what it
points at), and metadata fixes go through an O_PATH descriptor of the entry itself. This
module must not walk directories, delete anything other than its own temporary names, or
overwrite a target entry that is newer than the source unless told to.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import itertools
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in for a regular file between stat and open must not hang us.
_READ_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_PATH_ONLY = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_COPY_CHUNK = 1 << 30
_temp_counter = itertools.count()
# Once copy_file_range/sendfile is refused (another fs, an old kernel), stop trying it.
_fast_copy = {"copy_file_range": hasattr(os, "copy_file_range"), "sendfile": True}


class EntryFailure(Exception):
    """This entry could not be brought in line; the message is for the report."""


class Outcome(enum.Enum):
    COPIED = "copied"
    SYMLINK = "symlink"
    HARD_LINK = "hard_link"
    SPECIAL = "special"
    METADATA_FIXED = "metadata_fixed"
    UP_TO_DATE = "up_to_date"
    CONFLICT = "conflict"  # left alone: newer in the target


@dataclass(frozen=True)
class Options:
    dry_run: bool
    overwrite_newer: bool
    set_owner: bool  # only root can give files away, so only root compares owners


@dataclass(frozen=True)
class Done:
    outcome: Outcome
    bytes: int = 0
    conflict: bool = False  # the target was newer; with overwrite_newer it was replaced
    changed_dir: bool = False  # the target directory's mtime moved because of us


def owner_or_mode_differs(src: os.stat_result, dst: os.stat_result, opts: Options) -> bool:
    if stat.S_IMODE(src.st_mode) != stat.S_IMODE(dst.st_mode):
        return True
    return opts.set_owner and (src.st_uid, src.st_gid) != (dst.st_uid, dst.st_gid)


def metadata_differs(src: os.stat_result, dst: os.stat_result, opts: Options) -> bool:
    return src.st_mtime_ns != dst.st_mtime_ns or owner_or_mode_differs(src, dst, opts)


def sync_entry(src_dir: int, dst_dir: int | None, name: str, src: os.stat_result,
               dst: os.stat_result | None, opts: Options) -> Done:
    """Copy, fix or leave one non-directory entry; dst_dir None: the target dir is not there."""
    if dst is not None and stat.S_ISDIR(dst.st_mode):
        # Replacing it would mean deleting a whole subtree of the target: never.
        raise EntryFailure("the target has a directory where the source has "
                           f"{_kind(src.st_mode)}; left alone")
    if stat.S_ISREG(src.st_mode):
        same = (dst is not None and stat.S_ISREG(dst.st_mode)
                and dst.st_size == src.st_size and dst.st_mtime_ns == src.st_mtime_ns)
        return _sync(dst_dir, name, src, dst, same, opts, Outcome.COPIED,
                     lambda d, tmp: _copy_file(src_dir, name, d, tmp, src, opts))
    if stat.S_ISLNK(src.st_mode):
        target = os.readlink(name, dir_fd=src_dir)
        # A link's "content" is its target; its mtime is metadata, fixed in place.
        same = (dst is not None and dst_dir is not None and stat.S_ISLNK(dst.st_mode)
                and dst.st_size == len(os.fsencode(target))
                and os.readlink(name, dir_fd=dst_dir) == target)

        def make_link(d: int, tmp: str) -> int:
            os.symlink(target, tmp, dir_fd=d)
            fix_link_metadata(d, tmp, src, opts)
            return 0
        return _sync(dst_dir, name, src, dst, same, opts, Outcome.SYMLINK, make_link)
    same = (dst is not None and stat.S_IFMT(dst.st_mode) == stat.S_IFMT(src.st_mode)
            and dst.st_rdev == src.st_rdev and dst.st_mtime_ns == src.st_mtime_ns)

    def make_node(d: int, tmp: str) -> int:
        os.mknod(tmp, stat.S_IFMT(src.st_mode) | 0o600, src.st_rdev, dir_fd=d)
        fix_metadata(d, tmp, src, None, opts)
        return 0
    return _sync(dst_dir, name, src, dst, same, opts, Outcome.SPECIAL, make_node)


MakeAt = Callable[[int, str], int]  # (target dir fd, temporary name) -> bytes copied


def _sync(dst_dir: int | None, name: str, src: os.stat_result, dst: os.stat_result | None,
          same: bool, opts: Options, made: Outcome, make: MakeAt) -> Done:
    if dst is not None and same:
        if not metadata_differs(src, dst, opts):
            return Done(Outcome.UP_TO_DATE)
        if not opts.dry_run:
            assert dst_dir is not None
            if stat.S_ISLNK(src.st_mode):
                fix_link_metadata(dst_dir, name, src, opts)
            else:
                fix_metadata(dst_dir, name, src, dst, opts)
        return Done(Outcome.METADATA_FIXED)
    conflict = dst is not None and dst.st_mtime_ns > src.st_mtime_ns
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


def _copy_file(src_dir: int, name: str, dst_dir: int, tmp: str, src: os.stat_result,
               opts: Options) -> int:
    source = os.open(name, _READ_FILE, dir_fd=src_dir)
    try:
        target = os.open(tmp, _NEW_FILE, 0o600, dir_fd=dst_dir)
        try:
            copied = copy_bytes(source, target)
            after = os.fstat(source)
            if (after.st_ino, after.st_size, after.st_mtime_ns, copied) != (
                    src.st_ino, src.st_size, src.st_mtime_ns, src.st_size):
                # Stamping the old mtime on new bytes would hide the change from re-runs.
                raise EntryFailure("the source changed while being copied; not installed, "
                                   "run the copy again")
            apply_metadata(target, src, opts)
        finally:
            os.close(target)
    finally:
        os.close(source)
    return copied


def copy_bytes(source: int, target: int) -> int:
    """Copy in the kernel where it can (no bytes through Python), else read/write."""
    total = 0
    if _fast_copy["copy_file_range"]:
        try:
            while count := os.copy_file_range(source, target, _COPY_CHUNK):
                total += count
            return total
        except OSError as error:
            if total or error.errno not in _UNSUPPORTED:
                raise
            _fast_copy["copy_file_range"] = False
    if _fast_copy["sendfile"]:
        try:
            while count := os.sendfile(target, source, None, _COPY_CHUNK):
                total += count
            return total
        except OSError as error:
            if total or error.errno not in _UNSUPPORTED:
                raise
            _fast_copy["sendfile"] = False
    while chunk := os.read(source, 1 << 20):
        total += os.write(target, chunk)
    return total


_UNSUPPORTED = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTSUP}


def apply_metadata(fd: int, src: os.stat_result, opts: Options) -> None:
    """Owner first (a chown clears setuid/setgid), then mode, then times last."""
    if opts.set_owner:
        os.fchown(fd, src.st_uid, src.st_gid)
    os.fchmod(fd, stat.S_IMODE(src.st_mode))
    os.utime(fd, ns=(src.st_atime_ns, src.st_mtime_ns))


def fix_metadata(dst_dir: int, name: str, src: os.stat_result, dst: os.stat_result | None,
                 opts: Options) -> None:
    """Fix owner/mode/mtime of an existing non-link entry without opening it for I/O.

    Linux has no chmod that refuses links, so the entry is pinned with O_PATH|O_NOFOLLOW
    and changed through /proc/self/fd: if a link was swapped in, we change the link's
    own inode or fail, never its target. Only what differs is changed (each call is a
    round trip on NFS).
    """
    fd = os.open(name, _PATH_ONLY, dir_fd=dst_dir)
    try:
        now = os.fstat(fd)
        if stat.S_IFMT(now.st_mode) != stat.S_IFMT(src.st_mode):
            raise EntryFailure("the target entry changed type while being fixed; left alone")
        pinned = f"/proc/self/fd/{fd}"
        chowned = False
        if opts.set_owner and (now.st_uid, now.st_gid) != (src.st_uid, src.st_gid):
            os.chown(pinned, src.st_uid, src.st_gid)
            chowned = True
        if chowned or stat.S_IMODE(now.st_mode) != stat.S_IMODE(src.st_mode):
            os.chmod(pinned, stat.S_IMODE(src.st_mode))
        if now.st_mtime_ns != src.st_mtime_ns:
            os.utime(pinned, ns=(src.st_atime_ns, src.st_mtime_ns))
    finally:
        os.close(fd)


def fix_link_metadata(dst_dir: int, name: str, src: os.stat_result, opts: Options) -> None:
    # A link's mode cannot be set on Linux; lchown/lutimes act on the link itself.
    if opts.set_owner:
        os.chown(name, src.st_uid, src.st_gid, dir_fd=dst_dir, follow_symlinks=False)
    os.utime(name, ns=(src.st_atime_ns, src.st_mtime_ns), dir_fd=dst_dir,
             follow_symlinks=False)


def _remove_temp(dst_dir: int, tmp: str) -> None:
    # The only unlink in the engine: our own temporary name, never a user's entry.
    with contextlib.suppress(OSError):
        os.unlink(tmp, dir_fd=dst_dir)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "a special file"
