"""Options every command that talks to a region shares, and turning them into objects.

--desired, --region, --efs-root and --endpoint-url mean the same thing everywhere.
Errors meant for people are returned as messages, never raised as tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from controller.clock import Clock
from controller.errors import DesiredStateError
from controller.gateway import AwsGateway
from controller.model import DesiredState

if TYPE_CHECKING:
    from controller.loop.reconciler import Reconciler

DEFAULT_EFS_ROOT = "/mnt/efs"


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--desired", default="desired_state", metavar="PATH",
        help="the desired-state folder (or one YAML file); default: %(default)s")
    parser.add_argument(
        "--region", default=None,
        help="the region this controller acts in; default: the estate's activeRegion")
    parser.add_argument(
        "--efs-root", default=None, metavar="DIR",
        help="where the EFS file systems are mounted, one folder per file system id "
             "(<DIR>/fs-0123...). Default: $STUDIO_OPERATOR_EFS_ROOT, else "
             f"{DEFAULT_EFS_ROOT} if it exists; without one, share directories are not "
             "checked")
    parser.add_argument(
        "--endpoint-url", default=None, metavar="URL",
        help="send every AWS call to this endpoint (the local emulator); default: "
             "$AWS_ENDPOINT_URL, else the real AWS endpoints")
    parser.add_argument(
        "--max-attempts", type=int, default=5, metavar="N",
        help="botocore's attempts per AWS call, retries included (adaptive retry mode: "
             "backoff, and a sending rate cut after throttling); default: %(default)s")


def add_execution_options(parser: argparse.ArgumentParser) -> None:
    """How a pass executes its plan (apply, run)."""
    parser.add_argument(
        "--max-concurrent-actions", type=_positive, default=8, metavar="N",
        help="run up to N independent actions of a pass at once (like controller-runtime's "
             "MaxConcurrentReconciles), in dependency order: file systems, then mount "
             "targets, then domains, then each domain's profiles; one resource is never "
             "handled twice at once; 1 runs them one after the other; default: %(default)s")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def load_or_report(path: str) -> DesiredState | None:
    """The desired state, or None after printing one line per problem on stderr."""
    from controller.desired import load_desired_state

    try:
        return load_desired_state(path)
    except DesiredStateError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"desired state at {path} is invalid: {len(error.problems)} problem(s)",
              file=sys.stderr)
        return None


def resolve_efs_root(option: str | None) -> Path | None:
    chosen = option or os.environ.get("STUDIO_OPERATOR_EFS_ROOT")
    if chosen:
        return Path(chosen)
    default = Path(DEFAULT_EFS_ROOT)
    return default if default.is_dir() else None


def resolve_region(option: str | None, desired: DesiredState) -> str | None:
    """The region to act in; None (after saying why) if it is not one of the estate's."""
    region = option or desired.estate.active_region
    if region not in desired.estate.regions:
        print(f"--region {region} is not one of the estate's regions "
              f"({', '.join(desired.estate.regions)})", file=sys.stderr)
        return None
    return region


def add_status_option(parser: argparse.ArgumentParser) -> None:
    from controller.status.store import DEFAULT_TABLE

    parser.add_argument(
        "--status-table", default=DEFAULT_TABLE, metavar="NAME",
        help="DynamoDB table (in --region) that keeps per-resource status; created when "
             "missing; default: %(default)s")


def build_reconciler(args: argparse.Namespace, region: str, clock: Clock,
                     with_status: bool = True) -> Reconciler:
    """Gateway, status store and reconciler for one region, from the common options."""
    from controller.loop.factory import make_reconciler

    gateway = AwsGateway(endpoint_url=args.endpoint_url, max_attempts=args.max_attempts)
    return make_reconciler(gateway, region, resolve_efs_root(args.efs_root), clock,
                           with_status, args.status_table,
                           max_concurrent_actions=getattr(args, "max_concurrent_actions", 8))
