"""The worker's side of a Restore: run where the target file system is mounted.

A restore into a file system the controller does not mount (on AWS, every file system but
its stack's own) runs in a worker task of the target's region, through the same code as
a restore in the controller (controller.snapshots.restore: extracted into a staging
folder, verified against the manifest, then put in place; owners by the Restore's
policy). The report carries the restore's own report (`extra["restore"]`: files, bytes,
seconds, where it was placed, what was skipped and why), so the controller records and
shows it as it does its own. A refusal (a snapshot that does not verify, a missing
target) is an error of the report with `extra["refused"]` set: the same job would be
refused again; a target that does not exist (yet) also sets `extra["missing"]`, and a
live source folder that does not exist (ENOENT, never a link or a file)
`extra["sourceMissing"]`. This module must not decide what to restore (the controller's
executor does) nor write outside the target.
"""

from __future__ import annotations

import os
from pathlib import Path

from controller.errors import TerminalError
from controller.fs.safe_dirs import UnsafePathError
from controller.gateway import AwsGateway
from controller.movers.carrier import S3Location, parse
from controller.movers.jobs import MoverReport, RestoreJob
from controller.movers.local import Mounts
from controller.snapshots.manifest import Manifest, ManifestError
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import (
    RestoreReport,
    SnapshotRefused,
    open_target,
    restore_live,
    restore_snapshot,
)
from controller.snapshots.snapshot import SourceUnavailable, open_directory

REFUSED = "refused"
MISSING = "missing"
SOURCE_MISSING = "sourceMissing"


def owner_policy(job: RestoreJob) -> OwnerPolicy:
    return OwnerPolicy(job.owners, {int(k): int(v) for k, v in job.uid_map.items()},
                       {int(k): int(v) for k, v in job.gid_map.items()},
                       (int(job.target_owner[0]), int(job.target_owner[1]))
                       if job.target_owner else None)


class _TargetMissing(FileNotFoundError):
    """The target folder is not there (ENOENT on a component; links are never followed)."""


def run_restore_job(job: RestoreJob, mounts: Mounts, gateway: AwsGateway) -> MoverReport:
    """Run `job` with its file systems mounted at `mounts`; never raises for a refusal."""
    try:
        report = _restore(job, mounts, gateway)
    except _TargetMissing as error:
        return MoverReport(kind="restore", engine="worker", files=0, bytes=0, skipped=0,
                           errors=(f"FileNotFoundError: {error}",),
                           extra={REFUSED: True, MISSING: True})
    except (SnapshotRefused, ManifestError, TerminalError, FileNotFoundError,
            UnsafePathError, SourceUnavailable) as error:
        # Opened component by component without following links: only ENOENT is gone.
        gone = isinstance(error, SourceUnavailable) and isinstance(error.__cause__,
                                                                   FileNotFoundError)
        return MoverReport(kind="restore", engine="worker", files=0, bytes=0, skipped=0,
                           errors=(f"{type(error).__name__}: {error}",),
                           extra={REFUSED: True, **({SOURCE_MISSING: True} if gone else {})})
    except Exception as error:  # nothing was put in place (the staging folder went)
        return MoverReport(kind="restore", engine="worker", files=0, bytes=0, skipped=0,
                           errors=(f"{type(error).__name__}: {error}"[:1000],))
    return MoverReport(kind="restore", engine="worker", files=report.files,
                       bytes=report.bytes, skipped=report.skipped_count,
                       duration_seconds=report.seconds, extra={"restore": report.as_dict()})


def _restore(job: RestoreJob, mounts: Mounts, gateway: AwsGateway) -> RestoreReport:
    parts = [p for p in job.target_path.split("/") if p]
    try:
        target = open_target(str(mounts[job.target_fs]), parts)
    except FileNotFoundError as error:
        raise _TargetMissing(f"{job.target_path} does not exist in {job.target_fs}") \
            from error
    set_owner = os.geteuid() == 0
    try:
        if job.live_fs:
            source = open_directory(Path(mounts[job.live_fs]), job.live_path)
            try:
                return restore_live(source, target, owner_policy(job), job.mode, set_owner,
                                    stale=job.stale)
            finally:
                os.close(source)
        place = parse(job.manifest)
        if not isinstance(place, S3Location):
            raise ManifestError(f"the manifest {job.manifest!r} is not an s3:// object")
        s3 = gateway.client("s3", job.snapshot_region)
        kms = gateway.client("kms", job.snapshot_region)
        manifest = Manifest.from_json(
            s3.get_object(Bucket=place.bucket, Key=place.key)["Body"].read())
        return restore_snapshot(s3, kms, manifest, target, owner_policy(job), job.mode,
                                set_owner, stale=job.stale)
    finally:
        os.close(target)


def restore_report(report: MoverReport) -> RestoreReport:
    """The restore's own report, back from a worker's (as_dict's inverse)."""
    data = report.extra.get("restore") or {}
    return RestoreReport(
        files=int(data.get("files", report.files)), directories=int(data.get("directories", 0)),
        symlinks=int(data.get("symlinks", 0)), hard_links=int(data.get("hardLinks", 0)),
        bytes=int(data.get("bytes", report.bytes)), seconds=float(data.get("seconds", 0.0)),
        placed_in=str(data.get("placedIn", "")),
        skipped=[(str(s["path"]), str(s["reason"])) for s in data.get("skipped", [])],
        skipped_count=int(data.get("skippedCount", report.skipped)),
        notes=[str(n) for n in data.get("notes", [])])
