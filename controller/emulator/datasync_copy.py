"""What a DataSync task execution does to the emulator's folders, by the task's Options.

One pass from a source tree to a destination tree (each a location's subdirectory of
its file system's folder), the way DataSync's BASIC mode treats EFS: directories, files,
symbolic links (copied as links, never followed) and hard links (kept as links);
OverwriteMode NEVER leaves every existing destination entry as it is; TransferMode
CHANGED skips a file whose size and mtime already match (ALL copies everything);
Mtime/Atime PRESERVE, Uid/Gid INT_VALUE|BOTH and PosixPermissions PRESERVE keep times,
owners and modes; PreserveDeletedFiles REMOVE deletes what the source lacks; VerifyMode
checks content (every file, or only those transferred). A file's content is written
under its own name (an entry it replaces is removed first), metadata last: an execution
cancelled or interrupted mid-file leaves that file truncated, owned by the writer, mode
0600, mtime the time of the write, as DataSync's CancelTaskExecution reference warns
(README, "DataSync"); under OverwriteMode NEVER a later execution keeps it. Links are made
beside their name and renamed in. This module must not answer API calls or know about
tasks.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any


class Cancelled(Exception):
    """CancelTaskExecution was called while this pass ran."""


class Interrupted(Exception):
    """The transfer stopped mid-way for another reason (the Region's service went down)."""


# Called before each entry with 0 and after each chunk written with its size: raises
# Cancelled or Interrupted to stop the pass there, and may sleep (a bandwidth limit).
Guard = Callable[[int], None]
CHUNK = 1 << 16


@dataclass
class Counts:
    files_listed: int = 0
    bytes_estimated: int = 0
    files_transferred: int = 0
    bytes_written: int = 0
    files_skipped: int = 0
    files_deleted: int = 0
    files_verified: int = 0
    folders_transferred: int = 0
    transferred: list[str] = field(default_factory=list)


def entries(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of everything under root, parents before children."""
    stack = [""]
    while stack:
        relative = stack.pop()
        with os.scandir(root / relative if relative else root) as found:
            for entry in sorted(found, key=lambda e: e.name):
                path = f"{relative}/{entry.name}" if relative else entry.name
                info = entry.stat(follow_symlinks=False)
                yield path, info
                if stat.S_ISDIR(info.st_mode):
                    stack.append(path)


def estimate(source: Path, counts: Counts) -> None:
    inodes: set[tuple[int, int]] = set()
    for _, info in entries(source):
        if not stat.S_ISDIR(info.st_mode):
            counts.files_listed += 1
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in inodes:
                inodes.add((info.st_dev, info.st_ino))  # a hard link's data moves once
                counts.bytes_estimated += info.st_size


def transfer(source: Path, target: Path, options: dict[str, Any], counts: Counts,
             guard: Guard) -> None:
    never = options.get("OverwriteMode", "ALWAYS") == "NEVER"
    changed_only = options.get("TransferMode", "CHANGED") == "CHANGED"
    links: dict[tuple[int, int], str] = {}
    seen: set[str] = set()
    dirs: list[tuple[str, os.stat_result]] = []
    target.mkdir(parents=True, exist_ok=True)
    for path, info in entries(source):
        guard(0)
        seen.add(path)
        there = target / path
        exists = os.path.lexists(there)
        if stat.S_ISDIR(info.st_mode):
            if exists and not there.is_dir() or there.is_symlink():
                counts.files_skipped += 1  # a non-folder in the way: DataSync leaves it
                continue
            if not exists:
                there.mkdir()
                counts.folders_transferred += 1
            if not exists or not never:
                dirs.append((path, info))  # times last: writing inside changes them
            continue
        if exists and (never or there.is_dir() or
                       changed_only and _same(there, info)):
            counts.files_skipped += 1
            continue
        key = (info.st_dev, info.st_ino)
        if info.st_nlink > 1 and key in links:
            _replace(there, partial(os.link, target / links[key]))
        elif stat.S_ISLNK(info.st_mode):
            _replace(there, partial(os.symlink, os.readlink(source / path)))
        elif stat.S_ISREG(info.st_mode):
            _write_file(source / path, there, guard)
            counts.bytes_written += info.st_size
        else:
            counts.files_skipped += 1  # devices and sockets: PreserveDevices is NONE here
            continue
        links.setdefault(key, path)
        _metadata(there, info, options)
        counts.files_transferred += 1
        counts.transferred.append(path)
    if options.get("PreserveDeletedFiles", "PRESERVE") == "REMOVE":
        _remove_extra(target, seen, counts)
    for path, info in reversed(dirs):
        _metadata(target / path, info, options)


def verify(source: Path, target: Path, options: dict[str, Any], counts: Counts) -> list[str]:
    """The paths whose content differs (or that are missing) at the destination."""
    mode = options.get("VerifyMode", "POINT_IN_TIME_CONSISTENT")
    if mode == "NONE":
        return []
    wanted = (counts.transferred if mode == "ONLY_FILES_TRANSFERRED"
              else [p for p, i in entries(source) if stat.S_ISREG(i.st_mode)])
    wrong = []
    for path in wanted:
        if not (source / path).is_file() or (source / path).is_symlink():
            continue
        there = target / path
        if there.is_symlink() or not there.is_file() or not filecmp.cmp(
                source / path, there, shallow=False):
            wrong.append(path)
        counts.files_verified += 1
    return wrong


def _same(there: Path, info: os.stat_result) -> bool:
    mine = there.lstat()
    return (stat.S_IFMT(mine.st_mode) == stat.S_IFMT(info.st_mode)
            and mine.st_size == info.st_size and mine.st_mtime_ns == info.st_mtime_ns)


def _replace(there: Path, make: Callable[[Path], None]) -> None:
    temp = there.with_name(f".datasync-{os.getpid()}-{there.name}")
    if os.path.lexists(temp):
        temp.unlink()
    make(temp)
    os.replace(temp, there)


def _write_file(source: Path, there: Path, guard: Guard) -> None:
    """Write the content under its own name, chunk by chunk: a stop between chunks leaves
    the part written (DataSync sets the metadata only once the content is there)."""
    # O_NOFOLLOW on both sides: a link planted in either tree is never written through;
    # an entry replaced is unlinked first, so no other hard link of it is written to.
    reader = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if os.path.lexists(there):
            os.unlink(there)
        writer = os.open(there, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(writer, "wb") as dst:
            while chunk := os.read(reader, CHUNK):
                dst.write(chunk)
                dst.flush()  # what was written is on the destination when a stop comes
                guard(len(chunk))
    finally:
        os.close(reader)


def _metadata(there: Path, info: os.stat_result, options: dict[str, Any]) -> None:
    link = stat.S_ISLNK(info.st_mode)
    owners = options.get("Uid", "INT_VALUE") in ("INT_VALUE", "BOTH") or options.get(
        "Gid", "INT_VALUE") in ("INT_VALUE", "BOTH")
    if owners and os.geteuid() == 0:  # only root may give a file away, as on EFS
        os.chown(there, info.st_uid, info.st_gid, follow_symlinks=False)
    if options.get("PosixPermissions", "PRESERVE") == "PRESERVE" and not link:
        os.chmod(there, stat.S_IMODE(info.st_mode))
    elif not link:
        os.chmod(there, 0o755 if stat.S_ISDIR(info.st_mode) else 0o644)
    if options.get("Mtime", "PRESERVE") == "PRESERVE":
        os.utime(there, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def _remove_extra(target: Path, seen: set[str], counts: Counts) -> None:
    extra = [(path, info) for path, info in list(entries(target)) if path not in seen]
    for path, info in extra:
        parent = path.rpartition("/")[0]
        if parent and parent not in seen:
            continue  # inside a folder removed whole just before
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(target / path)
        else:
            (target / path).unlink()
        counts.files_deleted += 1
