"""Identifiers the operator makes up, cut to the limits AWS puts on them. Pure.

A generated identifier (an EFS CreationToken, a Name tag derived from another) reads as
what it is for as long as it fits; when the natural form is too long (a FileSystem named
with the full 63 characters SageMaker names allow), its head is kept and a hash of the
whole natural form is put at the end, so the result is still unique to it and the same
on every pass (a CreationToken must not change, or a retried create makes a second file
system). botocore does not check maximum lengths before sending, so nothing but this
keeps a long name from failing on a real account.
"""

from __future__ import annotations

import hashlib

# CreateFileSystem's CreationToken: 1 to 64 characters (EFS model).
CREATION_TOKEN_LIMIT = 64
# A tag value: at most 256 characters (EFS TagValue).
TAG_VALUE_LIMIT = 256
# Hex digits of sha256 kept: 2^48 forms, ample among one account's file systems.
DIGEST_LENGTH = 12


def fitted(natural: str, limit: int) -> str:
    """`natural` when it fits in `limit` characters; else its head, "-", a digest of it."""
    if len(natural) <= limit:
        return natural
    digest = hashlib.sha256(natural.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]
    head = natural[: limit - DIGEST_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def creation_token(*parts: str) -> str:
    """The CreationToken for a file system the operator makes: studio-operator-<parts>."""
    return fitted("-".join(("studio-operator", *parts)), CREATION_TOKEN_LIMIT)


def derived_tag(base: str, suffix: str) -> str:
    """A tag value made from another (a working copy's Name: <Name>-working-copy)."""
    return fitted(f"{base}-{suffix}", TAG_VALUE_LIMIT)
