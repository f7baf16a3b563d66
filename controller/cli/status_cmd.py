"""`studioctl status`: per-resource status from the status table, like `kubectl get`."""

from __future__ import annotations

import argparse
import json
import sys
import time

from botocore.exceptions import BotoCoreError, ClientError

from controller.cli.common import add_status_option
from controller.gateway import AwsGateway
from controller.loop.failover import PK as FAILOVER_PK
from controller.loop.failover import FailoverRecord
from controller.notebooks.migration import PREFIX as MIGRATION_PREFIX
from controller.notebooks.migration import NotebookMigration
from controller.status.conditions import READY, find
from controller.status.store import DynamoStatusStore

HELP = """\
Show what the controller of a region last recorded for each resource: whether it is
Ready, why not, how long since that last changed, and the desired-state revision it
last had applied; and whether the newest desired-state revision was accepted.

Exit status: 0 the newest revision is in force, 1 the status could not be read, 2 the
newest revision was refused (its problems are printed; the last good one stays in force).
"""

EXIT_OK, EXIT_UNREADABLE, EXIT_REFUSED = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="show per-resource status", description=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--region", required=True, help="the controller's region")
    parser.add_argument("--endpoint-url", default=None, metavar="URL",
                        help="AWS endpoint (the local emulator); default: $AWS_ENDPOINT_URL")
    add_status_option(parser)
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    gateway = AwsGateway(endpoint_url=args.endpoint_url, max_attempts=3)
    store = DynamoStatusStore(gateway, args.region, args.status_table)
    try:
        resources, revision = store.load()
        failover = FailoverRecord.from_item(store.get_item(FAILOVER_PK) or {})
        migrations = [NotebookMigration.from_item(item)
                      for item in store.items_with_prefix(MIGRATION_PREFIX)]
    except (BotoCoreError, ClientError) as error:
        print(f"could not read status in {args.region}: {error}", file=sys.stderr)
        return EXIT_UNREADABLE
    rows = sorted(resources.values(), key=lambda s: (s.kind, s.name))
    if args.output == "json":
        print(json.dumps({
            "region": args.region,
            "revision": {"seen": revision.seen, "valid": revision.valid,
                         "lastGood": revision.last_good, "message": revision.message,
                         "problems": list(revision.problems)},
            "failover": {"activeRegion": failover.active_region, "phase": failover.phase,
                         "revision": failover.revision,
                         "recoverySeconds": failover.recovery_seconds},
            "resources": [{
                "kind": s.kind, "name": s.name, "region": s.region,
                "observedRevision": s.observed_revision,
                "lastAppliedRevision": s.last_applied_revision,
                "conditions": [c.to_item() for c in s.conditions]} for s in rows],
            "notebookMigrations": [{
                "notebook": m.notebook, "phase": m.phase, "oldInstance": m.old_instance,
                "newInstance": m.new_instance, "fromPlatform": m.from_platform,
                "toPlatform": m.to_platform, "snapshot": m.snapshot,
                "finalSnapshot": m.final_snapshot, "revision": m.revision}
                for m in migrations],
        }, indent=2))
        if not revision.valid:
            print(f"desired state: {revision.message}", file=sys.stderr)
            return EXIT_REFUSED
        return EXIT_OK
    now = time.time()
    table = [("KIND", "NAME", "REGION", "READY", "REASON", "AGE", "REVISION")]
    for status in rows:
        ready = find(status.conditions, READY)
        table.append((status.kind, status.name, status.region,
                      ready.status if ready else "Unknown", ready.reason if ready else "",
                      _age(now - ready.last_transition_time) if ready else "",
                      status.last_applied_revision or "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
    if failover.active_region:
        recovery = (f", recovered in {failover.recovery_seconds:.1f}s"
                    if failover.phase == "Complete" and failover.started_at else "")
        print(f"\nactive region: {failover.active_region}; this region: {failover.phase}"
              f"{recovery}")
    for migration in migrations:
        # Names are SageMaker names (letters, digits, hyphens): nothing to escape.
        print(f"\nnotebook {migration.notebook}: migration {migration.phase} "
              f"({migration.old_instance} -> {migration.new_instance}"
              f"{', snapshot ' + migration.snapshot if migration.snapshot else ''}"
              f"{', sealed in ' + migration.final_snapshot if migration.final_snapshot else ''})")
    if not revision.valid:
        print(f"\ndesired state: {revision.message}; revision {revision.last_good} stays in "
              "force", file=sys.stderr)
        for problem in revision.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
