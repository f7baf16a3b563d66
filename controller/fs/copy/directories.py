"""A directory pair of the walk: opened (the target made when it is missing) and finished.

A target directory is finished (the source's owner, mode and mtime set, both fds closed)
only when everything below it is done, because creating entries in it moves its mtime.
Its attributes are taken when it is opened, where they come with the open (no round trip
on NFS); the walk notes in `changed` when its own work moved the mtime, so at the end
only what differs is set, and a directory a re-run did not touch is not touched at all.
This module must not walk, copy entries, or remove anything.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from controller.fs.copy import xattrs
from controller.fs.copy.entries import Outcome
from controller.fs.copy.metadata import (
    EntryFailure,
    Options,
    create_mode,
    describe,
    metadata_differs,
    owner_or_mode_differs,
)
from controller.fs.copy.tally import Tally
from controller.fs.dirstack import OPEN_DIR


@dataclass(eq=False)
class DirNode:
    name: str  # below the parent; "" for the roots themselves
    # Relative to the copy roots, kept while the directory is worked on; a parked one
    # drops it (a tree 30,000 levels deep would hold 900 million characters of paths).
    kept_rel: str | None
    src_fd: int
    dst_fd: int | None  # None only in a dry run, below a directory the target lacks
    src_stat: os.stat_result
    # The target directory as we found (or made) it, taken when it was opened: the
    # attributes just fetched by the open, so no round trip. Our own entry changes move
    # only its mtime (see `changed`), so it still tells its owner and mode at the end.
    dst_stat: os.stat_result | None
    parent: DirNode | None
    created: bool
    pending: int = 1  # the scan itself, plus one per task queued for this directory
    changed: bool = False  # we created, replaced or removed entries in it: its mtime moved
    users: int = 1  # the scan and the queued tasks that use its descriptors (parking.py)
    held: int = 0  # descriptors it holds that count against the budget (parking.py)
    parked: bool = False  # its descriptors are closed until its subtrees are done

    @property
    def rel(self) -> str:
        """The path relative to the copy roots ("" for the roots)."""
        return self.kept_rel if self.kept_rel is not None else "/".join(self.parts())

    def parts(self) -> tuple[str, ...]:
        """The directory names from the roots down to this one."""
        names = []
        node: DirNode | None = self
        while node is not None and node.parent is not None:
            names.append(node.name)
            node = node.parent
        return tuple(reversed(names))


def open_pair(parent: DirNode, name: str, rel: str, in_target: bool,
              opts: Options) -> DirNode:
    """Open the source directory `name` below `parent` and its target, making the target
    (with the final mode when that is safe, else 0o700 until it is finished) if the
    parent's listing lacked it. Raises OSError or EntryFailure (a link or a file there)."""
    src_fd = os.open(name, OPEN_DIR, dir_fd=parent.src_fd)
    try:
        src_stat = os.fstat(src_fd)
        dst_fd, created = None, not in_target
        if parent.dst_fd is not None and not (created and opts.dry_run):
            if created:
                try:
                    os.mkdir(name, create_mode(src_stat.st_mode, opts, True)[0],
                             dir_fd=parent.dst_fd)
                    parent.changed = True
                except FileExistsError:
                    created = False  # appeared since the scan: open it like any other
            dst_fd = _open_target_dir(parent.dst_fd, name)
        dst_stat = None
        if dst_fd is not None:
            try:
                dst_stat = os.fstat(dst_fd)
            except BaseException:
                os.close(dst_fd)
                raise
    except BaseException:
        os.close(src_fd)
        raise
    return DirNode(name, rel, src_fd, dst_fd, src_stat, dst_stat, parent,
                   created)


def finish(node: DirNode, opts: Options, tally: Tally, mtime_moved: bool) -> None:
    """Give the target directory the source's owner, mode, xattrs/ACLs and mtime, then
    close it.

    `mtime_moved`: our own changes in it moved its mtime since it was opened.
    """
    if node.parked:  # could not be opened again as the same directory: moved meanwhile
        tally.error(node.rel, "moved or replaced while being copied; its owner, mode and "
                              "mtime were not set, run the copy again")
        return
    try:
        if node.dst_fd is not None and node.dst_stat is not None:
            before = node.dst_stat
            wanted = have = None
            if opts.xattrs:  # a directory's default ACL too
                wanted = xattrs.read(xattrs.of_fd(node.src_fd))
                have = xattrs.read(xattrs.of_fd(node.dst_fd))
            xattrs_differ = wanted is not None and have is not None and not xattrs.same(
                wanted, have)
            if mtime_moved or xattrs_differ or metadata_differs(node.src_stat, before, opts):
                if not opts.dry_run:
                    not_kept = _apply_dir_metadata(node.dst_fd, node.src_stat, before, opts,
                                                   mtime_moved, wanted if xattrs_differ else None)
                    for message in not_kept:
                        tally.not_kept(node.rel, message)
                # Our own changes move the mtime back: that is no fix worth counting.
                real_fix = (owner_or_mode_differs(node.src_stat, before, opts)
                            or xattrs_differ or not mtime_moved)
                if not node.created:
                    tally.directory(Outcome.METADATA_FIXED if real_fix else Outcome.UP_TO_DATE)
            elif not node.created:
                tally.directory(Outcome.UP_TO_DATE)
    except OSError as error:
        tally.error(node.rel, f"cannot set the directory's metadata: {describe(error)}")
    finally:
        if node.parent is not None:  # the roots belong to the caller
            os.close(node.src_fd)
            if node.dst_fd is not None:
                os.close(node.dst_fd)


def _apply_dir_metadata(fd: int, src: os.stat_result, before: os.stat_result,
                        opts: Options, mtime_moved: bool,
                        wanted: dict[str, bytes] | None) -> list[str]:
    """Only what differs from `before` (each call is a round trip on NFS); the mtime
    also when our own entry changes moved it since `before` was taken. `wanted`: the
    source's xattrs when the target's differ. Returns the xattrs not kept, in words."""
    chowned = opts.set_owner and (before.st_uid, before.st_gid) != (src.st_uid, src.st_gid)
    if chowned:
        os.fchown(fd, src.st_uid, src.st_gid)
    applied = xattrs.apply(xattrs.of_fd(fd), wanted) if wanted is not None else None
    # A directory's chown keeps its mode on Linux; with special bits, set them again
    # anyway; an ACL set moves the group bits.
    if ((chowned and stat.S_IMODE(src.st_mode) & 0o7000)
            or (applied is not None and applied.acl_changed)
            or stat.S_IMODE(before.st_mode) != stat.S_IMODE(src.st_mode)):
        os.fchmod(fd, stat.S_IMODE(src.st_mode))
    if mtime_moved or before.st_mtime_ns != src.st_mtime_ns:
        os.utime(fd, ns=(src.st_atime_ns, src.st_mtime_ns))
    return applied.not_kept if applied is not None else []


def _open_target_dir(parent: int, name: str) -> int:
    try:
        return os.open(name, OPEN_DIR, dir_fd=parent)
    except OSError as error:
        # O_NOFOLLOW|O_DIRECTORY on a link fails with ENOTDIR or ELOOP: look at what it is.
        if error.errno in (errno.ELOOP, errno.ENOTDIR) and stat.S_ISLNK(
                os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            raise EntryFailure("is a symlink in the target where the source has a "
                               "directory; not followed, this subtree was skipped") from error
        if error.errno == errno.ENOTDIR:
            raise EntryFailure("the target has a non-directory where the source has a "
                               "directory; left alone, this subtree was skipped") from error
        raise
