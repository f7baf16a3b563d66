"""`studioctl snapshot create|list|show|cat`: take a snapshot now, and read the ones made.

The bucket and prefix come from the SnapshotPolicy (in --region); see HELP.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from controller.cli.common import add_common_options, load_or_report, resolve_region
from controller.cli.job_history import add_history_options
from controller.cli.snapshot_create import create
from controller.gateway import AwsGateway
from controller.snapshots.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    object_key,
    parse_id,
    policy_prefix,
)

HELP = """\
Snapshots are archives of a profile's home or a share directory in S3 (GNU tar, zstd,
optionally AES-256-GCM under a KMS data key), made on schedule by the controller for
each SnapshotPolicy, or now with `create`. Each goes to its policy's bucket in --region
under <prefix>/<policy>/<source>/<time>/, with manifest.json written last: a snapshot
without a manifest is incomplete and never listed. A snapshot id is
<policy>/home/<domain>/<profile>/<share>/<time> or <policy>/share/<share>[/<domain>]/<time>.

  create   archive a home (--profile DOMAIN/NAME: each of its user shares) or a share
           (--share NAME, each domain's directory, or --domain's) now, under --policy
           (default: the only policy with a bucket in the region); its retention counts it.
           Progress (files, bytes, rate, ETA from the previous snapshot) on a terminal.
           Appended to the region's history (`studioctl history`), asked by
           --requested-by (default: your OS user).
  list     complete snapshots (--profile DOMAIN/NAME: only that profile's homes)
  show ID  a snapshot's manifest: source, time, counts, sizes, checksums, encryption
  cat ID   the decrypted, decompressed tar stream on stdout, after the checks a restore
           makes (every part's SHA-256, every frame's tag): `... cat ID | tar -x`

Exit status: 0 done, 1 error (said on stderr).

Examples, against the local emulator (`make run` prints its endpoint and EFS folder):
  studioctl snapshot create --profile research/alice --endpoint-url http://127.0.0.1:5000 \\
      --efs-root .local/aws/efs --output json
  studioctl snapshot list --profile research/alice --endpoint-url http://127.0.0.1:5000
  studioctl snapshot cat nightly/home/research/alice/home/20270115T080000Z-5fc4 \\
      --endpoint-url http://127.0.0.1:5000 | tar -tv
To restore one: `studioctl restore --help`.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("snapshot", help="take a snapshot now; list, show or read "
                                   "snapshots", description=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    # Each verb is a parser of its own, so that its options may come before or after a
    # snapshot id (one parser with an optional positional id refused `show --desired D
    # ID`: argparse had already taken the id as absent).
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, summary in (("create", "archive a home or a share now"),
                          ("list", "list the complete snapshots"),
                          ("show", "print a snapshot's manifest"),
                          ("cat", "the verified, decrypted, decompressed tar on stdout")):
        one = verbs.add_parser(verb, help=summary, description=HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        add_common_options(one)
        one.add_argument("--output", choices=("text", "json"), default="text")
        one.set_defaults(func=run, id=None, profile=None, share=None, domain=None,
                         policy=None)
        if verb in ("show", "cat"):
            one.add_argument("id", help="a snapshot id (`studioctl snapshot list`)")
        if verb in ("create", "list"):
            one.add_argument("--profile", metavar="DOMAIN/NAME",
                             help="create: archive this profile's home; list: only its homes")
        if verb == "create":
            one.add_argument("--share", metavar="NAME", help="archive this share")
            one.add_argument("--domain", metavar="NAME",
                             help="with --share: only this domain's directory of the share")
            one.add_argument("--policy", metavar="NAME",
                             help="the SnapshotPolicy it belongs to (bucket, prefix, "
                                  "encryption, retention)")
            add_history_options(one)


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
        if args.verb == "create":
            return create(args, desired, region, gateway)
        if args.verb == "list":
            return _list(s3, desired, region, args)
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
