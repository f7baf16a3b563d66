"""The parallel walk: directories are scanned and their entries synced by a pool of workers.

Work items are "enter this directory" and "sync these few entries"; both are pushed on
one LIFO queue, so the walk goes depth-first and few directories are open at once. A
directory is finished (its target owner, mode and mtime set, fds closed) only when
everything below it is done, because creating children moves a directory's mtime.
Every target operation is relative to an fd opened with O_NOFOLLOW, so a symlink planted
in the target is never followed and nothing outside the target root is touched. This
module must not decide how a single entry is copied (entries.py does) or remove anything.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass

from controller.fs.copy.entries import (
    Done,
    EntryFailure,
    Options,
    Outcome,
    create_mode,
    metadata_differs,
    owner_or_mode_differs,
    sync_entry,
)
from controller.fs.copy.hardlinks import OPEN_DIR, HardLinkGroups, sync_follower
from controller.fs.copy.journal import Journal, is_journal
from controller.fs.copy.tally import Tally

ENTRIES_PER_TASK = 16  # small enough to spread one big directory over many workers


@dataclass(eq=False)
class DirNode:
    rel: str  # relative to the copy roots; "" for the roots themselves
    parts: tuple[str, ...]
    src_fd: int
    dst_fd: int | None  # None only in a dry run, below a directory the target lacks
    src_stat: os.stat_result
    parent: DirNode | None
    created: bool
    pending: int = 1  # the scan itself, plus one per task queued for this directory
    changed: bool = False  # we created or replaced entries in it: its mtime moved


class ParallelWalk:
    def __init__(self, dst_root: int | None, opts: Options, tally: Tally, workers: int,
                 journal: Journal | None = None,
                 root_listing: list[str] | None = None):
        self._dst_root = dst_root
        self._journal = journal
        self._recovering = journal.recovering if journal is not None else frozenset()
        self._root_listing = root_listing  # the target root, already listed by the engine
        self._opts = opts
        self._tally = tally
        self._workers = max(1, workers)
        self._queue: queue.LifoQueue[Callable[[], None] | None] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._links = HardLinkGroups()

    def run(self, root: DirNode) -> None:
        """Copy everything below `root`; returns when the root itself is finished."""
        threads = [threading.Thread(target=self._work, daemon=True, name=f"copy-{i}")
                   for i in range(self._workers)]
        for thread in threads:
            thread.start()
        self._queue.put(lambda: self._scan(root))
        self._finished.wait()
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join()
        self._links.close()

    def _work(self) -> None:
        while (task := self._queue.get()) is not None:
            task()

    def _push(self, node: DirNode, task: Callable[[], None]) -> None:
        with self._lock:
            node.pending += 1
        self._queue.put(task)

    def _release(self, node: DirNode | None) -> None:
        while node is not None:
            with self._lock:
                node.pending -= 1
                if node.pending:
                    return
            self._finish(node)
            node = node.parent
        self._finished.set()

    def _scan(self, node: DirNode) -> None:
        try:
            with os.scandir(node.src_fd) as listing:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in listing]
            if node.parent is None and self._root_listing is not None:
                in_target = set(self._root_listing)
                in_target = {name for name in in_target if not is_journal(name)}
            elif node.dst_fd is not None and not node.created:
                in_target = set(os.listdir(node.dst_fd))
            else:
                in_target = set()  # we just made it (empty), or a dry run without it
            self._tally.add_extra(len(in_target - {name for name, _ in entries}))
            others = [name for name, is_dir in entries if not is_dir]
            for name in (name for name, is_dir in entries if is_dir):
                self._push(node, _bind(self._enter, node, name, name in in_target))
            for start in range(0, len(others), ENTRIES_PER_TASK):
                chunk = others[start:start + ENTRIES_PER_TASK]
                self._push(node, _bind(self._sync_entries, node, chunk, in_target))
        except OSError as error:
            self._tally.error(node.rel, f"cannot list the directory: {describe(error)}")
        except Exception as error:  # a bug must cost one directory, not hang the pool
            self._tally.error(node.rel, f"unexpected {type(error).__name__}: {error}")
        finally:
            self._release(node)

    def _enter(self, parent: DirNode, name: str, in_target: bool) -> None:
        rel = _join(parent.rel, name)
        try:
            node = self._open_pair(parent, name, rel, in_target)
        except (OSError, EntryFailure) as error:
            message = describe(error) if isinstance(error, OSError) else str(error)
            self._tally.error(rel, message)
            self._release(parent)
            return
        self._scan(node)

    def _open_pair(self, parent: DirNode, name: str, rel: str, in_target: bool) -> DirNode:
        src_fd = os.open(name, OPEN_DIR, dir_fd=parent.src_fd)
        try:
            src_stat = os.fstat(src_fd)
            dst_fd, created = None, not in_target
            if parent.dst_fd is not None and not (created and self._opts.dry_run):
                if created:
                    try:
                        # Final mode now when that is safe, else 0o700 until it is finished.
                        os.mkdir(name, create_mode(src_stat.st_mode, self._opts, True)[0],
                                 dir_fd=parent.dst_fd)
                        parent.changed = True
                    except FileExistsError:
                        created = False  # appeared since the scan: open it like any other
                dst_fd = _open_target_dir(parent.dst_fd, name)
        except BaseException:
            os.close(src_fd)
            raise
        if created:
            self._tally.directory(None)
        return DirNode(rel, (*parent.parts, name), src_fd, dst_fd, src_stat, parent, created)

    def _sync_entries(self, node: DirNode, names: list[str], in_target: set[str]) -> None:
        try:
            if self._journal is not None and node.dst_fd is not None:
                # One journal write for the whole chunk: every name the target lacks may
                # be created under its final name below (noting more is harmless).
                fresh = [_join(node.rel, name) for name in names if name not in in_target]
                if fresh:
                    self._journal.note(*fresh)
            for name in names:
                rel = _join(node.rel, name)
                try:
                    done = self._sync_one(node, name, rel, name in in_target)
                    if done.changed_dir:
                        node.changed = True
                    self._tally.record(rel, done)
                except EntryFailure as error:
                    self._tally.error(rel, str(error))
                except OSError as error:
                    self._tally.error(rel, describe(error))
                except Exception as error:  # a bug must cost one entry, not the copy
                    self._tally.error(rel, f"unexpected {type(error).__name__}: {error}")
        finally:
            self._release(node)

    def _sync_one(self, node: DirNode, name: str, rel: str, in_target: bool) -> Done:
        src = os.stat(name, dir_fd=node.src_fd, follow_symlinks=False)
        if stat.S_ISDIR(src.st_mode):
            raise EntryFailure("became a directory while being copied; run the copy again")
        dst = None
        if node.dst_fd is not None and in_target:
            with contextlib.suppress(FileNotFoundError):  # gone since the scan: copy it
                dst = os.stat(name, dir_fd=node.dst_fd, follow_symlinks=False)
        recovering = rel in self._recovering
        if not (stat.S_ISREG(src.st_mode) and src.st_nlink > 1):
            # The journal was written for the whole chunk already (_sync_entries).
            return sync_entry(node.src_fd, node.dst_fd, name, src, dst, self._opts,
                              None, rel, recovering)
        group, leader = self._links.claim(src)
        if not leader:
            group.settled.wait()
            if group.usable:
                return sync_follower(group, self._dst_root, node.dst_fd, name, src, dst,
                                     self._opts, recovering)
            # The leader failed or was left alone: copy this name on its own for now.
            return sync_entry(node.src_fd, node.dst_fd, name, src, dst, self._opts,
                              None, rel, recovering)
        done, inode = None, None
        try:
            made: list[os.stat_result] = []
            done = sync_entry(node.src_fd, node.dst_fd, name, src, dst, self._opts,
                              None, rel, recovering, made)
            if made:
                inode = (made[0].st_dev, made[0].st_ino)
            elif done.changed_dir and node.dst_fd is not None:
                now = os.stat(name, dir_fd=node.dst_fd, follow_symlinks=False)
                inode = (now.st_dev, now.st_ino)
            elif dst is not None:
                inode = (dst.st_dev, dst.st_ino)
            return done
        finally:
            usable = done is not None and done.outcome is not Outcome.CONFLICT
            group.settle(node.parts, name, inode, usable,
                         self._links.hold(node.dst_fd) if usable else None)

    def _finish(self, node: DirNode) -> None:
        """Give the target directory the source's owner, mode and mtime, then close it."""
        try:
            if node.dst_fd is not None:
                now = os.fstat(node.dst_fd)
                if metadata_differs(node.src_stat, now, self._opts):
                    if not self._opts.dry_run:
                        _apply_dir_metadata(node.dst_fd, node.src_stat, now, self._opts)
                    # Our own changes move the mtime back: that is no fix worth counting.
                    real_fix = (owner_or_mode_differs(node.src_stat, now, self._opts)
                                or not node.changed)
                    if not node.created:
                        self._tally.directory(
                            Outcome.METADATA_FIXED if real_fix else Outcome.UP_TO_DATE)
                elif not node.created:
                    self._tally.directory(Outcome.UP_TO_DATE)
        except OSError as error:
            self._tally.error(node.rel, f"cannot set the directory's metadata: "
                                        f"{describe(error)}")
        finally:
            if node.parent is not None:  # the roots belong to the caller
                os.close(node.src_fd)
                if node.dst_fd is not None:
                    os.close(node.dst_fd)


def _apply_dir_metadata(fd: int, src: os.stat_result, now: os.stat_result,
                        opts: Options) -> None:
    chowned = opts.set_owner and (now.st_uid, now.st_gid) != (src.st_uid, src.st_gid)
    if chowned:
        os.fchown(fd, src.st_uid, src.st_gid)
    # A directory's chown keeps its mode on Linux; with special bits, set them again anyway.
    if ((chowned and stat.S_IMODE(src.st_mode) & 0o7000)
            or stat.S_IMODE(now.st_mode) != stat.S_IMODE(src.st_mode)):
        os.fchmod(fd, stat.S_IMODE(src.st_mode))
    if now.st_mtime_ns != src.st_mtime_ns:
        os.utime(fd, ns=(src.st_atime_ns, src.st_mtime_ns))


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


def describe(error: OSError) -> str:
    return error.strerror or str(error)


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _bind(function: Callable[..., None], *args: object) -> Callable[[], None]:
    return lambda: function(*args)
