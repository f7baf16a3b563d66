"""Names and documents that fencing and failback share: pure, no I/O.

A region that is no longer active is fenced before anything is replicated onto its copy
of a file system: a Deny statement for NFS writes is added to the file system policy.
Its Sid carries the time of fencing, which also names the recovery folder that the
files written there after the failover are saved into, on the active region's copy:

    <active copy>/.studio-operator-recovery/<stamp>-<region>-<old file system id>/
        ... the saved files, at their own paths ...
        saved-files.txt      written last: the list; its presence means "saved"

EFS itself leaves data in efs-replication-lost+found-<source id>-<time> folders at the
root of a promoted replica; those are surfaced, never removed.

A working copy is a writable file system filled from a region's replica by the copy
engine (strategy copy: it takes over from the replica, which is kept as it is;
active-active: the standby region's users work on it, refreshed on a schedule). It is
known by its tags: which logical file system it copies, when the last complete copy
started, and, once it has taken over from the replica, that it is attached.
"""

from __future__ import annotations

import json
import re
from typing import Any

FENCE_SID_PREFIX = "StudioOperatorFence"
RECOVERY_ROOT = ".studio-operator-recovery"
RECOVERY_MANIFEST = "saved-files.txt"
LOST_AND_FOUND_PREFIX = "efs-replication-lost+found-"

WORKING_COPY_OF_TAG = "studio-operator:working-copy-of"
COPIED_AT_TAG = "studio-operator:copied-at"  # epoch seconds, when the last full copy began
ATTACHED_TAG = "studio-operator:attached"  # "true": it serves instead of the replica

_STAMP = re.compile(r"[0-9]{8}T[0-9]{6}Z")


def fence_statement(stamp: str, file_system_arn: str) -> dict[str, Any]:
    """Deny NFS writes to everyone. Reads stay allowed (the files are saved from here),
    and root access is not denied (the controller reads everyone's files as root)."""
    if not _STAMP.fullmatch(stamp):
        raise ValueError(f"not a fence time stamp: {stamp!r}")
    return {
        "Sid": f"{FENCE_SID_PREFIX}{stamp.replace('T', '').replace('Z', '')}",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": ["elasticfilesystem:ClientWrite"],
        "Resource": file_system_arn,
    }


def fence_stamp(policy: str | None) -> str | None:
    """The time the file system was fenced (20261122T235959Z), or None if it is not."""
    for statement in _statements(policy):
        sid = str(statement.get("Sid", ""))
        digits = sid[len(FENCE_SID_PREFIX):]
        if sid.startswith(FENCE_SID_PREFIX) and len(digits) == 14 and digits.isdigit():
            return f"{digits[:8]}T{digits[8:]}Z"
    return None


def with_fence(policy: str | None, stamp: str, file_system_arn: str) -> str:
    """The policy with the fence added; the owner's own statements are kept as they are."""
    document = _document(policy)
    statements = [s for s in document["Statement"]
                  if not str(s.get("Sid", "")).startswith(FENCE_SID_PREFIX)]
    document["Statement"] = [*statements, fence_statement(stamp, file_system_arn)]
    return json.dumps(document, sort_keys=True)


def without_fence(policy: str | None) -> str | None:
    """The policy with the fence taken out; None when nothing else is left in it."""
    document = _document(policy)
    kept = [s for s in document["Statement"]
            if not str(s.get("Sid", "")).startswith(FENCE_SID_PREFIX)]
    if not kept:
        return None
    document["Statement"] = kept
    return json.dumps(document, sort_keys=True)


def recovery_folder(stamp: str, region: str, file_system_id: str) -> str:
    """The folder, under RECOVERY_ROOT on the active copy, for one fenced copy's files."""
    return f"{stamp}-{region}-{file_system_id}"


def _document(policy: str | None) -> dict[str, Any]:
    document = json.loads(policy) if policy else {}
    if not isinstance(document, dict):
        document = {}
    document.setdefault("Version", "2012-10-17")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    document["Statement"] = [s for s in statements or [] if isinstance(s, dict)]
    return document


def _statements(policy: str | None) -> list[dict[str, Any]]:
    if not policy:
        return []
    try:
        return list(_document(policy)["Statement"])
    except ValueError:
        return []
