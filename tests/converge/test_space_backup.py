"""A domain that backs its spaces up gets the lifecycle configs attached, and each
profile a backup folder it alone owns."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import boto3
import pytest

from controller.desired import load_desired_state
from tests.converge.helpers import REGION, plan_now, prepared, reconciler
from tests.example_estate import copy_example, turn_on_space_backup


def _with_space_backup(tmp_path: Path) -> Path:
    folder = copy_example(tmp_path / "desired")
    turn_on_space_backup(folder)
    return folder


def test_space_backup_lifecycle_configs_are_created_and_attached(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_with_space_backup(tmp_path)))
    first = reconciler(aws).reconcile(desired)
    made = sorted(o.key.name for o in first.outcomes if o.action == "EnsureLifecycleConfig")
    assert len(made) == 2 and all(n.startswith("studio-op-research-") for n in made)
    assert plan_now(aws, desired).actions == ()
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domains = {d["DomainName"]: d["DomainId"] for d in sagemaker.list_domains()["Domains"]}
    settings = sagemaker.describe_domain(DomainId=domains["research"])["DefaultUserSettings"]
    arn = settings["JupyterLabAppSettings"]["DefaultResourceSpec"]["LifecycleConfigArn"]
    name = arn.rsplit("/", 1)[1]
    assert name in made
    config = sagemaker.describe_studio_lifecycle_config(StudioLifecycleConfigName=name)
    script = base64.b64decode(config["StudioLifecycleConfigContent"]).decode()
    assert script.startswith("#!/bin/bash") and "restore" in script
    other = sagemaker.describe_domain(DomainId=domains["analytics"])["DefaultUserSettings"]
    assert "LifecycleConfigArns" not in other.get("JupyterLabAppSettings", {})
    efs = boto3.client("efs", region_name=REGION, endpoint_url=aws.endpoint_url)
    fs_id = next(f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]
                 if f.get("Name") == "studio-efs")
    mount = aws.efs_root / fs_id
    for profile, uid in (("alice", 200101), ("bob", 200102), ("carol", 200103)):
        folder = mount / "backups" / "research" / profile
        info = os.lstat(folder)
        assert (info.st_uid, oct(info.st_mode & 0o7777)) == (uid, "0o700")
    if os.geteuid() == 0:
        root = os.lstat(mount / "backups" / "research")
        assert (root.st_uid, oct(root.st_mode & 0o7777)) == (0, "0o755")
        shared = os.lstat(mount / "backups" / "research" / "_shared-spaces")
        assert (shared.st_uid, oct(shared.st_mode & 0o7777)) == (200001, "0o700")


@pytest.mark.skipif(os.geteuid() != 0, reason="owners are managed as root only")
def test_a_backup_folder_made_wrong_is_corrected_or_reported(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_with_space_backup(tmp_path)))
    rec = reconciler(aws)
    rec.reconcile(desired)
    efs = boto3.client("efs", region_name=REGION, endpoint_url=aws.endpoint_url)
    fs_id = next(f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]
                 if f.get("Name") == "studio-efs")
    root = aws.efs_root / fs_id / "backups" / "research"
    os.chmod(root, 0o777)  # anyone could swap a profile's folder: taken back
    os.chown(root / "bob", 4242, 4242)  # someone else's now: reported, left alone
    (root / "bob" / "planted").write_text("x")

    result = rec.reconcile(desired)

    assert oct(os.lstat(root).st_mode & 0o7777) == "0o755"
    assert (os.lstat(root / "bob").st_uid, os.lstat(root / "bob" / "planted").st_uid) == (
        4242, 0)
    assert any("/backups/research/bob exists owned by 4242:4242" in p
               for p in result.plan.problems)
