"""`studioctl history`: every restore, failover, failback, snapshot, prune and recreation a
region's controller recorded, oldest first."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from controller.cli.common import add_status_option
from controller.escaping import escape
from controller.gateway import AwsGateway
from controller.status.history import HistoryEntry, HistoryLog
from controller.status.store import DynamoStatusStore

HELP = """\
Show the history a region's controller keeps in its status table: who or which
desired-state revision asked, what (restore, failover, failback, snapshot, prune,
recreation), from where to where, files, bytes, how long, and the result. Entries are
kept for the Estate's historyRetentionDays (default 365).

  studioctl history --region us-east-1 --profile research/alice --since 7d
  studioctl history --region us-east-1 --since 2026-01-01 --output json

Exit status: 0 read (even if empty), 1 the history could not be read or --since is not
understood.
"""

_AGO = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("history", help="show restores, failovers, prunes, ...",
                                   description=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--region", required=True, help="the controller's region")
    parser.add_argument("--endpoint-url", default=None, metavar="URL",
                        help="AWS endpoint (the local emulator); default: $AWS_ENDPOINT_URL")
    add_status_option(parser)
    parser.add_argument("--profile", default=None, metavar="DOMAIN/NAME",
                        help="only entries about this user profile")
    parser.add_argument("--since", default=None, metavar="WHEN",
                        help="only entries from then on: a date or time in ISO 8601 "
                             "(2026-01-31, 2026-01-31T12:00:00Z) or an age (90m, 24h, 7d, 2w)")
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def parse_since(text: str, now: float) -> float:
    """Epoch seconds from an ISO 8601 date or time (UTC unless it says) or an age."""
    ago = _AGO.fullmatch(text.strip())
    if ago:
        return now - int(ago.group(1)) * _UNITS[ago.group(2)]
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def run(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since, time.time()) if args.since else None
    except ValueError:
        print(f"--since {args.since!r}: give an ISO 8601 date or time (2026-01-31, "
              "2026-01-31T12:00:00Z) or an age such as 24h or 7d", file=sys.stderr)
        return 1
    gateway = AwsGateway(endpoint_url=args.endpoint_url, max_attempts=3)
    store = DynamoStatusStore(gateway, args.region, args.status_table)
    try:
        entries = HistoryLog(store).entries(profile=args.profile, since=since)
    except (BotoCoreError, ClientError) as error:
        print(f"could not read the history in {args.region}: {error}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps({"region": args.region,
                          "entries": [_as_json(e) for e in entries]}, indent=2))
        return 0
    sys.stdout.write(render_table(entries))
    return 0


def _as_json(entry: HistoryEntry) -> dict[str, object]:
    document = asdict(entry)
    document["time"] = _when(entry.at)
    return document


def render_table(entries: list[HistoryEntry]) -> str:
    if not entries:
        return "no history recorded (yet) for this selection\n"
    rows: list[tuple[str, ...]] = [("TIME", "WHAT", "RESULT", "PROFILE", "SOURCE", "TARGET",
                                    "FILES", "BYTES", "SECONDS", "WHO")]
    for e in entries:
        rows.append((_when(e.at), e.what, e.result, e.profile or "-", e.source or "-",
                     e.target or "-", _number(e.files), _number(e.bytes),
                     "-" if e.seconds is None else f"{e.seconds:.1f}", e.who))
    # Names reach a line-oriented output: escaped, so none can forge a line.
    rows = [tuple(escape(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                   .rstrip() + "\n" for row in rows)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
