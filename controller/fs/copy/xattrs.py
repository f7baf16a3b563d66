"""Extended attributes and POSIX ACLs of one entry: read on a source, made the same on a
target, and what the target could not hold said in words for the report.

POSIX ACLs are the xattrs system.posix_acl_access and system.posix_acl_default (numeric
ids, copied as they are). user.* needs a file system that has them; trusted.* is only
seen and set by root; security.* labels the target system gives its own entries are
left alone (never removed). A new entry can inherit an ACL from its directory's default
ACL: the target is made to hold exactly the source's managed attributes, extras removed.

An entry is named either by an open descriptor of it (an int), or by a path that is never
followed at its end: `entry(dir_fd, name)` for a name in an open directory (read-only
uses: the name could be swapped meanwhile), `pinned(fd)` for an O_PATH descriptor that
holds the very inode to change. This module must not open, create or remove entries.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import NamedTuple

ACCESS_ACL = "system.posix_acl_access"
DEFAULT_ACL = "system.posix_acl_default"
# Removed from a target entry when the source's lacks them (security.* is the target's).
_MANAGED = ("user.", "trusted.", "system.posix_acl_")
_NOT_SUPPORTED = {errno.ENOTSUP, errno.EOPNOTSUPP}


class Ref(NamedTuple):
    """How an entry is named: `at` is an open descriptor or a /proc path; `follow` says
    whether that path's last component is followed (only /proc magic links are). A named
    tuple: two are made for every file copied, and a tuple is the cheapest to make."""

    at: int | str
    follow: bool = True


def of_fd(fd: int) -> Ref:
    """An entry open for I/O (a regular file or a directory)."""
    return Ref(fd)


def entry(dir_fd: int, name: str) -> Ref:
    """`name` in the open directory `dir_fd`, never followed (for reading: the name could
    be swapped meanwhile, so never for changes)."""
    return Ref(f"/proc/self/fd/{dir_fd}/{name}", follow=False)


def pinned(fd: int) -> Ref:
    """The inode an O_PATH descriptor holds; a symlink stays the symlink itself."""
    return Ref(f"/proc/self/fd/{fd}")


def supported(fd: int) -> bool:
    """Whether the file system holding `fd` answers for extended attributes at all."""
    try:
        os.listxattr(fd)
        return True
    except OSError as error:
        if error.errno in _NOT_SUPPORTED:
            return False
        raise


def read(ref: Ref) -> dict[str, bytes]:
    """Every attribute the caller may see on the entry; {} where there are none."""
    try:
        names = os.listxattr(ref.at, follow_symlinks=ref.follow)
    except OSError as error:
        if error.errno in _NOT_SUPPORTED:
            return {}
        raise
    values = {}
    for name in names:
        try:
            values[name] = os.getxattr(ref.at, name, follow_symlinks=ref.follow)
        except OSError as error:
            if error.errno != errno.ENODATA:  # removed since the listing: not there
                raise
    return values


@dataclass
class Applied:
    not_kept: list[str] = field(default_factory=list)  # for the report, one per attribute
    acl_changed: bool = False  # the mode bits may have moved with it: chmod again


def apply(ref: Ref, wanted: dict[str, bytes], have: dict[str, bytes] | None = None) -> Applied:
    """Make the entry hold `wanted` (and no other managed attribute); `have`: what it
    holds, when the caller already read it."""
    if have is None:
        have = read(ref)
    if not wanted and not have:
        return _NOTHING_APPLIED  # the usual new file: nothing to set or remove
    result = Applied()
    for name, value in wanted.items():
        if have.get(name) == value:
            continue
        try:
            os.setxattr(ref.at, name, value, follow_symlinks=ref.follow)
        except OSError as error:
            result.not_kept.append(f"{_what(name)} not kept: {_reason(error)}")
            continue
        result.acl_changed |= name.startswith("system.posix_acl_")
    for name in have:
        if name in wanted or not name.startswith(_MANAGED):
            continue
        try:
            os.removexattr(ref.at, name, follow_symlinks=ref.follow)
        except OSError as error:
            if error.errno != errno.ENODATA:
                result.not_kept.append(f"{_what(name)} (not in the source) not removed: "
                                       f"{_reason(error)}")
            continue
        result.acl_changed |= name.startswith("system.posix_acl_")
    return result


_NOTHING_APPLIED = Applied()  # shared, so never changed: callers only read it


def same(wanted: dict[str, bytes], have: dict[str, bytes]) -> bool:
    """Whether a target holding `have` already holds exactly the source's `wanted` (of the
    attributes this module manages)."""
    return all(have.get(name) == value for name, value in wanted.items()) and not any(
        name not in wanted and name.startswith(_MANAGED) for name in have)


def _what(name: str) -> str:
    if name == ACCESS_ACL:
        return "ACL"
    if name == DEFAULT_ACL:
        return "default ACL"
    return f"xattr {name}"


def _reason(error: OSError) -> str:
    if error.errno in _NOT_SUPPORTED:
        return "the target file system does not support it"
    if error.errno == errno.EPERM:
        return "not permitted on this kind of entry or without root"
    return error.strerror or str(error)
