"""What large estates set per user (execution role, default instance type, idle shutdown,
tags) reaches SageMaker, stays within what it allows, and is put back when changed by
hand; tags someone else set are left alone."""

from __future__ import annotations

from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from tests.converge.helpers import REGION, converge, plan_now, prepared, reconciler
from tests.desired_state.helpers import edit
from tests.example_estate import copy_example, turn_on_space_backup

ALICE = """\
  posix:
    uid: 200101
    gid: 1001
"""
ALICE_WITH_SETTINGS = ALICE + """\
  executionRole: alice-execution-role
  defaultInstanceType: ml.m5.xlarge
  idleShutdownMinutes: 90
  tags: {team: nlp, cost-centre: "42"}
"""


def _estate(tmp_path: Path, space_backup: bool = False) -> Path:
    folder = copy_example(tmp_path / "desired")
    edit(folder / "research.yaml", "metadata:\n  name: alice\nspec:\n  domain: research\n"
         + ALICE, "metadata:\n  name: alice\nspec:\n  domain: research\n"
         + ALICE_WITH_SETTINGS)
    if space_backup:
        turn_on_space_backup(folder)
    return folder


def _alice(aws) -> tuple[dict, dict[str, str]]:
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domain = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                  if d["DomainName"] == "research")
    profile = sagemaker.describe_user_profile(DomainId=domain, UserProfileName="alice")
    tags = sagemaker.list_tags(ResourceArn=profile["UserProfileArn"])["Tags"]
    return profile, {t["Key"]: t["Value"] for t in tags}


def test_per_profile_settings_and_tags_reach_sagemaker_and_converge(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_estate(tmp_path)))
    converge(reconciler(aws), desired, ManualClock())
    profile, tags = _alice(aws)
    settings = profile["UserSettings"]
    assert settings["ExecutionRole"].endswith(":role/alice-execution-role")
    for app in ("JupyterLabAppSettings", "CodeEditorAppSettings"):
        assert settings[app]["DefaultResourceSpec"]["InstanceType"] == "ml.m5.xlarge"
        assert settings[app]["AppLifecycleManagement"]["IdleSettings"] == {
            "LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 90}
    assert tags["team"] == "nlp" and tags["cost-centre"] == "42"
    assert tags["studio-operator.io/managed-by"] == "studio-operator"
    assert plan_now(aws, desired).actions == ()


def test_settings_and_tags_changed_by_hand_are_put_back_and_others_tags_left(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_estate(tmp_path)))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)
    profile, _ = _alice(aws)
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    sagemaker.update_user_profile(
        DomainId=profile["DomainId"], UserProfileName="alice",
        UserSettings={"JupyterLabAppSettings": {"DefaultResourceSpec": {
            "InstanceType": "ml.t3.medium"}}})
    sagemaker.add_tags(ResourceArn=profile["UserProfileArn"],
                       Tags=[{"Key": "team", "Value": "vision"},
                             {"Key": "owner", "Value": "finance"}])
    clock.advance(4000)  # past the describe cache's full refresh: tags do not move the time
    names = sorted(a.name for a in plan_now(aws, desired).actions)
    assert names == ["TagUserProfile", "UpdateUserProfile"]
    converge(rec, desired, clock)
    profile, tags = _alice(aws)
    jupyter = profile["UserSettings"]["JupyterLabAppSettings"]
    assert jupyter["DefaultResourceSpec"]["InstanceType"] == "ml.m5.xlarge"
    assert tags["team"] == "nlp" and tags["owner"] == "finance"


def test_profile_app_settings_keep_the_domains_space_backup_configs(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_estate(tmp_path, space_backup=True)))
    converge(reconciler(aws), desired, ManualClock())
    profile, _ = _alice(aws)
    jupyter = profile["UserSettings"]["JupyterLabAppSettings"]
    arn = jupyter["DefaultResourceSpec"]["LifecycleConfigArn"]
    assert arn.rsplit("/", 1)[1].startswith("studio-op-research-")
    assert jupyter["LifecycleConfigArns"] == [arn]
    assert jupyter["DefaultResourceSpec"]["InstanceType"] == "ml.m5.xlarge"
    assert plan_now(aws, desired).actions == ()
