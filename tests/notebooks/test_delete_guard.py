"""The executor's guard on a migration's DeleteNotebookInstance, in code: even a plan that
asks for it deletes nothing unless the new instance's restore marker was written after
that instance was created and names the snapshot, and the old instance is sealed (Failed
after a start with the seal config) with a complete snapshot made by that start."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from controller.actions.context import ExecutionContext
from controller.actions.notebooks import delete_notebook_instance
from controller.emulator import Emulator
from controller.errors import TerminalError
from controller.gateway import AwsGateway
from controller.plan.types import Action, Kind, ResourceKey, Verb
from tests.notebooks.helpers import NAME, describe, sagemaker, settle
from tests.notebooks.migration_helpers import POLICY_BUCKET

NEW = f"{NAME}-2"
SEAL = "studio-op-nb-seal-0123456789ab"
PREFIX = "studio-snapshots"
FIRST = f"nightly/notebook/{NAME}/20261126T070000Z-abcd"
ROLE = "arn:aws:iam::123456789012:role/notebook-role"


def _instance(client: Any, name: str) -> None:
    client.create_notebook_instance(
        NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
        Tags=[{"Key": "studio-operator.io/notebook", "Value": NAME}])


def _put_snapshot(s3: Any, snapshot: str, instance: str, archive: bytes = b"x" * 100) -> None:
    base = f"{PREFIX}/{snapshot}"
    s3.put_object(Bucket=POLICY_BUCKET, Key=f"{base}/archive.tar.zst", Body=archive)
    s3.put_object(Bucket=POLICY_BUCKET, Key=f"{base}/manifest.json", Body=json.dumps(
        {"id": snapshot, "archive_key": f"{base}/archive.tar.zst", "bytes_out": 100}).encode())
    s3.put_object(Bucket=POLICY_BUCKET, Key=f"{base}/COMPLETE", Body=json.dumps(
        {"snapshot": snapshot, "instance": instance}).encode())


def test_the_executor_deletes_the_old_instance_only_restored_and_sealed(
        aws: Emulator) -> None:
    client, s3 = sagemaker(aws), boto3.client("s3", endpoint_url=aws.endpoint_url)
    boto3.client("iam", endpoint_url=aws.endpoint_url).create_role(
        RoleName="notebook-role", AssumeRolePolicyDocument="{}")
    s3.create_bucket(Bucket=POLICY_BUCKET)
    _instance(client, NAME)
    settle(aws)
    client.stop_notebook_instance(NotebookInstanceName=NAME)
    assert settle(aws) == "Stopped"
    ctx = ExecutionContext(AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2),
                           "us-east-1", None, "test")
    marker = f"{PREFIX}/{FIRST}/restored/{NEW}"
    body = json.dumps({"snapshot": FIRST, "instance": NEW, "entries": 5}).encode()
    params: dict[str, Any] = {
        "NotebookInstanceName": NAME, "Notebook": NAME, "NewInstance": NEW,
        "Bucket": POLICY_BUCKET, "Prefix": PREFIX, "Snapshot": FIRST, "RestoredKey": marker,
        "SealConfig": SEAL, "SealedAfter": 0.0, "FinalSnapshot": ""}

    def action() -> Action:
        return Action("DeleteNotebookInstance", Verb.DELETE,
                      ResourceKey(Kind.NOTEBOOK_INSTANCE, "us-east-1", NAME), (), dict(params))

    def _refused(action: Action, ctx: ExecutionContext, reason: str, match: str) -> None:
        with pytest.raises(TerminalError, match=match) as raised:
            delete_notebook_instance(action, ctx)
        assert raised.value.reason == reason
        assert settle(aws) != "absent"  # still there

    _refused(action(), ctx, "NotRestored", "has not restored")  # no marker at all
    # Planted in advance (the old instance's role can write the bucket): older than NEW.
    s3.put_object(Bucket=POLICY_BUCKET, Key=marker, Body=body)
    time.sleep(1.2)
    _instance(client, NEW)
    settle(aws, NEW)
    _refused(action(), ctx, "NotRestored", "before .* was created")
    time.sleep(1.2)
    s3.put_object(Bucket=POLICY_BUCKET, Key=marker, Body=json.dumps(
        {"snapshot": "another", "instance": NEW}).encode())
    _refused(action(), ctx, "NotRestored", "does not name")
    s3.put_object(Bucket=POLICY_BUCKET, Key=marker, Body=body)  # as the restore writes it

    # Restored, but the old instance is merely Stopped: work written after the first
    # snapshot may be on it and nowhere else.
    _refused(action(), ctx, "NotSealed", "not sealed")

    client.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=SEAL,
        OnStart=[{"Content": base64.b64encode(b"#!/bin/bash\nexit 3\n").decode()}])
    client.update_notebook_instance(NotebookInstanceName=NAME, LifecycleConfigName=SEAL)
    assert settle(aws) == "Stopped"
    params["SealedAfter"] = describe(aws)["LastModifiedTime"].timestamp()
    time.sleep(1.1)
    client.start_notebook_instance(NotebookInstanceName=NAME)
    assert settle(aws) == "Failed"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final = f"nightly/notebook/{NAME}/{stamp}-beef"
    params["FinalSnapshot"] = final
    _refused(action(), ctx, "NotSealed", "not complete")  # sealed, but no snapshot
    _put_snapshot(s3, final, "someone-else")
    _refused(action(), ctx, "NotSealed", f"not made by {NAME}")
    _put_snapshot(s3, final, NAME, archive=b"x" * 99)
    _refused(action(), ctx, "NotSealed", "99 bytes")
    _put_snapshot(s3, final, NAME)
    params["SealedAfter"], sealed_after = time.time() + 120, params["SealedAfter"]
    _refused(action(), ctx, "NotSealed", "not made by its sealing start")  # an older one
    params["SealedAfter"] = sealed_after

    # AWS failing under the checks (throttled, 5xx, timing out) is an error to retry,
    # never taken for "checked": nothing is deleted.
    for operations, kinds in (({"s3:GetObject"}, ("5xx",)), ({"s3:HeadObject"}, ("throttle",)),
                              ({"sagemaker:DescribeNotebookInstance"}, ("timeout",))):
        aws.set_faults(rate=1.0, kinds=kinds, operations=operations, timeout_seconds=0.2)
        try:
            with pytest.raises(Exception) as raised:
                delete_notebook_instance(action(), ctx)
            assert not isinstance(raised.value, TerminalError), raised.value
        finally:
            aws.clear_faults()
        assert settle(aws) == "Failed", operations

    assert "held snapshot" in delete_notebook_instance(action(), ctx)
    assert settle(aws) == "absent"
