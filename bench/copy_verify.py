"""Is a copy the same tree as its source? For bench/copy_engine.py.

Compares what ../shared/tools/verify.py --content compares (type, mode, uid, gid, size,
mtime of everything but symlinks, symlink targets, hard-link grouping, file contents),
with one allowance verify.py lacks: `mtime_granularity_ns`, for tar, whose default
format keeps whole seconds only (1_000_000_000: mtimes are compared truncated to the
second). The source is read once (Tree) and compared with each copy. A benchmark helper:
it must not change either tree and is not part of the product.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


@dataclass
class Tree:
    """Every entry of a tree (relative path -> attributes), its hard-link groups and the
    digest of every regular file's content."""

    root: Path
    entries: dict[str, tuple[Any, ...]]
    groups: dict[str, tuple[str, ...]]
    digests: dict[str, bytes]


def scan(root: Path, mtime_granularity_ns: int = 1) -> Tree:
    entries: dict[str, tuple[Any, ...]] = {}
    by_inode: dict[int, list[str]] = {}
    digests: dict[str, bytes] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            info = os.lstat(path)
            kind = stat.S_IFMT(info.st_mode)
            record: tuple[Any, ...] = (kind, stat.S_IMODE(info.st_mode), info.st_uid,
                                       info.st_gid)
            if stat.S_ISLNK(info.st_mode):
                record += (os.readlink(path),)
            else:
                record += (info.st_mtime_ns // mtime_granularity_ns,)
            if stat.S_ISREG(info.st_mode):
                record += (info.st_size,)
                by_inode.setdefault(info.st_ino, []).append(rel)
                digests[rel] = _digest(path)
            entries[rel] = record
    groups = {rel: tuple(sorted(names)) for names in by_inode.values() for rel in names}
    return Tree(root, entries, groups, digests)


def compare(source: Tree, copy: Path, mtime_granularity_ns: int = 1) -> dict[str, Any]:
    """{"equal", "entries", "mismatches", "first_mismatches"} for `copy` against `source`
    (scanned with the same granularity)."""
    if mtime_granularity_ns != 1:
        # The source's records hold full mtimes: scan it again at this granularity.
        source = _regranulate(source, mtime_granularity_ns)
    other = scan(copy, mtime_granularity_ns)
    bad: list[str] = []
    for rel in sorted(set(source.entries) | set(other.entries)):
        if (source.entries.get(rel) != other.entries.get(rel)
                or source.groups.get(rel) != other.groups.get(rel)):
            bad.append(f"MISMATCH {rel} {source.entries.get(rel)} {other.entries.get(rel)}")
        elif source.digests.get(rel) != other.digests.get(rel):
            bad.append(f"CONTENT {rel}")
    return {"equal": not bad, "entries": len(source.entries), "mismatches": len(bad),
            "first_mismatches": bad[:5],
            "mtime_granularity_ns": mtime_granularity_ns}


def _regranulate(tree: Tree, granularity: int) -> Tree:
    entries = {}
    for rel, record in tree.entries.items():
        if stat.S_ISLNK(record[0]):
            entries[rel] = record
        else:
            entries[rel] = record[:4] + (record[4] // granularity,) + record[5:]
    return Tree(tree.root, entries, tree.groups, tree.digests)


def _digest(path: str) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()
