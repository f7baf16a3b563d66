"""Read what a notebook migration waits for in S3: snapshots made by its old instance,
and the new instance's restore marker.

Under <prefix>/<policy>/notebook/<name>/ the lifecycle script writes, per snapshot, the
archive, manifest.json, then COMPLETE ({"snapshot", "instance"}); a restore writes
restored/<instance> beside them once the new volume holds the snapshot. One listing per
pass, and one small GET per COMPLETE marker newer than the old instance's recorded stop
(older ones cannot be the migration's). Keys that are not snapshot ids are ignored. A
restore marker counts only if it was written after the new instance was created and its
body names the snapshot and the instance: a user whose instance role can write the
bucket could plant one in advance (controller.notebooks.migration says why the deletion
of the old instance does not rest on the marker even so). Reads only; an unreadable
bucket is reported, never taken for "no snapshot".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.notebooks.migration import NotebookMigration
from controller.notebooks.observed import NotebookSnapshot
from controller.snapshots.manifest import ManifestError, notebook_source, parse_id, time_of_stamp

COMPLETE_NAME = "COMPLETE"
RESTORED_FOLDER = "restored"
# A stamp has whole seconds; a stop within the same second still counts as before it.
_STAMP_SLACK = 1.0


@dataclass(frozen=True)
class SnapshotFacts:
    snapshots: tuple[NotebookSnapshot, ...] = ()
    restored: frozenset[str] = frozenset()
    unreadable: str = ""


def read_snapshot_facts(s3: Any, bucket: str, prefix: str, notebook: str,
                        migration: NotebookMigration | None,
                        new_created: float | None = None) -> SnapshotFacts:
    """`prefix` is the policy's (policy_prefix(): ends with "<policy>/"); `new_created`
    when the migration's new instance was created (None: there is none, so no marker
    can be its)."""
    base = prefix.rsplit("/", 2)[0] + "/" if prefix.count("/") > 1 else ""
    folder = f"{prefix}{notebook_source(notebook)}/"
    since = migration.stopped_at - _STAMP_SLACK if migration and migration.stopped_at else None
    wanted_restore = migration.snapshot if migration else ""
    complete: list[tuple[str, float, str]] = []
    restored: set[str] = set()
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
            for item in page.get("Contents", []):
                key = str(item["Key"])
                snapshot, _, rest = key[len(base):].partition(f"/{COMPLETE_NAME}")
                if rest == "" and key.endswith(f"/{COMPLETE_NAME}"):
                    stamp = _stamp(snapshot)
                    if stamp is not None and since is not None and stamp >= since:
                        complete.append((snapshot, stamp, key))
                    continue
                snapshot, _, instance = key[len(base):].partition(f"/{RESTORED_FOLDER}/")
                if (instance and snapshot == wanted_restore and "/" not in instance
                        and new_created is not None
                        and _epoch(item["LastModified"]) >= int(new_created)
                        and _marker_names(s3, bucket, key, snapshot, instance)):
                    restored.add(instance)
        snapshots = tuple(NotebookSnapshot(snapshot, _maker(s3, bucket, key), stamp)
                          for snapshot, stamp, key in sorted(complete, key=lambda c: c[1]))
    except Exception as error:  # throttled, denied, a bucket gone: nothing is concluded
        return SnapshotFacts(unreadable=f"s3://{bucket}/{folder}: {type(error).__name__}: "
                                        f"{error}")
    return SnapshotFacts(snapshots, frozenset(restored))


def _stamp(snapshot: str) -> float | None:
    try:
        return time_of_stamp(parse_id(snapshot)[2])
    except (ManifestError, ValueError):
        return None


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _marker_names(s3: Any, bucket: str, key: str, snapshot: str, instance: str) -> bool:
    """The marker's body is the restore's: {"snapshot": <id>, "instance": <name>, ...}."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(4096)
    try:
        written = json.loads(body)
    except ValueError:
        return False
    return (isinstance(written, dict) and written.get("snapshot") == snapshot
            and written.get("instance") == instance)


def _maker(s3: Any, bucket: str, key: str) -> str:
    """The instance named in a COMPLETE marker ("" when it names none)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(4096)
    try:
        instance = json.loads(body).get("instance", "")
    except (ValueError, AttributeError):
        return ""
    return instance if isinstance(instance, str) else ""
