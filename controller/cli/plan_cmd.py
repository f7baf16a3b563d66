"""`studioctl plan`: what would change in one region, without changing anything."""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError

from controller.cli.common import (
    add_common_options,
    load_or_report,
    resolve_efs_root,
    resolve_region,
)
from controller.gateway import AwsGateway
from controller.observe import observe
from controller.plan import make_plan, render_json, render_text

EXIT_NO_CHANGES, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2

HELP = """\
Compare the desired state with what one region really holds (AWS and the mounted file
systems) and print the actions that would converge them. Nothing is changed.

  + create    ~ update    ! a problem the operator cannot fix by itself

Exit status: 0 nothing to do, 2 changes pending, 1 error (invalid desired state,
AWS unreachable, or a problem marked !).

Example, against the local emulator:
  studioctl plan --desired desired_state/ --region us-east-1 \\
      --endpoint-url http://127.0.0.1:5000 --efs-root .local/aws/efs
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan", help="show what would change in a region (exit 2 if anything)",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="text for people, json (an object with an `actions` list) for "
                             "programs; default: %(default)s")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    desired = load_or_report(args.desired)
    if desired is None:
        return EXIT_ERROR
    region = resolve_region(args.region, desired)
    if region is None:
        return EXIT_ERROR
    gateway = AwsGateway(endpoint_url=args.endpoint_url, max_attempts=args.max_attempts)
    try:
        observed = observe(gateway, desired, region, resolve_efs_root(args.efs_root))
    except (BotoCoreError, ClientError) as error:
        print(f"could not read {region}: {error}", file=sys.stderr)
        return EXIT_ERROR
    plan = make_plan(desired, observed)
    sys.stdout.write(render_json(plan) if args.output == "json" else render_text(plan))
    if plan.problems:
        return EXIT_ERROR
    return EXIT_CHANGES if plan.actions else EXIT_NO_CHANGES
