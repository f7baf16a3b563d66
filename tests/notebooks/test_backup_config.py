"""spec.backup: the operator generates the instance's backup lifecycle config from its
SnapshotPolicy and attaches it (at creation, or stopped like any in-place update); the
emulated instance then runs it for real on start, and the snapshot lands, complete, where
the policy's snapshots go."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.emulator import Emulator
from controller.errors import DesiredStateError
from controller.notebooks.configs import NAME_PREFIX, backup_config
from tests.converge.helpers import prepared, reconciler
from tests.notebooks.helpers import (
    NAME,
    actions_of,
    describe,
    estate_with_notebook,
    passes_until_settled,
    settle,
)

BUCKET = "studio-snapshots-us-east-1"  # the example policy's bucket in the primary region
BACKUP = "{snapshotPolicy: nightly}"


def notebook_objects(aws: Emulator) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"studio-snapshots/nightly/notebook/{NAME}/")
    return sorted(o["Key"] for o in found.get("Contents", []))


def wait_for_markers(aws: Emulator, count: int, timeout: float = 120.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        markers = [k for k in notebook_objects(aws) if k.endswith("/COMPLETE")]
        if len(markers) >= count:
            return markers
        assert time.monotonic() < deadline, f"{len(markers)} snapshot(s), not {count}"
        time.sleep(0.2)


def test_a_new_instance_is_created_with_its_backup_config_and_snapshots_on_start(
        aws: Emulator, tmp_path: Path) -> None:
    desired = prepared(aws, load_desired_state(estate_with_notebook(tmp_path / "v1",
                                                                    backup=BACKUP)))
    clock = ManualClock()
    rec = reconciler(aws, clock)

    results = passes_until_settled(rec, desired, clock, aws)

    # The config first, alone in its pass: the instance never names a config not there.
    assert actions_of(results) == ["CreateNotebookInstanceLifecycleConfig",
                                   "CreateNotebookInstance"]
    expected = backup_config(desired.notebooks[NAME], desired.snapshot_policies["nightly"],
                             "us-east-1")
    assert expected.name.startswith(NAME_PREFIX)
    assert describe(aws)["NotebookInstanceLifecycleConfigName"] == expected.name
    (marker,) = wait_for_markers(aws, 1)
    manifest_key = marker.replace("/COMPLETE", "/manifest.json")
    assert manifest_key in notebook_objects(aws)
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert manifest["server_side_encryption"]["key_id"] == "alias/studio-snapshots"
    assert manifest["source"]["instance"] == NAME
    assert rec.reconcile(desired).plan.actions == ()


def test_a_backup_added_later_is_attached_while_stopped_and_runs_when_started_again(
        aws: Emulator, tmp_path: Path) -> None:
    plain = prepared(aws, load_desired_state(estate_with_notebook(tmp_path / "v1")))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    passes_until_settled(rec, plain, clock, aws)
    assert settle(aws) == "InService" and notebook_objects(aws) == []

    backed_up = load_desired_state(estate_with_notebook(tmp_path / "v2", backup=BACKUP,
                                                        stopForUpdates="true"))
    results = passes_until_settled(rec, backed_up, clock, aws)

    assert actions_of(results) == ["CreateNotebookInstanceLifecycleConfig",
                                   "StopNotebookInstance", "UpdateNotebookInstance",
                                   "StartNotebookInstance", "TagNotebookInstance"]
    assert describe(aws)["NotebookInstanceLifecycleConfigName"].startswith(NAME_PREFIX)
    wait_for_markers(aws, 1)


def test_a_backup_naming_no_policy_is_refused_at_its_field(tmp_path: Path) -> None:
    folder = estate_with_notebook(tmp_path / "estate", backup="{snapshotPolicy: weekly}")
    with pytest.raises(DesiredStateError) as raised:
        load_desired_state(folder)
    text = str(raised.value)
    assert "no SnapshotPolicy 'weekly' (policies: nightly)" in text
    assert "notebooks.yaml" in text
