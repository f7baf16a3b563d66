"""Snapshot and restore metrics (names checked against manifests/ by the tests)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SNAPSHOTS = Counter(
    "studio_operator_snapshots",
    "Snapshots finished, by policy and result (complete, failed, cancelled).",
    ["policy", "result"])
SNAPSHOT_BYTES = Counter(
    "studio_operator_snapshot_bytes",
    "Bytes of complete snapshots, by policy and stage (archived: the tar stream before "
    "compression; stored: what S3 holds).",
    ["policy", "stage"])
SNAPSHOT_FILES = Counter(
    "studio_operator_snapshot_files",
    "Regular files in complete snapshots, by policy.", ["policy"])
RESTORES = Counter(
    "studio_operator_restores",
    "Restores finished, by result (succeeded, refused: the snapshot failed verification or "
    "is hostile, failed).", ["result"])
RESTORE_BYTES = Counter(
    "studio_operator_restore_bytes", "Bytes of file content restored.")
RESTORE_FILES = Counter(
    "studio_operator_restore_files", "Regular files restored.")
DURATION = Histogram(
    "studio_operator_snapshot_duration_seconds",
    "Wall time of one snapshot or restore, by operation (snapshot, restore).",
    ["operation"], buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400))
NEWEST_AGE = Gauge(
    "studio_operator_snapshot_newest_age_seconds",
    "Seconds since the newest complete snapshot of a home or share began, by policy and "
    "source (-1: none yet).", ["policy", "source"])
SCHEDULE = Gauge(
    "studio_operator_snapshot_schedule_seconds",
    "The time between two slots of a policy's schedule (the alert fires when the newest "
    "snapshot is older than twice this).", ["policy"])
RUNNING = Gauge(
    "studio_operator_snapshot_jobs_running",
    "Snapshot and restore jobs running on this controller's workers.")
