"""POSIX ACLs from their tar text form to the kernel's xattr value. Pure.

GNU tar stores an access or default ACL as text (`user::rw-,user:1234:r--,...`, ids
numeric with --numeric-owner). Linux takes an ACL as the `system.posix_acl_access` (or
`_default`) xattr: a little-endian version word, then (tag, perm, id) entries sorted by
tag and id. Named entries are remapped like owners. A name that is not a number is
refused rather than looked up: names mean other ids on another machine.
This module must not touch the file system.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

ACCESS_XATTR = "system.posix_acl_access"
DEFAULT_XATTR = "system.posix_acl_default"
_VERSION = 2
_UNDEFINED = 0xFFFFFFFF
_TAGS = {("user", False): 0x01, ("user", True): 0x02, ("group", False): 0x04,
         ("group", True): 0x08, ("mask", False): 0x10, ("other", False): 0x20}


class AclError(ValueError):
    pass


def acl_xattr(text: str, map_uid: Callable[[int], int], map_gid: Callable[[int], int]) -> bytes:
    entries: list[tuple[int, int, int]] = []
    for raw in text.replace("\n", ",").split(","):
        item = raw.split("#", 1)[0].strip()
        if not item:
            continue
        parts = item.split(":")
        if len(parts) != 3:
            raise AclError(f"ACL entry {item!r} is not tag:qualifier:perms")
        tag, qualifier, perms = parts
        tag = {"u": "user", "g": "group", "m": "mask", "o": "other"}.get(tag, tag)
        named = bool(qualifier)
        code = _TAGS.get((tag, named))
        if code is None:
            raise AclError(f"ACL entry {item!r} has an unknown tag")
        ident = _UNDEFINED
        if named:
            if not qualifier.isdigit():
                raise AclError(f"ACL entry {item!r} names a user or group instead of an id")
            ident = map_uid(int(qualifier)) if tag == "user" else map_gid(int(qualifier))
        if len(perms) != 3 or any(c not in f"{flag}-" for c, flag in zip(perms, "rwx",
                                                                          strict=True)):
            raise AclError(f"ACL entry {item!r} has bad permissions")
        bits = sum(bit for c, bit in zip(perms, (4, 2, 1), strict=True) if c != "-")
        entries.append((code, bits, ident))
    if not entries:
        raise AclError("empty ACL")
    entries.sort(key=lambda e: (e[0], e[2]))
    return struct.pack("<I", _VERSION) + b"".join(struct.pack("<HHI", *e) for e in entries)
