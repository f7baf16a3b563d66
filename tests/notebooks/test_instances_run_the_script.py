"""The lifecycle script as SageMaker runs it: attached to emulated notebook instances,
whose volumes are folders and whose scripts run for real on every start."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from controller.emulator import Emulator
from controller.notebooks.render import NotebookScriptSettings, lifecycle_script
from tests.notebooks.conftest import BUCKET
from tests.notebooks.test_lifecycle_script import (
    VERIFY,
    fill_volume,
    objects,
    remapped_copy,
    snapshots,
)

ROLE = "arn:aws:iam::123456789012:role/notebook-role"


def wait_for(condition, timeout: float = 120.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def status(sagemaker, name: str) -> str:  # type: ignore[no-untyped-def]
    return sagemaker.describe_notebook_instance(
        NotebookInstanceName=name)["NotebookInstanceStatus"]


@pytest.mark.slow  # over 40 s on a loaded 2-core machine
@pytest.mark.skipif(os.geteuid() != 0, reason="the volume's owners need root")
def test_an_al1_instance_snapshots_on_start_and_an_al2_instance_restores_it_remapped(
        aws: Emulator, tmp_path: Path) -> None:
    boto3.client("s3", endpoint_url=aws.endpoint_url).create_bucket(Bucket=BUCKET)
    boto3.client("iam", endpoint_url=aws.endpoint_url).create_role(
        RoleName="notebook-role", AssumeRolePolicyDocument="{}")
    sagemaker = boto3.client("sagemaker", endpoint_url=aws.endpoint_url)
    script = lifecycle_script(NotebookScriptSettings(BUCKET, "nightly", "research-notebook",
                                                     "us-east-1"))
    sagemaker.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="backup-and-restore",
        OnStart=[{"Content": base64.b64encode(script.encode()).decode()}])
    sagemaker.create_notebook_instance(
        NotebookInstanceName="old", InstanceType="ml.t3.medium", RoleArn=ROLE,
        PlatformIdentifier="notebook-al1-v1", LifecycleConfigName="backup-and-restore")
    wait_for(lambda: status(sagemaker, "old") == "InService", what="old InService")
    volume = aws.notebook_folder("old") / "SageMaker"
    fill_volume(volume, sparse_bytes=256 << 20)  # the user's work, as ec2-user (500)
    wait_for(lambda: len(snapshots(aws.endpoint_url)) == 1, what="the first start's snapshot")
    sagemaker.stop_notebook_instance(NotebookInstanceName="old")
    wait_for(lambda: status(sagemaker, "old") == "Stopped", what="old Stopped")
    sagemaker.start_notebook_instance(NotebookInstanceName="old")  # snapshot on start
    wait_for(lambda: len(snapshots(aws.endpoint_url)) == 2, what="the second snapshot")
    newest = snapshots(aws.endpoint_url)[-1]

    sagemaker.create_notebook_instance(
        NotebookInstanceName="new", InstanceType="ml.t3.medium", RoleArn=ROLE,
        PlatformIdentifier="notebook-al2-v3", LifecycleConfigName="backup-and-restore",
        Tags=[{"Key": "studio-operator.io/restore-snapshot", "Value": newest["id"]},
              {"Key": "studio-operator.io/restore-owner-map", "Value": "500:1000"}])
    marker = f"studio-snapshots/{newest['id']}/restored/new"
    wait_for(lambda: marker in objects(aws.endpoint_url), what="the restore's marker")

    assert status(sagemaker, "new") == "InService"  # the start was not held up
    expected = remapped_copy(volume, tmp_path / "expected", {500: 1000})
    checked = subprocess.run([sys.executable, str(VERIFY), str(expected),
                              str(aws.notebook_folder("new") / "SageMaker"), "--content"],
                             capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stdout
