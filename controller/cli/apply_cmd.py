"""`studioctl apply`: one pass (plan, execute, report) in one region."""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError

from controller.cli import plan_cmd
from controller.cli.common import (
    add_common_options,
    add_status_option,
    build_reconciler,
    load_or_report,
    resolve_region,
)
from controller.clock import SystemClock
from controller.logs import configure
from controller.loop.reconciler import Reconciler

HELP = """\
Converge one region once: observe it, plan, execute every action, record each
resource's status (see `studioctl status`), and print what was done.

Nothing is deleted; share directories are only created or corrected. Snapshot and
restore jobs the pass starts are waited for before the command returns (their results are
in the log and in `studioctl status`).

Exit status: 0 converged (or everything applied), 2 some actions are waiting (a domain
still Pending) or failed and will be retried by `studioctl run`, 1 error.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("apply", help="converge a region once", description=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_status_option(parser)
    parser.add_argument("--dry-run", action="store_true", help="only show the plan")
    parser.add_argument("--log-format", choices=("json", "console"), default="console",
                        help="log lines on stderr; default: %(default)s")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.dry_run:
        args.output = "text"
        return plan_cmd.run(args)
    configure(json=args.log_format == "json")
    desired = load_or_report(args.desired)
    if desired is None:
        return 1
    region = resolve_region(args.region, desired)
    if region is None:
        return 1
    reconciler: Reconciler | None = None
    try:
        reconciler = build_reconciler(args, region, SystemClock())
        result = reconciler.reconcile(desired)
    except (BotoCoreError, ClientError) as error:
        print(f"could not converge {region}: {error}", file=sys.stderr)
        return 1
    finally:
        # The pass started snapshot and restore jobs on worker threads: a process that
        # exits under them would leave uploads open. Their results are in the log.
        if reconciler is not None and reconciler.snapshots is not None:
            reconciler.snapshots.wait()
            reconciler.snapshots.stop()
    for outcome in result.outcomes:
        print(f"  {outcome.outcome:<11} {outcome.key}  {outcome.action}: {outcome.message}")
    for problem in result.plan.problems:
        print(f"  ! {problem}")
    for warning in result.warnings:
        print(f"  warning: {warning}")
    done = sum(1 for o in result.outcomes if o.outcome == "ok")
    print(f"{region}: {result.result}; {done} of {len(result.plan.actions)} action(s) done "
          f"in {result.seconds:.2f}s (revision {desired.revision})")
    if result.plan.problems:
        return 1
    return 0 if result.result in ("converged", "applied") else 2
