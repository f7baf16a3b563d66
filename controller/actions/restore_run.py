"""Running one restore where the controller's file systems are mounted: the target
opened without following links, a stopped run's staging folder removed first, then a
snapshot (the manifest found by id, or the newest of a source before a time) or a live
home extracted by controller.snapshots.restore. Used by the Restore executor
(actions.snapshots), a recreated profile's restore (actions.recreation) and `studioctl
restore`. This module must not record anything (its callers do) nor write outside the
target.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.actions.context import SETTLE_SECONDS, ExecutionContext
from controller.errors import RequeueAfter, TerminalError
from controller.snapshots.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    object_key,
    parse_id,
    policy_prefix,
)
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import (
    RestoreProgress,
    RestoreReport,
    open_target,
    restore_live,
    restore_snapshot,
)
from controller.snapshots.snapshot import open_directory
from controller.snapshots.staging import remove_stale_staging


def run_restore(ctx: ExecutionContext, params: Any, cancelled: Callable[[], bool],
                progress: RestoreProgress | None = None,
                on_staging: Callable[[str], None] | None = None) -> RestoreReport:
    """Run one restore described by `params` (plan.snapshots.restore_params): from a
    snapshot or a live home into the target folder. Used by the controller's workers and
    by `studioctl restore`."""
    assert ctx.efs_root is not None
    _remove_recorded_staging(ctx.efs_root, params)
    owners = OwnerPolicy(params["Owners"], {int(k): v for k, v in params["UidMap"].items()},
                         {int(k): v for k, v in params["GidMap"].items()},
                         tuple(params["TargetOwner"]) if params.get("TargetOwner") else None)
    mount = ctx.efs_root / params["FileSystemId"]
    parts = [p for p in params["Path"].split("/") if p]
    try:
        target = open_target(str(mount), parts)
    except FileNotFoundError as error:
        raise RequeueAfter(SETTLE_SECONDS, f"{params['Path']} does not exist yet") from error
    try:
        set_owner = os.geteuid() == 0
        if params.get("LiveFileSystemId"):
            source = open_directory(ctx.efs_root / params["LiveFileSystemId"], params["LivePath"])
            try:
                return restore_live(source, target, owners, params["Mode"], set_owner,
                                    progress, cancelled, on_staging)
            finally:
                os.close(source)
        s3, kms = ctx.client("s3"), ctx.client("kms")
        manifest = find_manifest(s3, ctx, params)
        return restore_snapshot(s3, kms, manifest, target, owners, params["Mode"], set_owner,
                                progress, cancelled, on_staging)
    finally:
        os.close(target)


def _remove_recorded_staging(efs_root: Path, params: Any) -> None:
    """The staging folder a stopped run of this restore recorded (wherever its target
    was): removed if it is still there and still ours (staging.remove_stale_staging)."""
    stale = params.get("Stale")
    if not stale:
        return
    try:
        folder = open_target(str(efs_root / stale["FileSystemId"]),
                             [p for p in stale["Path"].split("/") if p])
    except (OSError, TerminalError):
        return  # gone, or not a plain directory any more: nothing of ours to remove there
    try:
        remove_stale_staging(folder, [stale["Name"]])
    finally:
        os.close(folder)


def find_manifest(s3: Any, ctx: ExecutionContext, params: Any) -> Manifest:
    bucket, key = locate_manifest(s3, ctx, params)
    return Manifest.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def locate_manifest(s3: Any, ctx: ExecutionContext, params: Any) -> tuple[str, str]:
    """(bucket, key) of the manifest of the snapshot the restore reads."""
    desired = ctx.desired
    if params.get("Snapshot"):
        policy_name, _, _ = parse_id(params["Snapshot"])
        policy = desired.snapshot_policies.get(policy_name) if desired else None
        if policy is None:
            raise ManifestError(f"no SnapshotPolicy {policy_name} says where "
                                f"{params['Snapshot']} is")
        bucket, prefix, snapshot = policy.buckets[ctx.region], policy.prefix, params["Snapshot"]
    else:
        newest = params["Newest"]
        bucket, prefix = newest["Bucket"], newest["Prefix"]
        base = policy_prefix(prefix, newest["Policy"]) + newest["Source"] + "/"
        found = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/" + MANIFEST_NAME):
                    found.append(item["Key"][len(policy_prefix(prefix, "")) - 1:
                                             -len(MANIFEST_NAME) - 1].lstrip("/"))
        candidates = []
        for snapshot_id in found:
            _, _, stamp = parse_id(snapshot_id)
            from controller.snapshots.manifest import time_of_stamp

            when = time_of_stamp(stamp)
            if newest["Before"] is None or when <= float(newest["Before"]):
                candidates.append((when, snapshot_id))
        if not candidates:
            raise RequeueAfter(SETTLE_SECONDS * 6, f"no complete snapshot of {newest['Source']}"
                                                   " yet")
        snapshot = max(candidates)[1]
    return bucket, object_key(prefix, snapshot, MANIFEST_NAME)


def restore_source(params: Any) -> str:
    if params.get("LiveFileSystemId"):
        return f"{params['LiveFileSystemId']}:{params['LivePath']}"
    return str(params.get("Snapshot") or (params.get("Newest") or {}).get("Source", ""))
