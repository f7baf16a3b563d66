"""An entry's metadata: compared between source and target, and set on a target entry.

Owner, mode, mtime, and (when the source file system has them) extended attributes and
POSIX ACLs (xattrs.py). Setting goes through a descriptor of the very inode: an fd this
copy created, or an O_PATH|O_NOFOLLOW descriptor pinned before anything is changed, so a
link swapped in is never followed, and an inode with other names (a hard link a user
planted in place of ours) is never changed in place (LinkedElsewhere: the caller
replaces the entry instead). This module must not create, copy or remove entries.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from controller.fs.copy import xattrs

_PATH_ONLY = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class EntryFailure(Exception):
    """This entry could not be brought in line; the message is for the report."""


class LinkedElsewhere(Exception):
    """The target inode has other names: its metadata must not be changed in place."""


def describe(error: OSError) -> str:
    """An OSError as a report says it: the system's message, without the errno prefix."""
    return error.strerror or str(error)


@dataclass(frozen=True)
class Options:
    dry_run: bool
    overwrite_newer: bool
    set_owner: bool  # only root can give files away, so only root compares owners
    umask: int = 0o777  # the process umask; unknown: every new entry gets an explicit chmod
    xattrs: bool = False  # the source file system has extended attributes: copy them
    # New files may be written under their final names (the journal notes them first);
    # else under a temporary name, renamed once complete.
    create_in_place: bool = True
    # A side is on a network file system (NFS, FUSE...): prefer calls the client answers
    # from its cache (identity.py).
    remote: bool = False


def read_umask() -> int:
    """The process umask without changing it (os.umask would race with other threads)."""
    try:
        with open("/proc/self/status", "rb") as status:  # bytes: no codec needed
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777


def create_mode(mode: int, opts: Options, directory: bool = False) -> tuple[int, bool]:
    """The mode to create a new entry with, and whether it is already the final mode.

    Until the owner is set the entry belongs to us (and maybe the wrong group), so the
    final mode is used at creation only when that gives nobody more than the source does:
    no setuid/setgid/sticky bit (chown would clear them anyway), group bits no wider than
    the bits everyone has, and nothing the umask would take away. A directory also keeps
    owner rwx so that we can fill it. Otherwise: 0o600/0o700 now and chmod later.
    """
    final = stat.S_IMODE(mode)
    fallback = 0o700 if directory else 0o600
    if final & 0o7000 or final & opts.umask:
        return fallback, False
    if (final >> 3) & 0o7 & ~final:
        return fallback, False
    if directory and final & 0o700 != 0o700:
        return fallback, False
    return final, True


def owner_or_mode_differs(src: os.stat_result, dst: os.stat_result, opts: Options) -> bool:
    if stat.S_IMODE(src.st_mode) != stat.S_IMODE(dst.st_mode):
        return True
    return opts.set_owner and (src.st_uid, src.st_gid) != (dst.st_uid, dst.st_gid)


def metadata_differs(src: os.stat_result, dst: os.stat_result, opts: Options) -> bool:
    return src.st_mtime_ns != dst.st_mtime_ns or owner_or_mode_differs(src, dst, opts)


def same_file(src: os.stat_result, dst: os.stat_result, set_owner: bool) -> bool:
    """Both regular files that sync_entry would call up to date: the quick check (size
    and mtime), the same mode and, when owners are set, the same owner."""
    return (src.st_mode == dst.st_mode and stat.S_ISREG(src.st_mode)
            and src.st_size == dst.st_size and src.st_mtime_ns == dst.st_mtime_ns
            and (not set_owner or (src.st_uid == dst.st_uid and src.st_gid == dst.st_gid)))


def same_xattrs(src_dir: int, dst_dir: int | None, name: str, opts: Options) -> bool:
    """The entry `name` holds the same managed xattrs/ACLs on both sides (read by name:
    only for deciding; changes go through a pinned descriptor)."""
    if not opts.xattrs or dst_dir is None:
        return True
    wanted = xattrs.read(xattrs.entry(src_dir, name))
    return xattrs.same(wanted, xattrs.read(xattrs.entry(dst_dir, name)))


def apply_metadata(fd: int, src: os.stat_result, opts: Options, mode_set: bool = False,
                   wanted: dict[str, bytes] | None = None,
                   not_kept: list[str] | None = None) -> None:
    """Owner first (a chown clears setuid/setgid and file capabilities), then xattrs and
    ACLs, then mode, then times last, on an entry open as `fd` that this copy made.

    `mode_set`: the entry was created with its final mode (see create_mode), which a
    chown leaves alone as it has no setuid/setgid bit: no chmod round trip, unless an ACL
    was changed (an ACL moves the group bits). `wanted`: the source's xattrs (None: the
    source has none to give); what cannot be set is added to `not_kept`.
    """
    if opts.set_owner:
        os.fchown(fd, src.st_uid, src.st_gid)
    if wanted is not None:
        applied = xattrs.apply(xattrs.of_fd(fd), wanted)
        mode_set = mode_set and not applied.acl_changed
        if not_kept is not None:
            not_kept.extend(applied.not_kept)
    if not mode_set:
        os.fchmod(fd, stat.S_IMODE(src.st_mode))
    os.utime(fd, ns=(src.st_atime_ns, src.st_mtime_ns))


def fix_metadata(dst_dir: int, name: str, src: os.stat_result, opts: Options,
                 wanted: dict[str, bytes] | None = None,
                 not_kept: list[str] | None = None) -> None:
    """Fix owner/mode/xattrs/mtime of an existing non-link entry without opening it for I/O.

    Linux has no chmod that refuses links, so the entry is pinned with O_PATH|O_NOFOLLOW
    and changed through /proc/self/fd: if a link was swapped in, we change the link's
    own inode or fail, never its target. Only what differs is changed (each call is a
    round trip on NFS). Raises LinkedElsewhere when the inode has other names.
    """
    fd = os.open(name, _PATH_ONLY, dir_fd=dst_dir)
    try:
        now = os.fstat(fd)
        if stat.S_IFMT(now.st_mode) != stat.S_IFMT(src.st_mode):
            raise EntryFailure("the target entry changed type while being fixed; left alone")
        if now.st_nlink != 1:
            raise LinkedElsewhere
        inode = xattrs.pinned(fd)
        chowned = False
        if opts.set_owner and (now.st_uid, now.st_gid) != (src.st_uid, src.st_gid):
            os.chown(inode.at, src.st_uid, src.st_gid)
            chowned = True
        acl_changed = False
        if wanted is not None:
            applied = xattrs.apply(inode, wanted)
            acl_changed = applied.acl_changed
            if not_kept is not None:
                not_kept.extend(applied.not_kept)
        if chowned or acl_changed or stat.S_IMODE(now.st_mode) != stat.S_IMODE(src.st_mode):
            os.chmod(inode.at, stat.S_IMODE(src.st_mode))
        if now.st_mtime_ns != src.st_mtime_ns:
            os.utime(inode.at, ns=(src.st_atime_ns, src.st_mtime_ns))
    finally:
        os.close(fd)


def fix_link_metadata(dst_dir: int, name: str, src: os.stat_result, opts: Options,
                      wanted: dict[str, bytes] | None = None,
                      not_kept: list[str] | None = None) -> None:
    """Owner, xattrs and mtime of a symlink (Linux has no mode for links)."""
    # lchown/lutimes act on the link itself. The caller checked it has one name, and
    # another user cannot hard-link someone else's symlink (fs.protected_hardlinks).
    if opts.set_owner:
        os.chown(name, src.st_uid, src.st_gid, dir_fd=dst_dir, follow_symlinks=False)
    if wanted is not None:
        fd = os.open(name, _PATH_ONLY, dir_fd=dst_dir)
        try:
            now = os.fstat(fd)
            if not stat.S_ISLNK(now.st_mode) or now.st_nlink != 1:
                raise LinkedElsewhere
            applied = xattrs.apply(xattrs.pinned(fd), wanted)
            if not_kept is not None:
                not_kept.extend(applied.not_kept)
        finally:
            os.close(fd)
    os.utime(name, ns=(src.st_atime_ns, src.st_mtime_ns), dir_fd=dst_dir,
             follow_symlinks=False)
