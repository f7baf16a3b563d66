"""`studioctl emulator`: run the local AWS emulator in the foreground.

Starts moto in server mode with the project's extensions (controller/emulator) on
127.0.0.1, optionally prepares it with what a desired state refers to (what
infra/cloudformation would create on AWS), prints how to point clients at it, and
serves until SIGINT or SIGTERM, then exits 0. It never talks to real AWS.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from controller.cli.demo_cmd import LOCAL_CREDENTIALS
from controller.cli.emulator_options import add_latency_options, describe, latency_model
from controller.cli.ports import emulator_port_free

HELP = """\
Run the local AWS emulator (moto in server mode plus this project's SageMaker Studio and
EFS extensions) on 127.0.0.1 until Ctrl-C or SIGTERM. EFS file systems are real folders
under <data-dir>/efs/<file-system-id>/. Control endpoints (faults, transition times,
request counts, reset) are under <endpoint>/_emulator/ (see controller/emulator/README.md).

Examples:
  studioctl emulator
  studioctl emulator --port 5000 --data-dir .local/aws --prepare desired_state/
  studioctl emulator --transition-seconds 2 --replication-interval 5
  studioctl emulator --latency-model aws            # AWS's latencies and rate limits
  studioctl emulator --latency-model aws --latency-scale 0.5 --no-rate-limits
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="run the local AWS emulator in the foreground",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port",
        type=int,
        default=5000,
        help="port on 127.0.0.1 (0: any free port); default: %(default)s",
    )
    parser.add_argument(
        "--data-dir",
        default=".local/aws",
        metavar="DIR",
        help="where the EFS folders live; default: %(default)s",
    )
    parser.add_argument(
        "--prepare",
        default=None,
        metavar="DESIRED_PATH",
        help="create the VPCs, subnets, security groups, IAM role and custom EFS "
        "this desired state refers to",
    )
    parser.add_argument(
        "--transition-seconds",
        type=float,
        default=0.0,
        metavar="S",
        help="how long Pending/Updating/Deleting last; default: %(default)s",
    )
    parser.add_argument(
        "--replication-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between EFS replication passes; default: %(default)s",
    )
    add_latency_options(parser, default="off")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from controller.emulator import prepare_estate, start_emulator

    desired = None
    if args.prepare:
        from controller.desired import load_desired_state
        from controller.errors import DesiredStateError

        try:
            desired = load_desired_state(args.prepare)
        except DesiredStateError as error:
            for problem in error.problems:
                print(problem, file=sys.stderr)
            print(
                f"desired state at {args.prepare} is invalid: {len(error.problems)} problem(s)",
                file=sys.stderr,
            )
            return 1
    if not emulator_port_free("127.0.0.1", args.port):
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        speed = latency_model(args)
        emulator = start_emulator(
            Path(args.data_dir).resolve(),
            port=args.port,
            transition_seconds=args.transition_seconds,
            replication_interval_seconds=args.replication_interval,
            latency_model=speed,
        )
    except (OSError, ValueError) as error:
        print(f"cannot start the emulator on port {args.port}: {error}", file=sys.stderr)
        return 1
    try:
        print(f"AWS emulator   {emulator.endpoint_url}")
        print(f"EFS root       {emulator.efs_root}  (one folder per file system id)")
        print(f"Latency model  {describe(args)}")
        # Every client needs credentials, even though the emulator accepts any.
        print(f"Use it with    export AWS_ENDPOINT_URL={emulator.endpoint_url} "
              + " ".join(f"{name}={value}" for name, value in LOCAL_CREDENTIALS.items()))
        if desired is not None:
            print(f"Preparing it with what {args.prepare} refers to:")
            for line in prepare_estate(emulator.endpoint_url, desired, emulator.efs_root):
                print(f"  {line}")
        print("Serving until Ctrl-C or SIGTERM.", flush=True)
        while not stop.wait(0.5):  # wake up now and then so signal handlers always run
            pass
        return 0
    finally:
        emulator.stop()


if __name__ == "__main__":  # lets tests and scripts run the command without studioctl
    parser = argparse.ArgumentParser(prog="emulator")
    register(parser.add_subparsers())
    sys.exit(run(parser.parse_args(["emulator", *sys.argv[1:]])))
