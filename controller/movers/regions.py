"""Workers in several regions: run each job where its file systems are, and a save whose
two copies are in different regions through S3 (relay.py), never by a mount across.

A job's file systems are found by asking each configured region's EFS (DescribeFileSystems,
remembered). All in one region: that region's worker task runs the job. A save across a
region boundary is three worker jobs (the active copy's listing, the old copy's
differences sent as a snapshot, their extraction into the recovery folder), each named by
a digest of its spec, so a restarted controller adopts whichever one is running. Every
object under the job's relay prefix is deleted once the outcome is in hand (and the
bucket's lifecycle rule on movers/ is the floor). This module must not move data itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from controller.gateway import AwsGateway
from controller.logs import get_logger
from controller.movers.choose import MoverUnavailable
from controller.movers.jobs import (
    Job,
    ListJob,
    MoverReport,
    ReceiveJob,
    SaveJob,
    SendJob,
)
from controller.movers.local import ProgressSink
from controller.movers.worker_task import WorkerStillRunning, WorkerTaskMover, job_id

RELAY_ENGINE = "s3-relay"


class RegionalWorkers:
    name = "worker"

    def __init__(self, gateway: AwsGateway, workers: Sequence[WorkerTaskMover]):
        if not workers:
            raise ValueError("no worker region configured")
        self.gateway = gateway
        self.workers = {worker.settings.region: worker for worker in workers}
        self._regions: dict[str, str] = {}
        self._lock = threading.Lock()
        self.log = get_logger()

    def region_of(self, file_system: str) -> str:
        with self._lock:
            if file_system in self._regions:
                return self._regions[file_system]
        for region in self.workers:
            efs = self.gateway.client("efs", region)
            try:
                efs.describe_file_systems(FileSystemId=file_system)
            except efs.exceptions.FileSystemNotFound:
                continue
            with self._lock:
                self._regions[file_system] = region
            return region
        raise MoverUnavailable(f"{file_system} is in none of the regions workers run in "
                               f"({', '.join(sorted(self.workers))})", waiting=True)

    def run(self, job: Job, progress: ProgressSink | None = None,
            cancelled: Callable[[], bool] | None = None) -> MoverReport:
        regions = {fs: self.region_of(fs) for fs in job.file_systems}
        if len(set(regions.values())) == 1:
            return self.workers[regions[job.file_systems[0]]].run(job, progress, cancelled)
        if isinstance(job, SaveJob):
            return self._relay(job, old=regions[job.old_fs], active=regions[job.active_fs])
        raise MoverUnavailable(f"a {job.kind} job between {' and '.join(job.file_systems)} "
                               "crosses regions; only a save can cross through S3",
                               waiting=False)

    # -- the save across a region boundary --------------------------------------------------
    def _relay(self, job: SaveJob, old: str, active: str) -> MoverReport:
        home, away = self.workers[active], self.workers[old]
        prefix = f"{home.settings.prefix}relay/{job_id(job)}/"
        relay = f"s3://{home.settings.bucket}/{prefix}"
        self.log.info("cross_region_save", old_copy=job.old_fs, old_region=old,
                      active_copy=job.active_fs, active_region=active, relay=relay)
        try:
            listed = home.run(ListJob(job.active_fs, relay, active))
            if listed.errors:
                return self._failed(job, listed)
            sent = away.run(SendJob(job.old_fs, relay, active))
            if sent.errors:
                return self._failed(job, sent)
            received = home.run(ReceiveJob(job.active_fs, job.folder, relay, active))
        except WorkerStillRunning:
            raise  # the next attempt adopts the running step: its objects stay
        except BaseException:
            self._clean(home, prefix)
            raise
        self._clean(home, prefix)
        return MoverReport(
            kind="save", engine=RELAY_ENGINE, files=len(sent.saved), bytes=sent.bytes,
            skipped=sent.skipped, errors=received.errors, not_kept=received.not_kept,
            saved=sent.saved, folder=received.folder, compared=sent.compared,
            summary=_summary(sent, received.folder),
            duration_seconds=listed.duration_seconds + sent.duration_seconds
            + received.duration_seconds,
            extra={"listing_bytes": listed.bytes, "listed": listed.files,
                   "archive_bytes": int(sent.extra.get("archive_bytes", 0))})

    def _failed(self, job: SaveJob, step: MoverReport) -> MoverReport:
        return MoverReport(kind="save", engine=RELAY_ENGINE, files=0, bytes=0, skipped=0,
                           errors=tuple(f"{step.kind}: {error}" for error in step.errors),
                           folder="", compared=step.compared)

    def _clean(self, home: WorkerTaskMover, prefix: str) -> None:
        s3: Any = self.gateway.client("s3", home.settings.region)
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=home.settings.bucket,
                                                                  Prefix=prefix)
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=home.settings.bucket,
                                      Delete={"Objects": keys, "Quiet": True})
        except Exception as error:  # the lifecycle rule on movers/ is the floor
            self.log.warning("relay_objects_not_deleted", prefix=prefix, error=str(error))


def _summary(sent: MoverReport, folder: str) -> str:
    missing = sum(1 for entry in sent.saved if entry.reason == "missing")
    return (f"saved {len(sent.saved)} entries ({sent.bytes} bytes; {missing} missing from "
            f"the active copy, {len(sent.saved) - missing} different there) of "
            f"{sent.compared} into {folder}")
