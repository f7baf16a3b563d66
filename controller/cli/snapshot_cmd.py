"""`studioctl snapshot list|show|cat`: the snapshots a desired state's policies made.

The bucket and prefix come from the SnapshotPolicy (in --region). `cat` writes the
decrypted, decompressed tar stream to stdout, after the same per-part checks a restore
makes (an encrypted snapshot can then be read with `| tar -x`). Creating snapshots and
`studioctl restore` from the command line are not built yet: use the policy's schedule
and Restore documents.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from controller.cli.common import add_common_options, load_or_report, resolve_region
from controller.gateway import AwsGateway
from controller.snapshots.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    object_key,
    parse_id,
    policy_prefix,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("snapshot", help="list, show or read snapshots",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    parser.add_argument("verb", choices=("list", "show", "cat"))
    parser.add_argument("id", nargs="?", help="a snapshot id (show, cat)")
    parser.add_argument("--profile", help="list: only this domain/profile's homes")
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    desired = load_or_report(args.desired)
    if desired is None:
        return 1
    region = resolve_region(args.region, desired)
    if region is None:
        return 1
    gateway = AwsGateway(endpoint_url=args.endpoint_url, max_attempts=args.max_attempts)
    s3 = gateway.client("s3", region)
    try:
        if args.verb == "list":
            return _list(s3, desired, region, args)
        if not args.id:
            print(f"snapshot {args.verb} needs an id", file=sys.stderr)
            return 1
        policy_name, _, _ = parse_id(args.id)
        policy = desired.snapshot_policies.get(policy_name)
        if policy is None or region not in policy.buckets:
            print(f"no SnapshotPolicy {policy_name} with a bucket in {region}", file=sys.stderr)
            return 1
        body = s3.get_object(Bucket=policy.buckets[region],
                             Key=object_key(policy.prefix, args.id, MANIFEST_NAME))
        manifest = Manifest.from_json(body["Body"].read())
        if args.verb == "show":
            print(manifest.to_json())
            return 0
        from controller.snapshots.archiver import Decompressor
        from controller.snapshots.restore import RestoreProgress, _stored_chunks

        decompressor = Decompressor(_stored_chunks(s3, gateway.client("kms", region), manifest,
                                                   RestoreProgress(), lambda: False))
        shutil.copyfileobj(decompressor.stream, sys.stdout.buffer, 1 << 20)
        decompressor.close()
        return 0
    except (ManifestError, OSError) as error:
        print(f"snapshot {args.verb}: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        print(f"snapshot {args.verb}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


def _list(s3, desired, region: str, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    rows = []
    for name, policy in sorted(desired.snapshot_policies.items()):
        bucket = policy.buckets.get(region)
        if bucket is None:
            continue
        prefix = policy_prefix(policy.prefix, name)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/" + MANIFEST_NAME):
                    continue
                snapshot = name + "/" + item["Key"][len(prefix):-len(MANIFEST_NAME) - 1]
                if args.profile and f"/home/{args.profile}/" not in f"/{snapshot}/":
                    continue
                rows.append({"id": snapshot, "bucket": bucket, "size": item["Size"]})
    if args.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(row["id"])
    return 0
