"""`studioctl run`: the long-running controller for one region."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from structlog.typing import FilteringBoundLogger

from controller.cli.common import (
    add_common_options,
    add_execution_options,
    add_status_option,
    build_reconciler,
)
from controller.cli.ports import serve_health
from controller.clock import SystemClock
from controller.events.listener import EventInbox, EventListener
from controller.gateway import AwsGateway
from controller.git_credentials import CredentialsError, SecretCredentials
from controller.health import HealthServer
from controller.logs import configure, get_logger
from controller.loop.controller import Controller, Timing
from controller.loop.lease import Lease
from controller.movers.datasync import DataSyncMover, DataSyncSettings
from controller.movers.regions import RegionalWorkers
from controller.movers.worker_task import WorkerTaskMover, regional_settings
from controller.preflight.schedule import PreflightSchedule
from controller.source import open_source

HELP = """\
Run the controller for one region until SIGTERM or Ctrl-C: follow the desired state
(a folder, or a git repository polled for new commits), converge the region on every
new revision and at least every --resync-seconds, back off per resource on failures,
and keep status in the status table. An invalid revision is refused whole and the last
good one stays in force.

Serves /metrics, /healthz and /readyz on --metrics-address:--metrics-port (loopback
unless given an address). SIGTERM lets the actions in flight finish and starts no new
one, then exits 0; the next run picks up where this one stopped. Exit 1: it could not
start (the metrics port in use, no region, AWS unreachable), said in one line on stderr.

Examples:
  studioctl run --desired desired_state/ --region us-east-1
  studioctl run --desired https://git.example.com/platform/estate.git \\
      --git-branch main --git-subdir desired_state --region us-east-1
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the long-lived controller for a region",
                                   description=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_status_option(parser)
    add_execution_options(parser)
    parser.add_argument("--git-branch", default="main", help="default: %(default)s")
    parser.add_argument("--git-subdir", default="",
                        help="folder inside the repository that holds the desired state")
    parser.add_argument("--git-credentials-secret", default=None, metavar="SECRET",
                        help="AWS Secrets Manager secret (ARN, or name in --region) with the "
                             "credentials of a private repository: JSON {\"username\", "
                             "\"token\"} for https, {\"sshPrivateKey\", \"knownHosts\"} "
                             "for ssh, or a bare token. Read at start and again after a "
                             "failed fetch; never logged")
    parser.add_argument("--workdir", default=".local/source", metavar="DIR",
                        help="where the git checkout lives; default: %(default)s")
    parser.add_argument("--resync-seconds", type=float, default=300.0,
                        help="converge at least this often; default: %(default)s")
    parser.add_argument("--poll-seconds", type=float, default=30.0,
                        help="look for a new revision this often; default: %(default)s")
    parser.add_argument("--metrics-port", type=int, default=9100,
                        help="port for /metrics, /healthz, /readyz (0: any free port); "
                             "default: %(default)s")
    parser.add_argument("--metrics-address", default="127.0.0.1", metavar="ADDRESS",
                        help="address the metrics server binds: loopback unless you say "
                             "otherwise (on Fargate the task definition passes the task's; "
                             "0.0.0.0 for every address); default: %(default)s")
    parser.add_argument("--log-format", choices=("json", "console"), default="json",
                        help="default: %(default)s")
    parser.add_argument("--lease-seconds", type=float, default=30.0,
                        help="replicas of the controller in one region elect a leader with "
                             "a lease this long in the status table; only the leader acts "
                             "(0: no election, for a single replica); default: %(default)s")
    parser.add_argument("--holder-id", default=None, metavar="ID",
                        help="this replica's name in the lease; default: hostname:pid")
    parser.add_argument("--event-queue-url", default=None, metavar="URL",
                        help="the region's SQS queue that an EventBridge rule fills with "
                             "SageMaker and EFS API calls (via CloudTrail): each one makes "
                             "the controller look again at what it names within seconds, "
                             "not at the next resync; default: none (resync only)")
    parser.add_argument("--preflight-minutes", type=float, default=5.0, metavar="MINUTES",
                        help="every this often the leader checks whether a failover into "
                             "the standby region would work (what `studioctl preflight` "
                             "checks) and exports studio_operator_preflight_check (0: "
                             "never); default: %(default)s")
    parser.add_argument("--worker-config", default=os.environ.get("STUDIO_OPERATOR_WORKERS"),
                        metavar="JSON",
                        help="where data-mover worker tasks run in this region (a JSON "
                             "object: cluster, subnets, securityGroups, bucket, taskRoleArn, "
                             "executionRoleArn, image; optional \"regions\": {region: the "
                             "same object} for the other region's workers, which lets "
                             "failback's save cross regions through S3); without it, data is "
                             "moved only "
                             "between file systems mounted under --efs-root. Default: "
                             "$STUDIO_OPERATOR_WORKERS")
    parser.add_argument("--datasync-config", default=os.environ.get("STUDIO_OPERATOR_DATASYNC"),
                        metavar="JSON",
                        help="let AWS DataSync make the bulk copies it may make (a JSON "
                             "object: subnetArn and securityGroupArns from which DataSync "
                             "reaches the file systems; optional fileSystemAccessRoleArn "
                             "(DataSync mounts with it, over TLS) and purposes, only "
                             "[\"working_copy\"]: filling a new working copy); the "
                             "active-active refresh and the save of late writes never go "
                             "to DataSync. Default: $STUDIO_OPERATOR_DATASYNC")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    configure(json=args.log_format == "json")
    log = get_logger()
    # First, before any AWS call: a busy port must fail fast and plainly.
    health = serve_health(args.metrics_address, args.metrics_port)
    if health is None:
        return 1
    try:
        return _run(args, health, log)
    finally:
        health.stop()


def _run(args: argparse.Namespace, health: HealthServer, log: FilteringBoundLogger) -> int:
    usable, credentials = _git_credentials(args)
    if not usable:
        return 1
    source = open_source(args.desired, Path(args.workdir), args.git_branch, args.git_subdir,
                         credentials=credentials)
    clock = SystemClock()
    region = args.region or _first_region(source)
    if region is None:
        print("--region is needed (the desired state could not be read to find "
              "its activeRegion)", file=sys.stderr)
        return 1
    try:
        reconciler = build_reconciler(args, region, clock)
    except (BotoCoreError, ClientError) as error:
        print(f"could not reach {region}: {error}", file=sys.stderr)
        return 1
    if args.worker_config:
        try:
            regional = regional_settings(region, args.worker_config)
        except ValueError as error:
            print(f"--worker-config: {error}", file=sys.stderr)
            return 1
        workers = [WorkerTaskMover(reconciler.gateway, one) for one in regional]
        # With the other region's workers too, a save across regions goes through S3.
        reconciler.worker_mover = (workers[0] if len(workers) == 1
                                   else RegionalWorkers(reconciler.gateway, workers))
    if args.datasync_config:
        try:
            settings = DataSyncSettings.from_json(region, args.datasync_config)
        except ValueError as error:
            print(f"--datasync-config: {error}", file=sys.stderr)
            return 1
        reconciler.datasync_mover = DataSyncMover(reconciler.gateway, settings)
    lease = None
    if args.lease_seconds > 0:
        lease = Lease(reconciler.gateway, region, args.status_table, clock, args.holder_id,
                      args.lease_seconds)
    preflight = PreflightSchedule(reconciler.gateway, region, args.status_table, clock,
                                  args.preflight_minutes * 60)
    inbox = EventInbox() if args.event_queue_url else None
    controller = Controller(source, reconciler, clock,
                            Timing(args.resync_seconds, args.poll_seconds),
                            on_pass=lambda _: health.ready.set(), lease=lease,
                            on_standby=health.ready.set, preflight=preflight.maybe_run,
                            events=inbox)
    listener = None
    if inbox is not None:
        listener = EventListener(reconciler.gateway, region, args.event_queue_url, inbox,
                                 leading=(lambda: lease.held) if lease is not None
                                 else (lambda: True))
        listener.start()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: controller.stop())
    host, port = health.address
    log.info("started", region=region, source=source.description,
             metrics=f"http://{host}:{port}/metrics", events=args.event_queue_url or "none")
    try:
        controller.run()
    finally:
        if listener is not None:
            listener.stop()
    return 0


def _git_credentials(args: argparse.Namespace) -> tuple[bool, SecretCredentials | None]:
    """(usable, the secret's credentials), read once now to fail fast: (False, None),
    after saying why, when they cannot be read or used; (True, None) without a secret."""
    secret = args.git_credentials_secret
    if not secret:
        return True, None
    region = (args.region or os.environ.get("AWS_REGION")
              or os.environ.get("AWS_DEFAULT_REGION"))
    if region is None and not secret.startswith("arn:"):
        print("--git-credentials-secret: give the secret's ARN, or --region", file=sys.stderr)
        return False, None
    gateway = AwsGateway(endpoint_url=args.endpoint_url, max_attempts=args.max_attempts)
    credentials = SecretCredentials(gateway, secret, region or "")
    try:
        credentials.prefetch()
    except (BotoCoreError, ClientError, CredentialsError) as error:
        print(f"could not use the git credentials in secret {secret}: {error}", file=sys.stderr)
        return False, None
    return True, credentials


def _first_region(source) -> str | None:  # type: ignore[no-untyped-def]
    from controller.desired import load_desired_state
    from controller.errors import DesiredStateError
    from controller.source import SourceError

    try:
        fetched = source.fetch()
        return load_desired_state(fetched.path, fetched.revision).estate.active_region
    except (SourceError, DesiredStateError):
        return None
