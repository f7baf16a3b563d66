"""Save what an old active copy holds that the active copy does not, before failback.

Failback replicates the active region's file system onto the old region's copy, which
replaces that copy's content. Whatever was written there after the failover (or had
not replicated before it) would be gone, so first every entry of the old copy that the
active copy does not hold the same (missing there, or another type, size, mtime or link
target) is copied, with its owner, mode and mtime, into

    <active copy>/.studio-operator-recovery/<folder>/<its own path>

and the list is written last, as saved-files.txt: its presence means "saved". The
recovery folders are root's (0700): people get their files back from an administrator,
nobody can plant a link in them meanwhile. Directories are walked (salvage_walk.py)
through file descriptors without following any link (O_NOFOLLOW), with a bounded number
of descriptors and an explicit stack, however deep or large the tree; links are saved as
links, sparse files keep their holes, xattrs and ACLs are kept (those the active copy
cannot hold are listed in `not_kept`). Names in saved-files.txt are escaped
(controller.escaping). A re-run (after a crash) finishes the folder, replacing its own
half-written files. Nothing is ever removed, in either copy. A file changed with the same
size and mtime is not told apart (the quick check rsync makes), nor an xattr-only
change. Hard links are saved as separate files. This module must not talk to AWS.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from controller.escaping import escape
from controller.fencing import RECOVERY_MANIFEST, RECOVERY_ROOT
from controller.fs.copy import xattrs
from controller.fs.copy.metadata import Options, describe, read_umask
from controller.fs.dirstack import OPEN_DIR
from controller.fs.salvage_walk import RECOVERY_MODE, SavedEntry, SaveWalk

__all__ = ["SalvageRefused", "SalvageReport", "SavedEntry", "open_recovery", "save_unreplicated",
           "write_manifest"]


class SalvageRefused(Exception):
    """The copies cannot be compared at all (a root is missing or is a link)."""


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
            recovery_fd = open_recovery(active_fd, folder)
            try:
                walk = SaveWalk(opts, RECOVERY_ROOT, progress)
                walk.run(old_fd, active_fd, recovery_fd)
                report.saved, report.compared = walk.saved, walk.compared
                report.errors, report.not_kept = walk.errors, walk.not_kept
                if not report.errors:
                    write_manifest(recovery_fd, report)
            finally:
                os.close(recovery_fd)
        finally:
            os.close(active_fd)
    finally:
        os.close(old_fd)
    return report


def _open_root(path: Path, what: str) -> int:
    try:
        return os.open(path, OPEN_DIR)
    except OSError as error:
        raise SalvageRefused(f"cannot open the {what} {path}: {_describe(error)}") from error


def open_recovery(active_fd: int, folder: str) -> int:
    fd = os.dup(active_fd)
    for part in (RECOVERY_ROOT, folder):
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, RECOVERY_MODE, dir_fd=fd)
        try:
            child = os.open(part, OPEN_DIR, dir_fd=fd)
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


def write_manifest(recovery_fd: int, report: SalvageReport) -> None:
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
        view = memoryview(("\n".join(lines) + "\n").encode("utf-8"))
        while view:  # a large list may take more than one write
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, RECOVERY_MANIFEST, src_dir_fd=recovery_fd, dst_dir_fd=recovery_fd)


def _describe(error: BaseException) -> str:
    return describe(error) if isinstance(error, OSError) else str(error)
