"""With spec.migration.deleteOld, nothing a user wrote is lost, whatever a user of either
instance does: a restore marker forged with the instance role's S3 access (before the new
instance restores) neither skips the restore nor has the old instance deleted with the
only copy of the data, and work written on the old instance after its first snapshot is
in a snapshot (the seal) taken after the old instance's last stop, held by the migration
record, before the old instance is deleted."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from controller.emulator import Emulator
from tests.notebooks.helpers import NAME, settle
from tests.notebooks.migration_helpers import (
    POLICY_BUCKET,
    al1_instance_with_work,
    passes_until,
    record,
    volume,
)
from tests.notebooks.test_migration import NEW, instance_names

FOLDER = f"studio-snapshots/nightly/notebook/{NAME}/"
DATA = "a,b\n1,2\n" * 1000

# Each runs real lifecycle scripts through a whole migration (archives, restores, seal).
pytestmark = pytest.mark.slow


def _s3(aws: Emulator):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=aws.endpoint_url)


def forge_restore_markers(aws: Emulator) -> list[str]:
    """What the old instance's user can do with its role: for every complete snapshot in
    the folder, PUT restored/<the new instance's predictable name> with a plausible body."""
    s3, forged = _s3(aws), []
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=POLICY_BUCKET, Prefix=FOLDER)
            .get("Contents", [])]
    for key in keys:
        if key.endswith("/COMPLETE"):
            snapshot = key.removeprefix("studio-snapshots/").removesuffix("/COMPLETE")
            marker = f"studio-snapshots/{snapshot}/restored/{NEW}"
            s3.put_object(Bucket=POLICY_BUCKET, Key=marker, Body=json.dumps(
                {"snapshot": snapshot, "instance": NEW, "entries": 5}).encode())
            forged.append(marker)
    return forged


def archive_names(aws: Emulator, snapshot: str, tmp_path: Path) -> list[str]:
    """The paths a snapshot's archive holds (zstd or gzip tar)."""
    s3 = _s3(aws)
    manifest = json.loads(s3.get_object(Bucket=POLICY_BUCKET,
                                        Key=f"studio-snapshots/{snapshot}/manifest.json")
                          ["Body"].read())
    archive = tmp_path / "archive"
    archive.write_bytes(s3.get_object(Bucket=POLICY_BUCKET, Key=manifest["archive_key"])
                        ["Body"].read())
    decompress = ["zstd", "-d", "-q", "-c"] if manifest["compression"] == "zstd" else [
        "gzip", "-d", "-c"]
    with open(archive, "rb") as source:
        raw = subprocess.run(decompress, stdin=source, capture_output=True, check=True,
                             timeout=120).stdout
    listed = subprocess.run(["tar", "-t"], input=raw, capture_output=True, check=True,
                            timeout=120).stdout.decode()
    return [line.removeprefix("./").rstrip("/") for line in listed.splitlines()]


def complete_snapshots(aws: Emulator) -> list[str]:
    keys = [o["Key"] for o in _s3(aws).list_objects_v2(Bucket=POLICY_BUCKET, Prefix=FOLDER)
            .get("Contents", [])]
    return sorted(k.removeprefix("studio-snapshots/").removesuffix("/COMPLETE")
                  for k in keys if k.endswith("/COMPLETE"))


def test_a_restore_marker_forged_before_the_new_instance_restores_loses_nothing(
        aws: Emulator, tmp_path: Path) -> None:
    rec, clock, moved = al1_instance_with_work(aws, tmp_path, migration="{deleteOld: true}")
    forged: list[str] = []
    deadline = time.monotonic() + 240
    # The forger watches the bucket: as soon as the migration's snapshot is complete (and
    # before the pass that creates the new instance), the markers are there.
    while (current := rec.migrations.records.get(NAME) if rec.migrations else None) is None \
            or current.phase not in ("Restoring", "StoppingOld", "Sealing", "DeletingOld",
                                     "Complete"):
        assert time.monotonic() < deadline, current
        forged += forge_restore_markers(aws)
        settle(aws, NAME, timeout=60)
        rec.reconcile(moved)
        rec.queue.pop_ready()
        clock.advance(60)
        time.sleep(0.2)
    assert forged, "the forgery came too late to test anything"

    passes_until(rec, moved, clock, aws, ("Complete",), timeout=300)

    # The new instance restored for real (the forged marker did not stop its restore) ...
    restored = volume(aws, NEW) / "project" / "data" / "train.csv"
    assert restored.exists() and restored.read_text() == DATA
    # ... before the old one was deleted.
    assert instance_names(aws) == [NEW]
    finished = record(aws)
    assert finished is not None and finished.phase == "Complete"


def test_work_written_on_the_old_instance_after_its_snapshot_is_held_before_it_is_deleted(
        aws: Emulator, tmp_path: Path) -> None:
    rec, clock, moved = al1_instance_with_work(aws, tmp_path, migration="{deleteOld: true}")
    passes_until(rec, moved, clock, aws, ("Creating", "Restoring"))
    first = rec.migrations.records[NAME].snapshot  # type: ignore[union-attr]
    assert settle(aws, NAME) == "InService"  # its user still works on it
    (volume(aws, NAME) / "late-work.ipynb").write_text('{"cells": ["written late"]}')

    passes_until(rec, moved, clock, aws, ("Complete",), timeout=300)

    assert instance_names(aws) == [NEW]  # deleted, as deleteOld says
    assert "late-work.ipynb" not in archive_names(aws, first, tmp_path)
    holding = [s for s in complete_snapshots(aws)
               if "late-work.ipynb" in archive_names(aws, s, tmp_path)]
    assert holding, "the work written after the first snapshot is in no snapshot"
    finished = record(aws)
    assert finished is not None and finished.final_snapshot in holding
