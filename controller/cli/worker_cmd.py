"""`studioctl worker`: run one data-mover job where the file systems are mounted (an ECS
task of the controller's image) and write its JSON report for the controller to read.

This module reads the job, maps file systems to their mounts and writes the report; the
moving is controller.movers.local's. It must not decide what to move or print tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from controller.escaping import escape
from controller.gateway import AwsGateway
from controller.movers import (
    JobRefused,
    MoverReport,
    Tick,
    carrier,
    job_from_json,
    run_locally,
)
from controller.movers.jobs import ListJob, ReceiveJob, RestoreJob, SendJob, SnapshotJob
from controller.movers.relay import RelayRefused, run_relay
from controller.movers.restores import run_restore_job
from controller.movers.snapshots import run_snapshot_job

EXIT_DONE, EXIT_FAILED = 0, 1
# The emulator's stand-in for a container's mount table ({container path: folder}): a
# local process cannot have /mnt/efs/<fs id> of its own. Unset in a real task.
MOUNT_TABLE_ENV = "STUDIOCTL_CONTAINER_MOUNTS"

HELP = """\
Run one data-mover job: copy a tree between two mounted file systems (the copy engine's
rules), or save what an old copy holds that the active copy does not into a recovery
folder; across regions, one of the save's three steps through S3 (list the active copy,
send the old copy's differences as a snapshot, receive them into the recovery folder);
or a Restore (a snapshot, or a live home, into a folder of a file system mounted here);
or a snapshot of a tree of a file system mounted here, uploaded to S3.
The operator starts this as an ECS task whose task definition mounts each file
system at EFS-ROOT/<file system id>; it reads the job (JSON) from S3 or a file, and writes
the report (JSON: files, bytes, skipped, errors, ...) to S3 or a file.

Exit codes: 0 the job is done; 1 it is not (entries failed, it was refused, or the job or
its file systems could not be read); the report says why whenever it could be written.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run one data-mover job (what the operator's ECS worker task runs)",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--job", required=True, metavar="WHERE",
                        help="the job spec: s3://bucket/key or a file")
    parser.add_argument("--report", required=True, metavar="WHERE",
                        help="where to write the report: s3://bucket/key or a file")
    parser.add_argument("--efs-root", type=Path, default=Path("/mnt/efs"),
                        help="where the task mounts each file system, as "
                             "EFS-ROOT/<file system id>; default: %(default)s")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"),
                        help="the region of the bucket (default: $AWS_REGION, set in a task)")
    parser.add_argument("--endpoint-url", default=None, help="an AWS endpoint (the emulator)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    gateway = AwsGateway(endpoint_url=args.endpoint_url)
    region = args.region or "us-east-1"
    try:
        job = job_from_json(carrier.read(gateway, region, args.job))
    except Exception as error:  # unreadable: nothing to report against
        print(f"worker: cannot read the job {escape(args.job)}: {escape(str(error))}",
              file=sys.stderr)
        return EXIT_FAILED
    mounts = {fs: mount_point(args.efs_root / fs) for fs in job.file_systems}
    try:
        if isinstance(job, ListJob | SendJob | ReceiveJob):
            # A save across regions: one file system here, the rest through S3.
            report = run_relay(job, mounts[job.file_systems[0]], gateway)
        elif isinstance(job, RestoreJob):
            # A Restore into a file system the controller does not mount.
            report = run_restore_job(job, mounts, gateway)
        elif isinstance(job, SnapshotJob):  # a snapshot of a file system not mounted there
            report = run_snapshot_job(job, mounts, gateway)
        else:
            report = run_locally(job, mounts, _progress, engine="worker")
    except (JobRefused, RelayRefused) as error:
        report = MoverReport(kind=job.kind, engine="worker", files=0, bytes=0, skipped=0,
                             errors=(f"refused: {error}",))
    carrier.write(gateway, region, args.report, report.to_json().encode())
    print(f"worker: {job.kind} done: {report.files} entries, {report.bytes} bytes, "
          f"{report.skipped} skipped, {len(report.errors)} errors", file=sys.stderr)
    return EXIT_DONE if report.ok else EXIT_FAILED


def mount_point(path: Path) -> Path:
    table = os.environ.get(MOUNT_TABLE_ENV)
    if not table:
        return path
    return Path(json.loads(table).get(str(path), str(path)))


def _progress(tick: Tick) -> None:
    print(f"worker: {tick.files} entries, {tick.bytes} bytes, {tick.elapsed:.0f}s",
          file=sys.stderr, flush=True)
