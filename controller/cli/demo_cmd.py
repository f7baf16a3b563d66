"""`studioctl demo` (what `make run` runs): the whole operator on one machine, no AWS.

Starts the local AWS emulator on loopback and prepares it with what the example estate
refers to (what infra/cloudformation creates on AWS); puts a copy of the desired state
in a local git repository; and runs the controller for the active region following that
repository, with /metrics on loopback. A commit to the repository changes what it
converges to.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from controller.cli.common import load_or_report
from controller.cli.ports import emulator_port_free, serve_health
from controller.clock import SystemClock
from controller.events import QUEUE_NAME
from controller.events.listener import EventInbox, EventListener
from controller.gateway import AwsGateway
from controller.health import HealthServer
from controller.logs import configure
from controller.loop.controller import Controller, Timing
from controller.loop.factory import make_reconciler
from controller.model import DesiredState
from controller.source import GitSource

# What every AWS client needs to talk to the local emulator, which accepts any: printed in
# the guide for other terminals, set here for the demo's own clients.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}

HELP = """\
Run studio-operator locally: an embedded AWS emulator (moto in server mode plus this
project's extension, see controller/emulator) on 127.0.0.1, local folders as the EFS
mounts (<data-dir>/efs/<fs-id>/), a local git repository holding the desired state, and
the controller following it. Edit and commit in the repository to change the estate.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole operator locally (make run)",
                                   description=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--desired", default="desired_state", metavar="PATH",
                        help="desired state copied into the git repository the first time; "
                             "default: %(default)s")
    parser.add_argument("--port", type=int, default=5000,
                        help="emulator port on 127.0.0.1 (0: any free port); default: %(default)s")
    parser.add_argument("--metrics-port", type=int, default=9100,
                        help="/metrics, /healthz, /readyz on 127.0.0.1; default: %(default)s")
    parser.add_argument("--data-dir", default=".local", metavar="DIR",
                        help="emulator data, EFS folders and the git repository; "
                             "default: %(default)s")
    parser.add_argument("--poll-seconds", type=float, default=5.0,
                        help="how often the repository is checked; default: %(default)s")
    parser.add_argument("--resync-seconds", type=float, default=60.0,
                        help="converge at least this often; default: %(default)s")
    parser.add_argument("--once", action="store_true",
                        help="run one pass, print the status and stop")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    desired = load_or_report(args.desired)
    if desired is None:
        return 1
    # Both ports first, before anything is started or written: a busy one is one line.
    if not emulator_port_free("127.0.0.1", args.port, " (make run PORT=...)"):
        return 1
    health = serve_health("127.0.0.1", args.metrics_port, " (make run METRICS_PORT=...)")
    if health is None:
        return 1
    try:
        return _demo(args, desired, health)
    finally:
        health.stop()


def _demo(args: argparse.Namespace, desired: DesiredState, health: HealthServer) -> int:
    from controller.emulator import prepare_estate, start_emulator

    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    data = Path(args.data_dir).resolve()
    repo = _ensure_repository(data / "estate", Path(args.desired))
    emulator = start_emulator(data / "aws", port=args.port)
    try:
        print(f"AWS emulator   {emulator.endpoint_url}   (EFS folders: {emulator.efs_root})")
        for line in prepare_estate(emulator.endpoint_url, desired, emulator.efs_root):
            print(f"  {line}")
        region = desired.estate.active_region
        clock = SystemClock()
        gateway = AwsGateway(endpoint_url=emulator.endpoint_url, max_attempts=3)
        reconciler = make_reconciler(gateway, region, emulator.efs_root, clock)
        source = GitSource(f"file://{repo}", data / "checkout", "main", "desired_state")
        # Changes made outside git (the console, the aws CLI) arrive as events.
        inbox = EventInbox()
        queue = gateway.client("sqs", region).get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
        listener = EventListener(gateway, region, queue, inbox)
        controller = Controller(source, reconciler, clock,
                                Timing(args.resync_seconds, args.poll_seconds),
                                on_pass=lambda _: health.ready.set(), events=inbox)
        _print_guide(emulator.endpoint_url, emulator.efs_root, repo, health.port, region)
        configure(json=False)
        if args.once:
            result = controller.tick()
            return 0 if result is not None and result.result in ("applied", "converged") else 2
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: controller.stop())
        listener.start()
        try:
            controller.run()
        finally:
            listener.stop()
        return 0
    finally:
        emulator.stop()


def _ensure_repository(repo: Path, desired: Path) -> Path:
    """A git repository with desired_state/ committed, made once and then left to the user."""
    if (repo / ".git").is_dir():
        return repo
    shutil.copytree(desired, repo / "desired_state")
    for args in (["init", "--quiet", "--initial-branch=main"],
                 ["add", "desired_state"],
                 ["-c", "user.name=studio-operator demo", "-c", "user.email=demo@localhost",
                  "commit", "--quiet", "-m", "The example estate"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return repo


def _print_guide(endpoint: str, efs_root: Path, repo: Path, metrics_port: int,
                 region: str) -> None:
    print(f"""
Controller     region {region}, following git {repo} (branch main, folder desired_state)
Metrics        http://127.0.0.1:{metrics_port}/metrics   (/healthz, /readyz)

Try, in another terminal:
  cd {repo} && sed -i 's/uid: 200101/uid: 200111/' desired_state/research.yaml \\
    && git commit -qam "alice: new uid"
  curl -s http://127.0.0.1:{metrics_port}/metrics | grep studio_operator_actions
  .venv/bin/studioctl status --region {region} --endpoint-url {endpoint}
  ls -ln {efs_root}/*/home/research
Other AWS clients (aws, boto3) need the emulator's endpoint and its dummy credentials:
  export AWS_ENDPOINT_URL={endpoint} {_exports()}
Ctrl-C stops it (the emulator keeps its state in memory only).
""")
    sys.stdout.flush()


def _exports() -> str:
    return " ".join(f"{name}={value}" for name, value in LOCAL_CREDENTIALS.items())
