"""Save what an old active copy holds that the active copy does not, before failback.

Failback replicates the active region's file system onto the old region's copy, which
replaces that copy's content. Whatever was written there after the failover (or had
not replicated before it) would be gone, so first every entry of the old copy that the
active copy does not hold the same (missing there, or another type, size, mtime or link
target) is copied, with its owner, mode and mtime, into

    <active copy>/.studio-operator-recovery/<folder>/<its own path>

and the list is written last, as saved-files.txt: its presence means "saved". The
recovery folders are root's (0700): people get their files back from an administrator,
nobody can plant a link in them meanwhile. Directories are walked through file
descriptors without following any link (O_NOFOLLOW); links are saved as links. A re-run
(after a crash) finishes the folder, replacing its own half-written files. Nothing is
ever removed, in either copy. A file changed with the same size and mtime is not told
apart (the quick check rsync makes). Hard links are saved as separate files.
This module must not talk to AWS.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from controller.escaping import escape
from controller.fencing import RECOVERY_MANIFEST, RECOVERY_ROOT
from controller.fs.copy import xattrs
from controller.fs.copy.entries import sync_entry
from controller.fs.copy.metadata import (
    EntryFailure,
    Options,
    apply_metadata,
    describe,
    read_umask,
)

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
RECOVERY_MODE = 0o700


class SalvageRefused(Exception):
    """The copies cannot be compared at all (a root is missing or is a link)."""


@dataclass
class SavedEntry:
    path: str  # relative to the file system root
    reason: str  # "missing" (the active copy lacks it) or "differs"
    size: int = 0


@dataclass
class SalvageReport:
    folder: str  # relative to the active copy's root
    saved: list[SavedEntry] = field(default_factory=list)
    compared: int = 0
    errors: list[str] = field(default_factory=list)
    # xattrs/ACLs the active copy could not hold ("path: what"): saved without them.
    not_kept: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(entry.size for entry in self.saved)

    def summary(self) -> str:
        missing = sum(1 for e in self.saved if e.reason == "missing")
        text = (f"saved {len(self.saved)} entries ({self.bytes} bytes; {missing} missing from "
                f"the active copy, {len(self.saved) - missing} different there) of "
                f"{self.compared} into {self.folder}")
        if self.errors:
            text += f"; {len(self.errors)} could not be saved"
        return text


def save_unreplicated(old_root: Path, active_root: Path, folder: str,
                      progress: Callable[[int], None] | None = None) -> SalvageReport:
    """Compare `old_root` with `active_root`; save the differences under the recovery
    folder `folder` of `active_root`. Raises SalvageRefused; entry errors are reported
    (and then the list is not written: the save is not finished)."""
    if "/" in folder or folder in ("", ".", ".."):
        raise SalvageRefused(f"{folder!r} is not a folder name")
    report = SalvageReport(f"/{RECOVERY_ROOT}/{folder}")
    old_fd = _open_root(old_root, "old copy")
    try:
        opts = Options(dry_run=False, overwrite_newer=False, set_owner=os.geteuid() == 0,
                       umask=read_umask(), xattrs=xattrs.supported(old_fd))
        active_fd = _open_root(active_root, "active copy")
        try:
            recovery_fd = _open_recovery(active_fd, folder)
            try:
                walk = _Walk(opts, report, recovery_fd, progress)
                walk.directory(old_fd, active_fd, "", skip_recovery=True)
                walk.finish()
                if not report.errors:
                    _write_manifest(recovery_fd, report)
            finally:
                os.close(recovery_fd)
        finally:
            os.close(active_fd)
    finally:
        os.close(old_fd)
    return report


class _Walk:
    def __init__(self, opts: Options, report: SalvageReport, recovery_fd: int,
                 progress: Callable[[int], None] | None) -> None:
        self.opts = opts
        self.report = report
        self.recovery_fd = recovery_fd
        self.progress = progress
        # Directories made in the recovery folder, given the old copy's metadata once
        # they are filled (mtimes last, deepest first).
        self.made: set[str] = set()
        self.old_dirs: dict[str, os.stat_result] = {}
        self.old_xattrs: dict[str, dict[str, bytes]] = {}

    def directory(self, old_fd: int, active_fd: int | None, rel: str,
                  skip_recovery: bool = False) -> None:
        target: list[int] = []  # recovery/<rel>, opened (and made) at the first save here
        try:
            for entry in _entries(old_fd):
                name = entry.name
                if skip_recovery and name == RECOVERY_ROOT:
                    continue  # the old copy's own recovery folders: not users' newer writes
                path = f"{rel}/{name}" if rel else name
                self.report.compared += 1
                if self.progress is not None and self.report.compared % 1000 == 0:
                    self.progress(self.report.compared)
                try:
                    mine = entry.stat(follow_symlinks=False)
                    theirs = _lstat_at(active_fd, name)
                    if stat.S_ISDIR(mine.st_mode):
                        self._directory_entry(old_fd, active_fd, name, path, mine, theirs)
                    elif theirs is None or not _same(old_fd, active_fd, name, mine, theirs):
                        if not target:
                            target.append(self._parent(rel))
                        self._save(old_fd, target[0], name, path, mine,
                                   "missing" if theirs is None else "differs")
                except (OSError, EntryFailure) as error:
                    self.report.errors.append(f"{path}: {_describe(error)}")
        finally:
            for fd in target:
                os.close(fd)

    def _directory_entry(self, old_fd: int, active_fd: int | None, name: str, path: str,
                         mine: os.stat_result, theirs: os.stat_result | None) -> None:
        self.old_dirs[path] = mine
        if self.opts.xattrs:
            self.old_xattrs[path] = xattrs.read(xattrs.entry(old_fd, name))
        child_old = os.open(name, _OPEN_DIR, dir_fd=old_fd)
        child_active: int | None = None
        try:
            if theirs is not None and stat.S_ISDIR(theirs.st_mode):
                child_active = os.open(name, _OPEN_DIR, dir_fd=active_fd)
            else:
                # The whole directory is missing from the active copy: keep it, even empty.
                os.close(self._parent(path))
                self.report.saved.append(SavedEntry(path + "/", "missing"))
            self.directory(child_old, child_active, path)
        finally:
            os.close(child_old)
            if child_active is not None:
                os.close(child_active)

    def _save(self, old_fd: int, parent: int, name: str, path: str, mine: os.stat_result,
              reason: str) -> None:
        existing = _lstat_at(parent, name)
        # Everything in the recovery folder is our own work: a differing entry there is
        # one a killed run left half-made, replaced (recovering=True).
        done = sync_entry(old_fd, parent, name, mine, existing, self.opts, recovering=True)
        self.report.not_kept += [f"{path}: {note}" for note in done.not_kept]
        size = mine.st_size if stat.S_ISREG(mine.st_mode) else 0
        self.report.saved.append(SavedEntry(path, reason, size))

    def _parent(self, rel: str) -> int:
        """An fd of recovery/`rel`, its directories made as needed (0700 until finish())."""
        fd = os.dup(self.recovery_fd)
        walked = ""
        for part in [p for p in rel.split("/") if p]:
            walked = f"{walked}/{part}" if walked else part
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, RECOVERY_MODE, dir_fd=fd)
            self.made.add(walked)  # made now or by a killed run: its metadata is set last
            try:
                child = os.open(part, _OPEN_DIR, dir_fd=fd)
            finally:
                os.close(fd)
            fd = child
        return fd

    def finish(self) -> None:
        """Give the saved directories the old copy's owner, mode and mtime, deepest first."""
        for rel in sorted(self.made, key=lambda r: r.count("/"), reverse=True):
            fd = self._parent(rel)
            try:
                not_kept: list[str] = []
                apply_metadata(fd, self.old_dirs[rel], self.opts,
                               wanted=self.old_xattrs.get(rel), not_kept=not_kept)
                self.report.not_kept += [f"{rel}/: {note}" for note in not_kept]
            except OSError as error:
                self.report.errors.append(f"{rel}/: {_describe(error)}")
            finally:
                os.close(fd)


def _same(old_fd: int, active_fd: int | None, name: str, mine: os.stat_result,
          theirs: os.stat_result) -> bool:
    if stat.S_IFMT(mine.st_mode) != stat.S_IFMT(theirs.st_mode):
        return False
    if stat.S_ISLNK(mine.st_mode):
        return os.readlink(name, dir_fd=old_fd) == os.readlink(name, dir_fd=active_fd)
    if stat.S_ISREG(mine.st_mode):
        return (mine.st_size, mine.st_mtime_ns) == (theirs.st_size, theirs.st_mtime_ns)
    return mine.st_rdev == theirs.st_rdev


def _entries(fd: int) -> Iterator[os.DirEntry[str]]:
    with os.scandir(os.dup(fd)) as listing:  # scandir closes the fd it was given
        yield from sorted(listing, key=lambda e: e.name)


def _lstat_at(fd: int | None, name: str) -> os.stat_result | None:
    if fd is None:
        return None
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _open_root(path: Path, what: str) -> int:
    try:
        return os.open(path, _OPEN_DIR)
    except OSError as error:
        raise SalvageRefused(f"cannot open the {what} {path}: {_describe(error)}") from error


def _open_recovery(active_fd: int, folder: str) -> int:
    fd = os.dup(active_fd)
    for part in (RECOVERY_ROOT, folder):
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, RECOVERY_MODE, dir_fd=fd)
        try:
            child = os.open(part, _OPEN_DIR, dir_fd=fd)
        except OSError as error:
            os.close(fd)
            raise SalvageRefused(f"cannot open the recovery folder {part}: "
                                 f"{_describe(error)} (a link or a file is in the way; "
                                 "it is never followed)") from error
        os.close(fd)
        fd = child
        info = os.fstat(fd)
        if os.geteuid() == 0 and (info.st_uid != 0 or stat.S_IMODE(info.st_mode) & 0o077):
            os.fchown(fd, 0, 0)
            os.fchmod(fd, RECOVERY_MODE)
    return fd


def _write_manifest(recovery_fd: int, report: SalvageReport) -> None:
    lines = [f"# saved by studio-operator before failback: {len(report.saved)} entries, "
             f"{report.bytes} bytes, {report.compared} compared",
             "# reason\tbytes\tpath (relative to the file system root; the saved copy is "
             "at the same path in this folder; C-style escapes: \\n newline, \\t tab, "
             "\\\\ backslash, \\xHH a byte that is not UTF-8)"]
    # Escaped (controller.escaping): a tab or newline in a name cannot forge a field or line.
    lines += [f"{e.reason}\t{e.size}\t{escape(e.path)}" for e in report.saved]
    temporary = f".{RECOVERY_MANIFEST}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                 | os.O_CLOEXEC, 0o600, dir_fd=recovery_fd)
    try:
        os.write(fd, ("\n".join(lines) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, RECOVERY_MANIFEST, src_dir_fd=recovery_fd, dst_dir_fd=recovery_fd)


def _describe(error: BaseException) -> str:
    return describe(error) if isinstance(error, OSError) else str(error)
