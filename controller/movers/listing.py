"""A tree's listing, and what another tree holds that a listing does not hold the same.

The cross-region save (relay.py) compares two copies that no process mounts together:
the active copy's worker walks it and streams a listing; the old copy's worker walks its
own copy in the same order and merges the two streams. Both walks are depth first with
each directory's names sorted as bytes, so entries come in the order of their path's
components (a tuple of bytes), and one pass over each side finds every difference with
memory bounded by the walk's stack, never by the tree's size.

A record is eight NUL-terminated fields (a name can hold any byte but NUL): type (d f l
o), size (a device's rdev), mtime in ns, mode, uid, gid, the path (components joined by
"/"), the link target. Entries are compared as controller.fs.salvage compares them (type,
a file's size and mtime, a link's target, a device's number), so the same entries are
saved whichever engine runs. The walk never follows a link (every directory is opened
O_NOFOLLOW on the copy engine's DirStack) and skips the recovery folders at the root.
This module must not write to a tree or talk to AWS.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from controller.fs.dirstack import OPEN_DIR, DirStack, Moved

FIELDS = 8
READ_SIZE = 1 << 16
Parts = tuple[bytes, ...]


@dataclass(frozen=True)
class Listed:
    parts: Parts
    kind: str  # "d" directory, "f" regular file, "l" link, "o" other (device, fifo, socket)
    size: int  # a file's size; a device's rdev; 0 otherwise
    mtime_ns: int
    mode: int  # st_mode, with the type bits
    uid: int
    gid: int
    target: bytes = b""  # a link's

    @property
    def path(self) -> bytes:
        return b"/".join(self.parts)

    def encode(self) -> bytes:
        fields = (self.kind.encode(), b"%d" % self.size, b"%d" % self.mtime_ns,
                  b"%o" % self.mode, b"%d" % self.uid, b"%d" % self.gid, self.path,
                  self.target)
        return b"".join(field + b"\0" for field in fields)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISREG(mode):
        return "f"
    return "l" if stat.S_ISLNK(mode) else "o"


def walk(root_fd: int, skip_at_root: str, errors: list[str]) -> Iterator[Listed]:
    """Every entry below `root_fd` in component order. An entry or directory that cannot
    be read is named in `errors` and left out (so is what is below it)."""
    stack = DirStack([root_fd])
    frames: list[list[str]] = [_names(stack, errors, b"")]
    parts: list[bytes] = []
    try:
        while frames:
            names = frames[-1]
            if not names:
                frames.pop()
                if frames:
                    stack.pop()
                    parts.pop()
                continue
            name = names.pop()
            if not parts and name == skip_at_root:
                continue
            here = (*parts, os.fsencode(name))
            try:
                parent = stack.fd(stack.top, 0)
                assert parent is not None
                info = os.stat(name, dir_fd=parent, follow_symlinks=False)
                kind = _kind(info.st_mode)
                target = os.fsencode(os.readlink(name, dir_fd=parent)) if kind == "l" else b""
                child = os.open(name, OPEN_DIR, dir_fd=parent) if kind == "d" else None
            except (OSError, Moved) as error:
                errors.append(f"{os.fsdecode(b'/'.join(here))}: {error}")
                continue
            size = info.st_size if kind == "f" else info.st_rdev if kind == "o" else 0
            yield Listed(here, kind, size, info.st_mtime_ns, info.st_mode, info.st_uid,
                         info.st_gid, target)
            if child is not None:
                stack.push(name, [child])
                parts.append(here[-1])
                frames.append(_names(stack, errors, b"/".join(here)))
    finally:
        stack.close()


def _names(stack: DirStack, errors: list[str], where: bytes) -> list[str]:
    """The deepest directory's names, last first (popped from the end: in byte order)."""
    try:
        fd = stack.fd(stack.top, 0)
        assert fd is not None
        with os.scandir(fd) as entries:
            return sorted((e.name for e in entries), key=os.fsencode, reverse=True)
    except (OSError, Moved) as error:
        errors.append(f"{os.fsdecode(where) or '.'}/: {error}")
        return []


def records(stream: BinaryIO) -> Iterator[Listed]:
    """Read back what `Listed.encode` wrote, one record at a time."""
    buffer = b""
    fields: list[bytes] = []
    while chunk := stream.read(READ_SIZE):
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\0", start)) >= 0:
            fields.append(buffer[start:end])
            start = end + 1
            if len(fields) == FIELDS:
                yield _decode(fields)
                fields = []
        buffer = buffer[start:]
    if buffer or fields:
        raise ValueError("the listing ends inside a record (truncated)")


def _decode(fields: list[bytes]) -> Listed:
    kind = fields[0].decode()
    if kind not in ("d", "f", "l", "o") or not fields[6]:
        raise ValueError(f"not a listing record: {fields[:7]!r}")
    parts = tuple(fields[6].split(b"/"))
    if any(part in (b"", b".", b"..") for part in parts):
        raise ValueError(f"a listing path that is not a plain relative path: {fields[6]!r}")
    return Listed(parts, kind, int(fields[1]), int(fields[2]), int(fields[3], 8),
                  int(fields[4]), int(fields[5]), fields[7])


@dataclass(frozen=True)
class Difference:
    entry: Listed  # the old copy's
    reason: str  # "missing" from the listed copy, or "differs" there


def differences(mine: Iterator[Listed], theirs: Iterator[Listed]) -> Iterator[Difference]:
    """The entries of `mine` that `theirs` does not hold the same (both in component
    order). A directory is a difference only when `theirs` lacks it as a directory; what
    is below it then is missing there too."""
    other = next(theirs, None)
    for entry in mine:
        while other is not None and other.parts < entry.parts:
            other = next(theirs, None)
        same_path = other is not None and other.parts == entry.parts
        if entry.kind == "d":
            if not (same_path and other is not None and other.kind == "d"):
                yield Difference(entry, "missing")
        elif not same_path:
            yield Difference(entry, "missing")
        elif not _same(entry, other):  # type: ignore[arg-type]
            yield Difference(entry, "differs")


def _same(mine: Listed, theirs: Listed) -> bool:
    if mine.kind != theirs.kind:
        return False
    if mine.kind == "l":
        return mine.target == theirs.target
    if mine.kind == "f":
        return (mine.size, mine.mtime_ns) == (theirs.size, theirs.mtime_ns)
    # "o": the same kind of special file with the same device number
    return (stat.S_IFMT(mine.mode), mine.size) == (stat.S_IFMT(theirs.mode), theirs.size)
