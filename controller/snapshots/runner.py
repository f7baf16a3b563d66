"""The controller's snapshot and restore jobs: observed, started, followed, recorded.

How the work runs without blocking a pass: a bounded pool of worker threads owned by
the reconciler (WORKERS, default 2: the machine's cores are shared with tar and zstd,
which do the heavy lifting in their own processes). A pass only starts jobs (TakeSnapshots,
RestoreSnapshot) and reads where they are; it never waits for one. Each job's phase is
written to the status table before the job starts and when it ends, so a controller
that was killed finds "Uploading" or "Running" records of jobs no thread of it runs,
and the plan takes them again (one recorded on a worker task is adopted, its upload
kept: `worker_uploads`); the multipart uploads they left are found by listing the
policy's prefix and aborted. stop() cancels the jobs (their uploads are aborted)
and waits for them. This module must not plan (plan/snapshots.py decides).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from controller.clock import Clock
from controller.gateway import AwsGateway
from controller.logs import get_logger
from controller.model import DesiredState
from controller.snapshots import metrics
from controller.snapshots.manifest import (
    ARCHIVE_NAMES,
    MANIFEST_NAME,
    parse_id,
    policy_prefix,
    time_of_stamp,
)
from controller.snapshots.observed import ObservedSnapshots, OpenUpload, PolicyState, RestoreState
from controller.snapshots.schedule import period_seconds
from controller.status.conditions import DEGRADED, FALSE, READY, TRUE, Condition, set_condition
from controller.status.store import DynamoStatusStore, ResourceStatus

WORKERS = 2


class SnapshotRunner:
    def __init__(self, gateway: AwsGateway, region: str, efs_root: Path | None,
                 store: DynamoStatusStore, clock: Clock, workers: int = WORKERS) -> None:
        self.gateway, self.region, self.efs_root = gateway, region, efs_root
        self.store, self.clock = store, clock
        self.log = get_logger(region=region)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers),
                                        thread_name_prefix="snapshot-job")
        self._lock = threading.Lock()
        self._jobs: dict[str, Future[None]] = {}
        self._uploading: dict[str, str] = {}  # job key -> object key being uploaded
        # Object keys whose upload a job of this runner began and no longer writes: an
        # upload still open there is left over (its abort failed): aborted by the plan.
        self._ended: set[str] = set()
        self._cancel = threading.Event()  # stop(): every job, for good
        self._job_cancel: dict[str, threading.Event] = {}  # cancel_running(): these jobs
        self._records: dict[str, dict[str, Any]] = {}
        # Uploads begun before this were left by an earlier process (killed, or a leader
        # that lost its lease): no job of this runner will finish them.
        self.started_at = clock.now()

    # -- records -------------------------------------------------------------------------
    def record(self, pk: str) -> dict[str, Any]:
        with self._lock:
            if pk not in self._records:
                self._records[pk] = self.store.get_item(pk) or {"pk": pk}
            return dict(self._records[pk])

    def save(self, item: dict[str, Any]) -> None:
        with self._lock:
            self._records[item["pk"]] = dict(item)
        self.store.put_item(item)

    def update(self, pk: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Read, change and write `pk`'s record as one step: the jobs of one policy end
        on several threads, and a record() then save() of each would lose the others'
        changes made in between (a job left "Uploading" is taken again). The write is
        inside the lock too, so the table gets the records in the order they were made."""
        with self._lock:
            if pk not in self._records:
                self._records[pk] = self.store.get_item(pk) or {"pk": pk}
            item = change(dict(self._records[pk]))
            self._records[pk] = dict(item)
            self.store.put_item(item)

    # -- jobs ----------------------------------------------------------------------------
    def running(self) -> frozenset[str]:
        with self._lock:
            return frozenset(k for k, f in self._jobs.items() if not f.done())

    def submit(self, key: str, work: Callable[[Callable[[], bool]], None],
               uploading: str | None = None) -> bool:
        """Run `work(cancelled)` on a worker; `cancelled()` turns True when the job must
        stop (the controller stops, or loses its lease)."""
        with self._lock:
            existing = self._jobs.get(key)
            if existing is not None and not existing.done():
                return False
            if uploading:
                self._uploading[key] = uploading
                self._ended.discard(uploading)
            mine = threading.Event()
            self._job_cancel[key] = mine
            self._jobs[key] = self._pool.submit(
                self._run, key, work, lambda: self._cancel.is_set() or mine.is_set())
        return True

    def _run(self, key: str, work: Callable[[Callable[[], bool]], None],
             cancelled: Callable[[], bool]) -> None:
        metrics.RUNNING.inc()
        try:
            work(cancelled)
        except Exception as error:  # the job recorded its own failure; never lost silently
            if cancelled():
                self.log.info("snapshot_job_cancelled", job=key)
            else:
                self.log.error("snapshot_job_failed", job=key,
                               error=f"{type(error).__name__}: {error}")
        finally:
            metrics.RUNNING.dec()
            with self._lock:
                ended = self._uploading.pop(key, None)
                if ended is not None:
                    self._ended.add(ended)

    def cancel_running(self) -> int:
        """Cancel the jobs running now (the lease was lost: another replica acts). They
        abort their uploads and record nothing; returns how many were asked."""
        with self._lock:
            running = [key for key, job in self._jobs.items() if not job.done()]
            for key in running:
                self._job_cancel[key].set()
            self._records.clear()  # the new leader writes them now: read them again
        if running:
            self.log.warning("snapshot_jobs_cancelled", jobs=sorted(running),
                             reason="the lease was lost")
        return len(running)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the jobs started so far (tests, `studioctl apply`)."""
        with self._lock:
            futures = list(self._jobs.values())
        for future in futures:
            future.result(timeout=timeout)

    def stop(self) -> None:
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- observing -----------------------------------------------------------------------
    def observe(self, desired: DesiredState) -> ObservedSnapshots:
        # Which jobs run, before any record is read: a job that ends meanwhile has written
        # its record by then (read below), so it is never seen neither running nor done.
        running = self.running()
        with self._lock:
            uploading = frozenset(self._uploading.values())
            ended = frozenset(self._ended)
        s3 = self.gateway.client("s3", self.region)
        now = self.clock.now()
        policies: dict[str, PolicyState] = {}
        for name, policy in sorted(desired.snapshot_policies.items()):
            bucket = policy.buckets.get(self.region)
            if bucket is None:
                continue
            record = self.record(f"snapshotpolicy#{name}")
            jobs = {k: v.get("phase", "") for k, v in record.get("jobs", {}).items()}
            attempts = {k: int(v.get("attempts", 0)) for k, v in record.get("jobs", {}).items()}
            last = float(record["lastSlot"]) if record.get("lastSlot") else None
            try:
                complete, uploads, orphans = self._list(s3, bucket,
                                                        policy_prefix(policy.prefix, name))
            except Exception as error:
                self.log.warning("snapshot_bucket_unreadable", policy=name, bucket=bucket,
                                 error=f"{type(error).__name__}: {error}")
                policies[name] = PolicyState(bucket, listed=False, last_slot=last)
                continue
            # A worker job recorded still Uploading: its upload is the worker's, adopted.
            workers = {k: str(v["key"]) for k, v in record.get("jobs", {}).items()
                       if v.get("phase") == "Uploading" and v.get("workerJob") and v.get("key")}
            policies[name] = PolicyState(bucket, complete, tuple(uploads), last, jobs, attempts,
                                         unfinished_archives=tuple(orphans),
                                         worker_uploads=workers)
            self._export(name, policy.schedule, complete, now, desired)
        restores = {}
        for name in desired.restores:
            item = self.record(f"restore#{name}")
            restores[name] = RestoreState(item.get("fingerprint", ""), item.get("phase", ""))
        return ObservedSnapshots(policies, restores, running, uploading, self.started_at, ended)

    @staticmethod
    def _list(s3: Any, bucket: str, prefix: str) -> tuple[
            dict[str, tuple[tuple[str, float], ...]], list[OpenUpload], list[OpenUpload]]:
        """(complete snapshots by source, open multipart uploads, archives without a
        manifest) under a policy's prefix; keys that are not snapshot ids are not ours."""
        complete: dict[str, list[tuple[str, float]]] = {}
        archives: dict[str, tuple[str, float]] = {}  # snapshot id -> (archive key, time)
        base = prefix.rsplit("/", 2)[0] + "/" if prefix.count("/") > 1 else ""
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                folder, _, name = key.rpartition("/")
                try:
                    _, source, stamp = parse_id(folder[len(base):])
                except Exception:
                    continue  # not ours: never touched
                if name == MANIFEST_NAME:
                    complete.setdefault(source, []).append((folder[len(base):],
                                                            time_of_stamp(stamp)))
                elif name in ARCHIVE_NAMES:
                    archives[folder[len(base):]] = (key, item["LastModified"].timestamp())
        listed = {snapshot for made in complete.values() for snapshot, _ in made}
        # No manifest: the manifest's put (and the removal after it) failed. Incomplete.
        orphans = [OpenUpload(key, "", when) for snapshot, (key, when) in sorted(archives.items())
                   if snapshot not in listed]
        uploads = [OpenUpload(u["Key"], u["UploadId"], u["Initiated"].timestamp())
                   for page in s3.get_paginator("list_multipart_uploads").paginate(
                       Bucket=bucket, Prefix=prefix) for u in page.get("Uploads", [])]
        return {k: tuple(v) for k, v in complete.items()}, uploads, orphans

    def _export(self, name: str, schedule: Any, complete: dict[str, Any], now: float,
                desired: DesiredState) -> None:
        from controller.plan.snapshots import snapshot_sources

        metrics.SCHEDULE.labels(name).set(period_seconds(schedule, now))
        for source in snapshot_sources(desired, name):
            made = complete.get(source["Source"], ())
            newest = max((when for _, when in made), default=None)
            metrics.NEWEST_AGE.labels(name, source["Source"]).set(
                now - newest if newest is not None else -1)

    # -- status rows (`studioctl status`) -------------------------------------------------
    def put_status(self, kind: str, name: str, ready: bool, reason: str, message: str,
                   revision: str, degraded: bool = False) -> None:
        now = self.clock.now()
        conditions: tuple[Condition, ...] = ()
        for condition in (Condition(READY, TRUE if ready else FALSE, reason, message),
                          Condition(DEGRADED, TRUE if degraded else FALSE,
                                    reason if degraded else "AsExpected", message)):
            conditions = set_condition(conditions, condition, now)
        self.store.put(ResourceStatus(kind, name, self.region, conditions, revision,
                                      revision if ready else "", now))
