"""`studioctl snapshot create`: one snapshot now, of a profile's home or a share.

The snapshot belongs to a SnapshotPolicy of the desired state (--policy, or the only one
with a bucket in the region): it goes to that policy's bucket and prefix, compressed and
encrypted as the policy says, and the policy's retention counts it like the scheduled
ones. Which file system holds the home or share is read from the region, as `plan`
reads it. Progress on a terminal; the result as text or JSON. Each snapshot taken (or
that failed) is appended to the region's history (controller.cli.job_history). This
module must not decide anything the controller decides (schedules, retention).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from controller.cli.common import resolve_efs_root
from controller.cli.job_history import record, requester
from controller.cli.job_progress import ProgressLine, Reading
from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.observe import observe
from controller.plan.snapshots import home_sources, share_sources
from controller.plan.working_copy import serving_file_system
from controller.snapshots.manifest import (
    MANIFEST_NAME,
    Manifest,
    Source,
    object_key,
    policy_prefix,
    stamp_of,
)
from controller.snapshots.snapshot import SnapshotProgress, SnapshotRequest, take_snapshot
from controller.snapshots.spec import SnapshotPolicySpec
from controller.status.history import HistoryEntry


class CreateError(Exception):
    """Said to the user in one line; exit 1."""


def pick_policy(desired: DesiredState, region: str, name: str | None) -> SnapshotPolicySpec:
    if name is not None:
        policy = desired.snapshot_policies.get(name)
        if policy is None:
            raise CreateError(f"no SnapshotPolicy {name} in the desired state")
        if region not in policy.buckets:
            raise CreateError(f"SnapshotPolicy {name} has no bucket in {region}")
        return policy
    usable = [p for p in desired.snapshot_policies.values() if region in p.buckets]
    if len(usable) != 1:
        names = ", ".join(sorted(p.name for p in usable)) or "none"
        raise CreateError(f"say which SnapshotPolicy the snapshot belongs to with --policy "
                          f"(policies with a bucket in {region}: {names})")
    return usable[0]


def sources_of(desired: DesiredState, args: argparse.Namespace) -> list[dict[str, Any]]:
    if bool(args.profile) == bool(args.share):
        raise CreateError("give exactly one of --profile DOMAIN/NAME or --share NAME")
    if args.profile:
        if args.profile not in desired.profiles:
            raise CreateError(f"no profile {args.profile} in the desired state")
        return home_sources(desired, args.profile)
    if args.share not in desired.shares:
        raise CreateError(f"no share {args.share} in the desired state")
    found = share_sources(desired, args.share, args.domain)
    if not found:
        raise CreateError(f"share {args.share} has no directory"
                          + (f" in domain {args.domain}" if args.domain else ""))
    return found


def previous_size(s3: Any, policy: SnapshotPolicySpec, bucket: str, source: str) -> int:
    """The stored size of the newest complete snapshot of `source`: the ETA's estimate."""
    base = policy_prefix(policy.prefix, policy.name) + source + "/"
    newest = ""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/" + MANIFEST_NAME) and item["Key"] > newest:
                newest = item["Key"]
    if not newest:
        return 0
    try:
        return Manifest.from_json(s3.get_object(Bucket=bucket, Key=newest)["Body"].read()
                                  ).bytes_out
    except Exception:
        return 0  # only an estimate


def _take(s3: Any, kms: Any, request: SnapshotRequest, mount: Path, estimate: int) -> Manifest:
    progress = SnapshotProgress()
    line = ProgressLine(lambda: Reading(progress.files, progress.bytes_out,
                                        progress.bytes_out, estimate))
    try:
        return take_snapshot(s3, kms, request, mount, progress)
    finally:
        line.stop()


def create(args: argparse.Namespace, desired: DesiredState, region: str,
           gateway: AwsGateway) -> int:
    try:
        efs_root = resolve_efs_root(args.efs_root)
        if efs_root is None:
            raise CreateError("no --efs-root: the file systems must be mounted to be read")
        policy = pick_policy(desired, region, args.policy)
        sources = sources_of(desired, args)
        who = requester(args)
    except (CreateError, ValueError) as error:
        print(f"snapshot create: {error}", file=sys.stderr)
        return 1
    bucket = policy.buckets[region]
    refs = observe(gateway, desired, region, efs_root).references
    s3, kms = gateway.client("s3", region), gateway.client("kms", region)
    made = []
    for source in sources:
        fs_id = serving_file_system(desired, region, refs, source["FileSystem"])
        if fs_id is None:
            print(f"snapshot create: file system {source['FileSystem']} is not usable in "
                  f"{region} yet", file=sys.stderr)
            return 1
        request = SnapshotRequest(
            policy.name, source["Source"],
            Source(source["Kind"], source["FileSystem"], fs_id, source["Path"], region,
                   source.get("Profile"), source.get("Share"), source.get("Domain")),
            bucket, policy.prefix, stamp_of(time.time(), os.urandom(2).hex()),
            desired.revision, policy.level, policy.kms_key_id)
        estimate = previous_size(s3, policy, bucket, source["Source"])
        began = time.monotonic()

        def entry(result: str, message: str, manifest: Manifest | None = None,
                  request: SnapshotRequest = request, began: float = began) -> HistoryEntry:
            return HistoryEntry(
                time.time(), "snapshot", who, region, result,
                f"{request.source.file_system_id}:{request.source.path}",
                f"s3://{request.bucket}/{request.id}", request.source.profile or "",
                manifest.counts.get("files", 0) if manifest else None,
                manifest.bytes_in if manifest else None,
                round(time.monotonic() - began, 3), message)
        try:
            manifest = _take(s3, kms, request, efs_root / fs_id, estimate)
        except Exception as error:
            record(args, gateway, region, desired, [entry(
                "failed", f"studioctl snapshot create, policy {policy.name}: "
                          f"{type(error).__name__}: {error}"[:500])])
            raise
        record(args, gateway, region, desired,
               [entry("ok", f"studioctl snapshot create, policy {policy.name}", manifest)])
        made.append({"id": manifest.id, "source": source["Source"], "bucket": bucket,
                     "key": object_key(policy.prefix, manifest.id, MANIFEST_NAME),
                     "files": manifest.counts.get("files", 0), "bytesIn": manifest.bytes_in,
                     "bytesOut": manifest.bytes_out,
                     "encrypted": manifest.encryption is not None,
                     "seconds": round(manifest.completed_at - manifest.created_at, 3)})
    if args.output == "json":
        print(json.dumps(made, indent=2))
    else:
        for row in made:
            print(f"{row['id']}: {row['files']} files, {row['bytesIn']} bytes archived, "
                  f"{row['bytesOut']} stored{' (encrypted)' if row['encrypted'] else ''} "
                  f"in {row['seconds']}s")
    return 0
