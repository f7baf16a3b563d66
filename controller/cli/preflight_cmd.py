"""`studioctl preflight`: would a failover into a region work if the flag flipped now?"""

from __future__ import annotations

import argparse
import sys

from controller.cli.common import add_common_options, add_status_option, load_or_report
from controller.gateway import AwsGateway
from controller.preflight import CHECK_NAMES, passable_roles, run_preflight
from controller.preflight.report import EXIT_UNKNOWN, render_json, render_text

HELP = f"""\
Answer "if activeRegion flipped to --region now, would the failover work?" by reading
that region and the active one (nothing is changed):

  replica_exists      every replicated file system has a replica there, of the active copy
  replica_in_sync     each replica is within its FileSystem's replicationLagThresholdSeconds
  replica_name_tag    the failover would find the replica (its Name tag, or fileSystemId)
  mount_targets       the domains' VPC, subnets (one per zone) and security groups resolve
                      there, and Studio's mount targets exist or can be created
  standby_controller  the controller there is alive: its lease in its status table is fresh
  execution_role      the domains' and profiles' execution roles exist in this account,
                      trust SageMaker, and are roles the controller may pass
                      (--passable-roles, default $STUDIO_OPERATOR_PASSABLE_ROLES)
  snapshot_bucket     each SnapshotPolicy's bucket there can be reached
  quotas              EFS file systems and mount targets have room for what a failover makes
  event_trail         a logging CloudTrail trail records management write calls there (the
                      stack's event rule gets nothing without one)

Each failing check says what to do. --region defaults to the estate's standby region
(the one the flag does not point at). --efs-root is accepted as for `plan`; no check
reads the file systems' content.

Exit status: 0 ready; 1 not ready (a check failed); 2 could not check (AWS could not be
read, the desired state is invalid, or --region is the active region already).
The running controller exports the same checks every --preflight-minutes as
studio_operator_preflight_check{{check, target_region}} (checks: {", ".join(CHECK_NAMES)}).

Example, against the local emulator:
  studioctl preflight --desired desired_state/ --region us-west-2 \\
      --endpoint-url http://127.0.0.1:5000
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preflight", help="would a failover into a region work now? (exit 0 ready, 1 not, "
                          "2 unknown)",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_status_option(parser)
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="text for people, json for programs; default: %(default)s")
    parser.add_argument("--passable-roles", default=None, metavar="ARN[,ARN...]",
                        help="the role ARNs (IAM wildcards allowed) the controller may pass "
                             "to SageMaker, as its stack grants iam:PassRole; default: "
                             "$STUDIO_OPERATOR_PASSABLE_ROLES (set by the stack), else not "
                             "checked")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    desired = load_or_report(args.desired)
    if desired is None:
        return EXIT_UNKNOWN
    target = args.region or desired.estate.standby_region()
    if target not in desired.estate.regions:
        print(f"--region {target} is not one of the estate's regions "
              f"({', '.join(desired.estate.regions)})", file=sys.stderr)
        return EXIT_UNKNOWN
    if target == desired.estate.active_region:
        print(f"{target} is the active region already: a flip of the flag would make "
              f"{desired.estate.standby_region()} active (studioctl preflight --region "
              f"{desired.estate.standby_region()})", file=sys.stderr)
        return EXIT_UNKNOWN
    gateway = AwsGateway(endpoint_url=args.endpoint_url, max_attempts=args.max_attempts)
    passable = passable_roles(args.passable_roles) if args.passable_roles is not None else None
    report = run_preflight(gateway, desired, target, args.status_table, passable=passable)
    sys.stdout.write(render_json(report) if args.output == "json" else render_text(report))
    return report.exit_code
