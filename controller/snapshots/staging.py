"""A restore's staging folder: made, removed, and found again after a crash.

A restore extracts into `.studio-restore-<host>.<pid>.<start>.<token>.partial` inside
its target: made by this process, root's, 0700, so no user sees or touches what is
inside while it fills. Its name says which process makes it (a hash of the host name,
the pid and the process's start time in clock ticks since boot), so that
a later restore on this host can tell a folder whose restore died (killed, machine
restarted) from one still being filled, and remove it; the controller also records the
name of each staging folder it fills, for its next pass after a crash on another host.

Removal goes through descriptors only: the contents are removed through the folder's
own descriptor (held since it was made, or opened without following and checked: a
directory, root's, 0700, never a user's), one level at a time on the copy engine's
DirStack (bounded descriptors, no recursion, whatever the depth), and the name is
removed last, only while it still names that folder (a user may rename entries of
their own home). This module must not remove anything but staging folders.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import socket
import stat
from collections.abc import Iterable

from controller.fs.dirstack import DirStack, Moved

STAGING_PREFIX = ".studio-restore-"
STAGING_SUFFIX = ".partial"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def is_staging_name(name: str) -> bool:
    return name.startswith(STAGING_PREFIX) and name.endswith(STAGING_SUFFIX)


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def this_process() -> str:
    """host, pid and start time (clock ticks since boot): a pid is reused, this is not."""
    return f"{_host()}.{os.getpid()}.{_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()  # field 22 of the line: starttime
    except (OSError, IndexError):
        return "0"


def make_staging(target_fd: int) -> tuple[str, int]:
    """(name, fd) of a new staging folder in the target."""
    for _ in range(20):
        name = f"{STAGING_PREFIX}{this_process()}.{secrets.token_hex(4)}{STAGING_SUFFIX}"
        try:
            os.mkdir(name, 0o700, dir_fd=target_fd)
        except FileExistsError:
            continue
        fd = os.open(name, _DIR, dir_fd=target_fd)
        if not _ours(os.fstat(fd)):
            os.close(fd)
            raise PermissionError(f"staging folder {name} is not ours alone")
        _drop_inherited_acls(fd)
        return name, fd
    raise FileExistsError("could not make a staging folder in the target")


def _drop_inherited_acls(fd: int) -> None:
    """A target with a default ACL gives it to a new folder in it, and the folder to all
    it holds: the restored entries must hold the archive's ACLs only."""
    for name in ("system.posix_acl_default", "system.posix_acl_access"):
        try:
            os.removexattr(fd, name)
        except OSError as error:
            if error.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise


def _ours(info: os.stat_result) -> bool:
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()
            and not stat.S_IMODE(info.st_mode) & 0o077)


def remove_staging(target_fd: int, name: str, staging_fd: int) -> None:
    """Empty our staging folder through its descriptor, then remove its name if the name
    still holds it."""
    empty_directory(staging_fd)
    ours = os.fstat(staging_fd)
    try:
        there = os.stat(name, dir_fd=target_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if (there.st_dev, there.st_ino) == (ours.st_dev, ours.st_ino):
        with contextlib.suppress(FileNotFoundError, OSError):
            os.rmdir(name, dir_fd=target_fd)


def empty_directory(root_fd: int) -> None:
    """Remove everything below `root_fd` (a folder only this process can write): depth
    first, with the descriptors DirStack allows."""
    stack = DirStack([root_fd])
    pending = [os.listdir(root_fd)]
    try:
        while pending:
            if not pending[-1]:
                pending.pop()
                if stack.top:
                    name = stack.levels[-1].name
                    stack.pop()
                    parent = stack.fd(stack.top, 0)
                    os.rmdir(name, dir_fd=parent)
                continue
            name = pending[-1].pop()
            parent = stack.fd(stack.top, 0)
            assert parent is not None
            info = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                stack.push(name, [os.open(name, _DIR, dir_fd=parent)])
                pending.append(os.listdir(stack.fd(stack.top, 0)))  # type: ignore[arg-type]
            else:
                os.unlink(name, dir_fd=parent)
    finally:
        stack.close()


def remove_stale_staging(target_fd: int, also: Iterable[str] = ()) -> list[str]:
    """Remove the staging folders in the target whose restore is dead: those whose name
    says a process of this host that no longer runs made them, and the names in `also` (the
    controller's record of a restore it was running when it stopped). Returns the names
    removed. A folder that is not ours alone (a user's, a link) is never touched."""
    removed = []
    recorded = set(also)
    for name in os.listdir(target_fd):
        if not is_staging_name(name):
            continue
        try:
            fd = os.open(name, _DIR, dir_fd=target_fd)
        except OSError:
            continue  # a link or not a directory: not ours
        try:
            if not _ours(os.fstat(fd)):
                continue
            if name not in recorded and not _maker_is_gone(name):
                continue
            try:
                remove_staging(target_fd, name, fd)
            except (Moved, OSError):
                continue  # changed under us: looked at again next time
            removed.append(name)
        finally:
            os.close(fd)
    return removed


def _maker_is_gone(name: str) -> bool:
    fields = name[len(STAGING_PREFIX):-len(STAGING_SUFFIX)].split(".")
    if len(fields) != 4 or fields[0] != _host() or not fields[1].isdigit():
        return False  # another machine's (or an older form): only a record removes it
    return _start_time(int(fields[1])) != fields[2]
