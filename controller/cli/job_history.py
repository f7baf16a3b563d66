"""The history of one-off CLI work: `studioctl restore` and `studioctl snapshot create`
append to the region's history (controller.status.history) as the controller's jobs do.

Who asked is the person at the terminal: --requested-by, else the OS user running
studioctl, written as "studioctl:<name>" so that `studioctl history` tells one-off work
from a revision's. The entry is written after the work, whatever its result (ok, failed,
refused); a history that cannot be written is said on stderr and never changes the exit
status (the data was already changed or not: the record is what is missing). This module
must not run or decide any of the work itself.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterable

from controller.cli.common import add_status_option
from controller.escaping import escape
from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.status.history import HistoryEntry, HistoryLog
from controller.status.store import DynamoStatusStore

_MAX_NAME = 128  # a name, not a message: long enough for an e-mail address or an ARN


def add_history_options(parser: argparse.ArgumentParser) -> None:
    """--requested-by, --status-table and --no-history for a command that changes data."""
    parser.add_argument(
        "--requested-by", default=None, metavar="NAME",
        help="who asked for this, as the history records it (default: the OS user)")
    parser.add_argument(
        "--no-history", action="store_true",
        help="do not append this run to the region's history (a dry run on a copy)")
    if not any(action.dest == "status_table" for action in parser._actions):
        add_status_option(parser)


def requester(args: argparse.Namespace) -> str:
    """"studioctl:<name>": --requested-by, else the OS user (its uid if it has no name)."""
    name = args.requested_by
    if name is None:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
            import os

            name = f"uid {os.getuid()}"
    name = name.strip()
    if not name or len(name) > _MAX_NAME or not name.isprintable():
        raise ValueError(f"--requested-by must be 1 to {_MAX_NAME} printable characters")
    return f"studioctl:{name}"


def record(args: argparse.Namespace, gateway: AwsGateway, region: str,
           desired: DesiredState | None, entries: Iterable[HistoryEntry]) -> bool:
    """Append `entries` to the region's history (its table made when missing); False, after
    a line on stderr, if they could not be written."""
    entries = list(entries)
    if not entries or getattr(args, "no_history", False):
        return True
    days = desired.estate.history_retention_days if desired is not None else 365
    try:
        store = DynamoStatusStore(gateway, region, args.status_table)
        store.ensure_table()
        HistoryLog(store, days).append(entries)
    except Exception as error:  # the work is done; only its record is missing
        print(f"warning: the history in {region} could not be written ({len(entries)} "
              f"entries): {escape(f'{type(error).__name__}: {error}')}", file=sys.stderr)
        return False
    return True
