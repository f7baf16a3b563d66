"""A platform change migrates a notebook instance to a new one with its data: a snapshot
of the old volume made after its last stop, a new instance that restores it (owners
remapped 500 -> 1000 from Amazon Linux 1), and only then the old instance stopped, and
deleted only with deleteOld, never before the new one has restored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from controller.emulator import Emulator
from controller.notebooks.migration import SNAPSHOT_TAG
from controller.status.history import HistoryLog
from tests.notebooks.helpers import NAME, describe, sagemaker, settle, tags
from tests.notebooks.migration_helpers import (
    NEW_PLATFORM,
    POLICY_BUCKET,
    al1_instance_with_work,
    passes_until,
    record,
    volume,
)
from tests.notebooks.test_lifecycle_script import VERIFY, remapped_copy

ROOT = Path(__file__).resolve().parents[2]
NEW = f"{NAME}-2"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the volume's owners need root")


def instance_names(aws: Emulator) -> list[str]:
    listed = sagemaker(aws).list_notebook_instances()["NotebookInstances"]
    return sorted(i["NotebookInstanceName"] for i in listed
                  if i["NotebookInstanceStatus"] != "Deleting")


@pytest.mark.slow  # about 30 s on a loaded 2-core machine: real scripts, real archives
@needs_root
def test_a_platform_change_migrates_the_data_exactly_with_owners_remapped_and_keeps_the_old(
        aws: Emulator, tmp_path: Path) -> None:
    rec, clock, moved = al1_instance_with_work(aws, tmp_path)
    expected = remapped_copy(volume(aws, NAME), tmp_path / "expected", {500: 1000})

    passes_until(rec, moved, clock, aws, ("Complete",))

    migration = record(aws)
    assert migration is not None and migration.phase == "Complete"
    assert (migration.old_instance, migration.new_instance) == (NAME, NEW)
    assert describe(aws, NEW)["PlatformIdentifier"] == NEW_PLATFORM
    assert settle(aws, NEW) == "InService" and settle(aws, NAME) == "Stopped"  # kept
    assert instance_names(aws) == [NAME, NEW]
    assert tags(aws, NEW)[SNAPSHOT_TAG] == migration.snapshot
    checked = subprocess.run([sys.executable, str(VERIFY), str(expected),
                              str(volume(aws, NEW)), "--content"],
                             capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    entries = [e for e in HistoryLog(rec.status.store).entries()  # type: ignore[union-attr]
               if e.what == "notebook-migration"]
    assert [(e.source, e.target, e.result) for e in entries] == [(NAME, NEW, "ok")]
    # From now on the NotebookInstance is the new instance: nothing more to do.
    settled = passes_until_settled_quietly(rec, moved, clock, aws)
    assert not [a for a in settled.plan.actions if a.key.kind == "NotebookInstance"]
    shown = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "status", "--region", "us-east-1",
         "--endpoint-url", aws.endpoint_url, "--output", "json"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["notebookMigrations"][0]["phase"] == "Complete"


def passes_until_settled_quietly(rec, desired, clock, aws):  # type: ignore[no-untyped-def]
    settle(aws, NEW)
    rec.reconcile(desired)
    rec.queue.pop_ready()
    clock.advance(60)
    settle(aws, NEW)
    return rec.reconcile(desired)


@pytest.mark.slow  # about 30 s: the old instance snapshots, the new one tries to restore
def test_a_failed_restore_never_deletes_or_stops_the_old_instance(
        aws: Emulator, tmp_path: Path) -> None:
    rec, clock, moved = al1_instance_with_work(aws, tmp_path,
                                               migration="{deleteOld: true}")
    passes_until(rec, moved, clock, aws, ("Creating", "Restoring"))
    chosen = rec.migrations.records[NAME].snapshot  # type: ignore[union-attr]
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url)
    archive = next(o["Key"] for o in s3.list_objects_v2(
        Bucket=POLICY_BUCKET, Prefix=f"studio-snapshots/{chosen}/")["Contents"]
        if "/archive." in o["Key"])
    s3.put_object(Bucket=POLICY_BUCKET, Key=archive, Body=b"not the archive")  # damaged

    passes_until(rec, moved, clock, aws, ("Restoring",))
    log = aws.notebook_folder(NEW) / "state" / "start.log"
    deadline = time.monotonic() + 180
    while not (log.exists() and "restore failed" in log.read_text()):  # it ran, and failed
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        settle(aws, NEW, timeout=60)
        rec.reconcile(moved)
        rec.queue.pop_ready()
        clock.advance(60)
        time.sleep(0.5)
    result = rec.reconcile(moved)

    assert rec.migrations.records[NAME].phase == "Restoring"  # type: ignore[union-attr]
    why = dict(result.plan.waiting)[f"NotebookInstance/{NAME}"]
    assert f"{NAME} is kept" in why and "start.log" in why
    assert not [a for a in result.plan.actions if a.name in (
        "DeleteNotebookInstance", "StopNotebookInstance")]
    assert settle(aws, NAME) == "InService" and instance_names(aws) == [NAME, NEW]
