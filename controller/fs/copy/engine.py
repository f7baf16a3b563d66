"""copy_tree: copy one directory tree onto another, preserving everything, resumably.

Opens the two roots (never through a symlink at their last component), runs the
parallel walk and turns its totals into a CopyReport. Entry-level problems end up in the
report; only problems with the roots themselves raise CopyRefused. This module must not
delete anything in the target, and must not copy into the source (or a source into
itself).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from controller.fs.copy import medium, xattrs
from controller.fs.copy.directories import DirNode
from controller.fs.copy.entries import Outcome
from controller.fs.copy.hardlinks import OPEN_DIR
from controller.fs.copy.journal import STATE_DIR, Journal, is_state_folder
from controller.fs.copy.metadata import Options, describe, read_umask
from controller.fs.copy.report import CopyReport, Progress
from controller.fs.copy.tally import Tally
from controller.fs.copy.walk import ParallelWalk
from controller.fs.limits import raise_open_file_limit


class CopyRefused(Exception):
    """The copy cannot start at all (a root is missing, a link, or inside the other)."""


def copy_tree(src: Path, dst: Path, workers: int | None = None,
              overwrite_newer: bool = False,
              progress: Callable[[Progress], None] | None = None,
              dry_run: bool = False) -> CopyReport:
    """Make `dst` hold everything `src` holds, with content (holes kept), owners, modes,
    mtimes, extended attributes and POSIX ACLs.

    Entries already equal (type, size, mtime_ns, mode, owner, xattrs) are not read again;
    metadata-only differences are fixed in place; entries newer in the target are left
    alone and listed as conflicts unless `overwrite_newer`. Nothing is ever removed from
    the target: entries only found there are counted as `extra`.

    `workers`: parallel workers; None chooses from what the two trees live on
    (medium.py), and the report says how many and why.
    """
    if workers is not None and workers < 1:
        raise CopyRefused(f"workers must be at least 1, not {workers}")
    _refuse_nesting(src, dst)
    tally = Tally(progress)
    # Each directory in progress holds two fds until everything below it is done.
    raise_open_file_limit()
    src_fd = _open_root(src, "source")
    dst_fd: int | None = None
    journal: Journal | None = None
    try:
        opts = Options(dry_run=dry_run, overwrite_newer=overwrite_newer,
                       set_owner=os.geteuid() == 0, umask=read_umask(),
                       xattrs=xattrs.supported(src_fd))
        src_stat = os.fstat(src_fd)
        created = False
        if not os.path.lexists(dst):
            created = True
            if not dry_run:
                _make_root(dst)
        dst_stat = None
        if not (created and dry_run):
            dst_fd = _open_root(dst, "target")
            dst_stat = os.fstat(dst_fd)  # before listing it: from the open, no round trip
        if created:
            tally.directory(None)
        root_listing = None
        source_state = _state_entry(src_fd)
        if dst_fd is not None:
            root_listing = [] if created else os.listdir(dst_fd)
            if not dry_run:
                journal = Journal(dst_fd, STATE_DIR in root_listing,
                                  source_has_user_entry=source_state == "user")
                opts = replace(opts, create_in_place=journal.enabled)
        root_rules = _root_rules(source_state, journal)
        sides = [medium.probe(fd) for fd in (src_fd, dst_fd) if fd is not None]
        choice = medium.choose_workers(sides, medium.cores())
        if workers is not None:
            choice = replace(choice, workers=workers, reason="set by the caller")
        opts = replace(opts, remote=choice.remote)
        root = DirNode("", "", src_fd, dst_fd, src_stat, dst_stat, None, created)
        ParallelWalk(dst_fd, opts, tally, choice.workers, journal, root_listing,
                     root_rules).run(root)
        # The one error that waits for the journal's folder to go is no reason to keep it.
        clean = all(error.path in root_rules for error in tally.errors)
        if journal is not None and journal.close(clean):
            # Removing journals moved the root's mtime again: put the source's back.
            assert dst_fd is not None
            try:
                os.utime(dst_fd, ns=(src_stat.st_atime_ns, src_stat.st_mtime_ns))
            except OSError as error:
                tally.error("", f"cannot set the directory's metadata: {describe(error)}")
    finally:
        if journal is not None:
            journal.close(clean=False)  # only after a failure above: keep it
        os.close(src_fd)
        if dst_fd is not None:
            os.close(dst_fd)
    tally.tick(force=True)
    counts = tally.counts
    return CopyReport(
        files_copied=counts[Outcome.COPIED],
        bytes_copied=tally.bytes_copied,
        directories_created=tally.directories_created,
        symlinks_created=counts[Outcome.SYMLINK],
        hard_links_made=counts[Outcome.HARD_LINK],
        special_files_created=counts[Outcome.SPECIAL],
        metadata_fixed=counts[Outcome.METADATA_FIXED],
        up_to_date=counts[Outcome.UP_TO_DATE],
        extra=tally.extra,
        conflicts=tuple(sorted(tally.conflicts)),
        errors=tuple(sorted(tally.errors)),
        not_kept=tuple(sorted(tally.metadata_not_kept)),
        owners_not_set=not opts.set_owner,
        overwrite_newer=overwrite_newer,
        dry_run=dry_run,
        duration_seconds=tally.elapsed(),
        workers=choice.workers,
        workers_reason=choice.reason,
    )


def _state_entry(src_fd: int) -> str | None:
    """What the source root holds under the engine's folder name: nothing, "engine" (the
    engine's own folder, of a copy into the source: not data) or "user" (an entry)."""
    try:
        info = os.stat(STATE_DIR, dir_fd=src_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return "engine" if is_state_folder(info) else "user"


def _root_rules(source_state: str | None, journal: Journal | None) -> dict[str, str | None]:
    """Source root names the walk leaves out: None silently, else with that error."""
    if source_state == "engine":
        return {STATE_DIR: None}
    if source_state == "user" and journal is not None and journal.reserved:
        return {STATE_DIR: "not copied yet: in the target this name is the copy engine's "
                           "folder for the journal of an unfinished earlier run; it goes "
                           "when this run ends with no other error, and the next run "
                           "copies this entry"}
    return {}


def _open_root(path: Path, role: str) -> int:
    try:
        return os.open(path, OPEN_DIR)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise CopyRefused(f"the {role} {path} is a symlink; give the real directory "
                              "(links are never followed)") from error
        raise CopyRefused(f"cannot open the {role} {path}: {describe(error)}") from error


def _make_root(path: Path) -> None:
    try:
        os.mkdir(path, 0o700)  # given the source root's mode when the copy is done
    except OSError as error:
        raise CopyRefused(f"cannot create the target {path}: {describe(error)}") from error


def _refuse_nesting(src: Path, dst: Path) -> None:
    # Copying a tree into itself would chase its own new entries forever.
    real_src = Path(os.path.realpath(src))
    real_dst = Path(os.path.realpath(dst))
    if real_dst == real_src or real_src in real_dst.parents:
        raise CopyRefused(f"the target {dst} is the source or inside it")
    if real_dst in real_src.parents:
        raise CopyRefused(f"the source {src} is inside the target {dst}")


