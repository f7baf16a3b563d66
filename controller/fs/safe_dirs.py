"""Create and correct share directories as root, without ever following a link.

Every path component is opened relative to its parent's file descriptor with
O_NOFOLLOW | O_DIRECTORY (openat-style), so a symlink a user planted anywhere on the
way, or swapped in between two of our steps, makes the operation fail instead of
redirecting it outside the share. Missing parents are created root-owned 0755. Only the
share directory itself is ever chowned or chmodded (through its own fd, after checking
it is a directory); nothing inside it is touched, and nothing is ever removed.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from controller.errors import TerminalError

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
PARENT_MODE = 0o755


class UnsafePathError(TerminalError):
    """A component is a link or not a directory: refuse, do not follow."""

    def __init__(self, message: str):
        super().__init__("UnsafePath", message)


@dataclass(frozen=True)
class DirectoryResult:
    path: str
    created: bool
    uid: int
    gid: int
    mode: int
    # Set when the owner could not be applied (not running as root): what was wanted.
    ownership_not_set: str | None = None


def path_components(path: str) -> list[str]:
    """The components of an absolute share path; refuses anything that could escape."""
    if not path.startswith("/"):
        raise UnsafePathError(f"{path!r} is not an absolute path inside the file system")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise UnsafePathError("the file system root itself is not a share directory")
    for part in parts:
        if part in (".", "..") or "\\" in part or "\0" in part:
            raise UnsafePathError(f"{path!r} has a component {part!r} that is not allowed")
    return parts


def ensure_directory(mount: Path, path: str, uid: int, gid: int, mode: int) -> DirectoryResult:
    """Make `mount`/`path` a directory owned uid:gid with `mode`; idempotent."""
    parts = path_components(path)
    fd = os.open(mount, _OPEN_DIR)
    try:
        walked = ""
        for part in parts[:-1]:
            walked = f"{walked}/{part}"
            _make(fd, part, PARENT_MODE)
            child = _open_child(fd, part, walked)
            os.close(fd)
            fd = child
        walked = f"{walked}/{parts[-1]}"
        created = _make(fd, parts[-1], 0o700)
        leaf = _open_child(fd, parts[-1], walked)
        try:
            return _set_owner_and_mode(leaf, walked, created, uid, gid, mode)
        finally:
            os.close(leaf)
    finally:
        os.close(fd)


def open_directory(mount: Path, path: str) -> int:
    """An O_RDONLY descriptor of the existing directory `mount`/`path`, every component
    opened relative to its parent without following links; the caller closes it."""
    parts = path_components(path)
    fd = os.open(mount, _OPEN_DIR)
    walked = ""
    try:
        for part in parts:
            walked = f"{walked}/{part}"
            child = _open_child(fd, part, walked)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _make(parent: int, name: str, mode: int) -> bool:
    try:
        os.mkdir(name, mode, dir_fd=parent)
        return True
    except FileExistsError:
        return False


def _open_child(parent: int, name: str, walked: str) -> int:
    try:
        return os.open(name, _OPEN_DIR, dir_fd=parent)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            kind = _kind(parent, name)
            raise UnsafePathError(
                f"{walked} is a {kind}, not a directory; refusing to follow or replace it"
            ) from error
        raise


def _kind(parent: int, name: str) -> str:
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError:
        return "vanished entry"
    if stat.S_ISLNK(info.st_mode):
        return "symlink"
    return "file" if stat.S_ISREG(info.st_mode) else "special file"


def _set_owner_and_mode(fd: int, walked: str, created: bool, uid: int, gid: int,
                        mode: int) -> DirectoryResult:
    info = os.fstat(fd)
    not_set = None
    if (info.st_uid, info.st_gid) != (uid, gid):
        try:
            os.fchown(fd, uid, gid)
        except PermissionError:
            not_set = f"{walked}: owner {uid}:{gid} not set (not running as root)"
    # chmod after chown: a chown may clear set-id bits.
    if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
        os.fchmod(fd, mode)
    final = os.fstat(fd)
    if not stat.S_ISDIR(final.st_mode):  # pragma: no cover - O_DIRECTORY guarantees it
        raise UnsafePathError(f"{walked} is not a directory")
    if stat.S_IMODE(final.st_mode) != mode:
        raise TerminalError("ModeNotApplied",
                            f"{walked}: mode {stat.S_IMODE(final.st_mode):04o} after chmod "
                            f"{mode:04o}")
    if not_set is None and (final.st_uid, final.st_gid) != (uid, gid):
        raise TerminalError("OwnerNotApplied",
                            f"{walked}: owner {final.st_uid}:{final.st_gid} after chown "
                            f"{uid}:{gid}")
    return DirectoryResult(walked, created, final.st_uid, final.st_gid,
                           stat.S_IMODE(final.st_mode), not_set)
