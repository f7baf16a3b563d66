"""The parallel walk: directories are scanned and their entries synced by a pool of workers.

Work items are "enter this directory" and "sync these few entries"; both are pushed on
one LIFO queue, so the walk goes depth-first and few directories are open at once (past
a budget, a directory that only waits for its subtrees gives its descriptors back:
parking.py, so no depth stops the copy). A
directory is finished (directories.py) only when everything below it is done, because
creating children moves a directory's mtime. A large file whose content is to be copied
goes to an idle copier thread if there is one, so that a worker is not held by a copy
that waits in the kernel (with one worker per core, the usual choice on a local disk,
that copy would otherwise stop the walk). Every target operation is relative to an fd
opened with O_NOFOLLOW, so a symlink planted in the target is never followed and nothing
outside the target root is touched. This module must not decide how a single entry is
copied (entries.py does) or remove anything.

On NFS every call is a round trip, so a re-run with nothing to do costs per entry one
stat on each side (the listing gives the types), and per directory an open, a listing
and a close on each side (directories.py says how a directory is finished without more).
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Callable

from controller.fs.copy.directories import DirNode, finish, open_pair
from controller.fs.copy.entries import Done, Outcome, sync_entry
from controller.fs.copy.hardlinks import HardLinkGroups, LinkGroup, sync_follower
from controller.fs.copy.journal import STATE_DIR, Journal
from controller.fs.copy.listing import read_entries
from controller.fs.copy.medium import cores
from controller.fs.copy.metadata import EntryFailure, Options, describe, same_file, same_xattrs
from controller.fs.copy.parking import DirectoryBudget
from controller.fs.copy.tally import Tally

ENTRIES_PER_TASK = 16  # small enough to spread one big directory over many workers
# A file at least this big is handed to a copier thread when one is free: its copy waits
# in the kernel long enough that the worker is better off going on with the walk.
LARGE_FILE = 1 << 20


class ParallelWalk:
    """`workers` threads walking and syncing, plus one copier thread per core that only
    takes large files when idle."""

    def __init__(self, dst_root: int | None, opts: Options, tally: Tally, workers: int,
                 journal: Journal | None = None,
                 root_listing: list[str] | None = None,
                 root_rules: dict[str, str | None] | None = None):
        self._dst_root = dst_root
        self._journal = journal
        self._recovering = journal.recovering if journal is not None else frozenset()
        # Paths to tell the journal about once equal to the source (empty: nothing to do).
        self._pending = journal.pending if journal is not None else set()
        self._root_listing = root_listing  # the target root, already listed by the engine
        # Source root names left out (the engine's folder): None silently, else an error.
        self._root_rules = root_rules or {}
        self._opts = opts
        self._tally = tally
        self._workers = max(1, workers)
        # More threads than cores contend for the GIL: then list with few handovers.
        self._batched_listing = self._workers > cores()
        self._queue: queue.LifoQueue[Callable[[], None] | None] = queue.LifoQueue()
        # Copiers: one per core, only ever given a large file when one is idle, so they
        # add to the workers and never hold the walk up.
        self._copiers = cores()
        self._idle_copiers = threading.Semaphore(self._copiers)
        self._large: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._budget = DirectoryBudget(self._lock)
        self._finished = threading.Event()
        self._links = HardLinkGroups()

    def run(self, root: DirNode) -> None:
        """Copy everything below `root`; returns when the root itself is finished."""
        threads = [threading.Thread(target=self._work, args=(self._queue,), daemon=True,
                                    name=f"copy-{i}") for i in range(self._workers)]
        copiers = [threading.Thread(target=self._work, args=(self._large,), daemon=True,
                                    name=f"copy-large-{i}") for i in range(self._copiers)]
        for thread in threads + copiers:
            thread.start()
        self._queue.put(lambda: self._scan(root))
        self._finished.wait()
        for _ in threads:
            self._queue.put(None)
        for _ in copiers:
            self._large.put(None)
        for thread in threads + copiers:
            thread.join()
        self._links.close()

    @staticmethod
    def _work(tasks: queue.LifoQueue[Callable[[], None] | None]
              | queue.SimpleQueue[Callable[[], None] | None]) -> None:
        while (task := tasks.get()) is not None:
            task()

    def _push(self, node: DirNode, task: Callable[[], None]) -> None:
        with self._lock:
            node.pending += 1
            node.users += 1  # every task queued for a directory uses its descriptors
        self._queue.put(task)

    def _release(self, node: DirNode | None) -> None:
        while node is not None:
            with self._lock:
                node.pending -= 1
                if node.pending:
                    return
            self._budget.before_finish(node)
            self._finish(node)
            node = node.parent
        self._finished.set()

    def _scan(self, node: DirNode) -> None:
        try:
            # The types come with the listing: no stat.
            dirs, others = read_entries(node.src_fd, self._batched_listing)
            if node.parent is None:
                dirs, others = self._leave_out(dirs), self._leave_out(others)
            if node.parent is None and self._root_listing is not None:
                in_target = set(self._root_listing)
                if self._journal is not None and self._journal.reserved:
                    in_target.discard(STATE_DIR)  # the engine's folder, not an entry
            elif node.dst_fd is not None and not node.created:
                target_dirs, target_others = read_entries(node.dst_fd, self._batched_listing)
                in_target = set(target_dirs)
                in_target.update(target_others)
            else:
                in_target = set()  # we just made it (empty), or a dry run without it
            if in_target:
                self._tally.add_extra(len(in_target.difference(dirs, others)))
            for name in dirs:
                self._push(node, _bind(self._enter, node, name, name in in_target))
            if not self._note_new_entries(node, others, in_target):
                return
            for start in range(0, len(others), ENTRIES_PER_TASK):
                chunk = others[start:start + ENTRIES_PER_TASK]
                self._push(node, _bind(self._sync_entries, node, chunk, in_target))
        except OSError as error:
            self._tally.error(node.rel, f"cannot list the directory: {describe(error)}")
        except Exception as error:  # a bug must cost one directory, not hang the pool
            self._tally.error(node.rel, f"unexpected {type(error).__name__}: {error}")
        finally:
            self._budget.done(node)
            self._release(node)

    def _leave_out(self, names: list[str]) -> list[str]:
        if not self._root_rules:
            return names
        for name, message in self._root_rules.items():
            if name in names and message is not None:
                self._tally.error(name, message)
        return [name for name in names if name not in self._root_rules]

    def _note_new_entries(self, node: DirNode, names: list[str], in_target: set[str]) -> bool:
        """Journal every name this directory's target lacks, before any is created.

        One write per directory, made before its entries are queued (a write per file or
        per batch would make every worker wait on the journal). Noting a name that ends
        up not created is harmless. False: the journal cannot be written, so none of
        these entries may be created under their final names.
        """
        if self._journal is None or not self._journal.enabled or node.dst_fd is None:
            return True
        fresh = [_join(node.rel, name) for name in names if name not in in_target]
        if not fresh:
            return True
        try:
            self._journal.note(*fresh)
        except OSError as error:
            self._tally.error(node.rel, "cannot write the in-flight journal "
                                        f"({describe(error)}); the files in this "
                                        "directory were skipped")
            return False
        return True

    def _enter(self, parent: DirNode, name: str, in_target: bool) -> None:
        rel = _join(parent.rel, name)
        try:
            node = open_pair(parent, name, rel, in_target, self._opts)
        except (OSError, EntryFailure) as error:
            message = describe(error) if isinstance(error, OSError) else str(error)
            self._tally.error(rel, message)
            self._budget.done(parent)
            self._release(parent)
            return
        self._budget.opened(node)
        self._budget.done(parent, releases=False)  # the subtree releases it when done
        if node.created:
            self._tally.directory(None)
        self._scan(node)

    def _sync_entries(self, node: DirNode, names: list[str], in_target: set[str]) -> None:
        src_fd, dst_fd = node.src_fd, node.dst_fd
        set_owner = self._opts.set_owner
        current = 0  # entries found equal: counted once per chunk, not per entry
        pending = self._pending
        results: list[tuple[str, Done]] = []
        try:
            # The names the target lacks were journaled when the directory was listed.
            for name in names:
                try:
                    # One stat per side and entry: on NFS each is a round trip, and an
                    # entry already equal needs nothing else.
                    src = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
                    dst = None
                    if dst_fd is not None and name in in_target:
                        # try rather than contextlib.suppress: this runs for every entry
                        try:  # noqa: SIM105
                            dst = os.stat(name, dir_fd=dst_fd, follow_symlinks=False)
                        except FileNotFoundError:
                            pass  # gone since the listing: copy it
                    claim = None
                    if src.st_nlink > 1 and stat.S_ISREG(src.st_mode):
                        claim = self._links.claim(src)
                        if dst is not None and self._linked_in_place(node, name, src, dst,
                                                                     *claim):
                            current += 1
                            if pending:
                                pending.discard(_join(node.rel, name))
                            continue
                    elif (dst is not None and same_file(src, dst, set_owner)
                          and same_xattrs(src_fd, dst_fd, name, self._opts)):
                        current += 1
                        if pending:
                            pending.discard(_join(node.rel, name))
                        continue
                    # Listed in the target but gone since: not journaled with the rest.
                    unjournaled = dst is None and name in in_target
                    if claim is None and self._hand_over(node, name, src, dst, unjournaled):
                        continue
                    rel = _join(node.rel, name)
                    done = self._sync_one(node, name, rel, src, dst, claim, unjournaled)
                    if done.changed_dir:
                        node.changed = True
                    results.append((rel, done))
                    if pending and done.outcome is not Outcome.CONFLICT:
                        pending.discard(rel)
                except Exception as error:
                    # A failed entry may have made and removed a name: the directory's
                    # mtime may have moved, so it is set again when the directory is done.
                    node.changed = True
                    self._entry_error(_join(node.rel, name), error)
        finally:
            self._tally.record_batch(results, current)
            self._budget.done(node)
            self._release(node)

    def _hand_over(self, node: DirNode, name: str, src: os.stat_result,
                   dst: os.stat_result | None, unjournaled: bool) -> bool:
        """Give a large file whose content is to be copied to an idle copier, if any.

        Hard-link leaders stay with their worker (followers wait for them), as does
        everything in a dry run; with no copier idle the worker copies it itself.
        """
        if (src.st_size < LARGE_FILE or not stat.S_ISREG(src.st_mode) or self._opts.dry_run
                or (dst is not None and stat.S_ISREG(dst.st_mode)
                    and dst.st_size == src.st_size and dst.st_mtime_ns == src.st_mtime_ns)
                or not self._idle_copiers.acquire(blocking=False)):
            return False
        with self._lock:
            node.pending += 1
            node.users += 1
        self._large.put(_bind(self._copy_large, node, name, src, dst, unjournaled))
        return True

    def _copy_large(self, node: DirNode, name: str, src: os.stat_result,
                    dst: os.stat_result | None, unjournaled: bool) -> None:
        rel = _join(node.rel, name)
        try:
            done = self._sync_one(node, name, rel, src, dst, None, unjournaled)
            if done.changed_dir:
                node.changed = True
            self._tally.record_batch([(rel, done)])
            if done.outcome is not Outcome.CONFLICT:
                self._pending.discard(rel)
        except Exception as error:
            node.changed = True
            self._entry_error(rel, error)
        finally:
            self._idle_copiers.release()
            self._budget.done(node)
            self._release(node)

    def _entry_error(self, rel: str, error: Exception) -> None:
        if isinstance(error, EntryFailure):
            self._tally.error(rel, str(error))
        elif isinstance(error, OSError):
            self._tally.error(rel, describe(error))
        else:  # a bug must cost one entry, not the copy
            self._tally.error(rel, f"unexpected {type(error).__name__}: {error}")

    def _linked_in_place(self, node: DirNode, name: str, src: os.stat_result,
                         dst: os.stat_result, group: LinkGroup, leader: bool) -> bool:
        """A name of a hard-linked source file whose target is already right."""
        if leader:
            if not (same_file(src, dst, self._opts.set_owner)
                    and same_xattrs(node.src_fd, node.dst_fd, name, self._opts)):
                return False  # _sync_one settles the group once the leader is done
            # No directory fd held for followers: they rarely need to link on a re-run,
            # and those that do open the leader's directory from the root.
            group.settle(node.parts(), name, (dst.st_dev, dst.st_ino), True)
            return True
        group.settled.wait()
        return (group.usable and stat.S_ISREG(dst.st_mode)
                and (dst.st_dev, dst.st_ino) == group.target_inode)

    def _sync_one(self, node: DirNode, name: str, rel: str, src: os.stat_result,
                  dst: os.stat_result | None, claim: tuple[LinkGroup, bool] | None,
                  unjournaled: bool = False) -> Done:
        if stat.S_ISDIR(src.st_mode):
            raise EntryFailure("became a directory while being copied; run the copy again")
        recovering = rel in self._recovering
        # The names the target lacked were journaled for the whole directory (_scan).
        journal = self._journal if unjournaled else None
        if claim is None:
            return sync_entry(node.src_fd, node.dst_fd, name, src, dst, self._opts,
                              journal, rel, recovering)
        group, leader = claim
        if not leader:
            group.settled.wait()
            if group.usable:
                return sync_follower(group, self._dst_root, node.dst_fd, name, src, dst,
                                     self._opts, recovering)
            # The leader failed or was left alone: copy this name on its own for now.
            return sync_entry(node.src_fd, node.dst_fd, name, src, dst, self._opts,
                              journal, rel, recovering)
        done, inode = None, None
        try:
            made: list[os.stat_result] = []
            done = sync_entry(node.src_fd, node.dst_fd, name, src, dst, self._opts,
                              journal, rel, recovering, made)
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
            # The leader's directory is held open for its followers only when the leader
            # was just made: then they all need a link.
            held = (self._links.hold(node.dst_fd)
                    if usable and done is not None and done.changed_dir else None)
            group.settle(node.parts(), name, inode, usable, held)

    def _finish(self, node: DirNode) -> None:
        # Making the journal in the root moved the root's mtime too.
        journal_made = (node.parent is None and self._journal is not None
                        and self._journal.made_folder)
        finish(node, self._opts, self._tally, mtime_moved=node.changed or journal_made)
        if node.held:
            self._budget.closed(node)


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _bind(function: Callable[..., None], *args: object) -> Callable[[], None]:
    return lambda: function(*args)
