"""observe + plan against the local AWS emulator, through the real boto3 clients."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.desired import load_desired_state
from controller.emulator import prepare_estate
from controller.gateway import AwsGateway
from controller.observe import observe
from controller.plan import Kind, Plan, Ref, make_plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "desired_state"
REGION = "us-east-1"


@pytest.fixture
def prepared(aws):
    desired = load_desired_state(EXAMPLE)
    prepare_estate(aws.endpoint_url, desired, aws.efs_root)
    return desired


def _plan(aws, desired) -> Plan:
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    return make_plan(desired, observe(gateway, desired, REGION, aws.efs_root))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _send_sagemaker_requests(aws, plan: Plan) -> None:
    """Send the plan's Domain, UserProfile and NotebookInstance requests verbatim, as an
    executor would."""
    import boto3

    client = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domain_ids: dict[str, str] = {}
    for action in plan.actions:
        if action.key.kind not in (Kind.DOMAIN, Kind.USER_PROFILE, Kind.NOTEBOOK_INSTANCE):
            continue
        params = dict(action.params)
        if isinstance(params.get("DomainId"), Ref):
            params["DomainId"] = domain_ids[params["DomainId"].name]
        response = getattr(client, _snake(action.name))(**params)
        if action.name == "CreateDomain":
            domain_ids[action.key.name] = response["DomainArn"].rsplit("/", 1)[1]


def test_a_prepared_emulator_resolves_every_reference_and_plans_the_whole_estate(aws, prepared):
    plan = _plan(aws, prepared)
    assert plan.problems == ()
    counts = {kind: sum(1 for a in plan.actions if a.key.kind == kind) for kind in Kind}
    assert counts[Kind.DOMAIN] == 2
    assert counts[Kind.USER_PROFILE] == 7
    # 7 homes, 2 team directories, 1 organisation directory
    assert counts[Kind.DIRECTORY] == 10
    assert counts[Kind.NOTEBOOK_INSTANCE] == 1
    research = next(a for a in plan.actions if a.name == "CreateDomain"
                    and a.key.name == "research")
    assert research.params["VpcId"].startswith("vpc-")
    assert all(s.startswith("subnet-") for s in research.params["SubnetIds"])
    assert research.params["DefaultUserSettings"]["ExecutionRole"].startswith("arn:aws:iam::")


def test_sending_the_planned_requests_then_planning_again_leaves_only_directories(aws, prepared):
    _send_sagemaker_requests(aws, _plan(aws, prepared))
    again = _plan(aws, prepared)
    assert {a.key.kind for a in again.actions} == {Kind.DIRECTORY, Kind.REPLICATION}


def test_a_profile_changed_behind_the_operators_back_is_planned_back(aws, prepared):
    import boto3

    _send_sagemaker_requests(aws, _plan(aws, prepared))
    client = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in client.list_domains()["Domains"]
                     if d["DomainName"] == "research")
    client.update_user_profile(DomainId=domain_id, UserProfileName="alice", UserSettings={
        "CustomPosixUserConfig": {"Uid": 300000, "Gid": 1001}})
    plan = _plan(aws, prepared)
    profile_actions = [a for a in plan.actions if a.key.kind == Kind.USER_PROFILE]
    assert [(a.name, a.key.name) for a in profile_actions] == [
        ("UpdateUserProfile", "research/alice")]
    assert [(c.path, c.observed, c.desired) for c in profile_actions[0].changes] == [
        ("UserSettings.CustomPosixUserConfig.Uid", 300000, 200101)]


def test_share_directories_are_read_from_the_mounted_folders_without_following_links(
        aws, prepared, tmp_path):
    plan = _plan(aws, prepared)
    fs_id = next(a.params["FileSystemId"] for a in plan.actions if a.name == "CreateDirectory")
    mount = aws.efs_root / fs_id
    (mount / "home" / "research" / "alice").mkdir(parents=True)
    os.chmod(mount / "home" / "research" / "alice", 0o700)
    outside = tmp_path / "outside"
    outside.mkdir()
    (mount / "teams").mkdir()
    (mount / "teams" / "research").symlink_to(outside)
    plan = _plan(aws, prepared)
    names = {a.key.name: a for a in plan.actions if a.key.kind == Kind.DIRECTORY}
    assert "studio-efs:/teams/research" not in names
    assert any("/teams/research is a symlink" in p for p in plan.problems)
    # alice's home exists with the right mode but the test's owner, not alice's
    alice = names["studio-efs:/home/research/alice"]
    assert alice.name == "SetDirectoryOwnership"
    assert [(c.path, c.observed, c.desired) for c in alice.changes] == [
        ("Uid", os.getuid(), 200101), ("Gid", os.getgid(), 1001)]


def test_studioctl_plan_against_a_fresh_prepared_emulator_exits_2_and_lists_creations(
        aws, prepared, capsys):
    code = main(["plan", "--desired", str(EXAMPLE), "--region", REGION,
                 "--endpoint-url", aws.endpoint_url, "--efs-root", str(aws.efs_root),
                 "--max-attempts", "2"])
    out = capsys.readouterr().out
    assert code == 2
    assert "+ Domain/research  (CreateDomain)" in out
    assert "+ UserProfile/analytics/dave  (CreateUserProfile)" in out
    assert "Plan: 21 to create, 0 to update, 0 to delete." in out


def test_studioctl_plan_json_is_an_object_with_an_actions_list(aws, prepared, capsys):
    code = main(["plan", "--desired", str(EXAMPLE), "--region", REGION, "--output", "json",
                 "--endpoint-url", aws.endpoint_url, "--efs-root", str(aws.efs_root)])
    document = json.loads(capsys.readouterr().out)
    assert code == 2
    assert len(document["actions"]) == 21
    assert document["actions"][0]["action"] == "EnsureReplication"


def test_studioctl_plan_in_an_unprepared_region_reports_what_is_missing_and_exits_1(
        aws, capsys):
    code = main(["plan", "--desired", str(EXAMPLE), "--region", REGION,
                 "--endpoint-url", aws.endpoint_url, "--max-attempts", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "! Domain/research: VPC studio-vpc not found in us-east-1" in out


def test_the_standby_region_plans_nothing_and_exits_0(aws, prepared, capsys):
    code = main(["plan", "--desired", str(EXAMPLE), "--region", "us-west-2",
                 "--endpoint-url", aws.endpoint_url])
    assert code == 0
    assert "standby region" in capsys.readouterr().out


def test_a_region_outside_the_estate_is_refused(aws, capsys):
    code = main(["plan", "--desired", str(EXAMPLE), "--region", "eu-west-1",
                 "--endpoint-url", aws.endpoint_url])
    assert code == 1
    assert "not one of the estate's regions" in capsys.readouterr().err
