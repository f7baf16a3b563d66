"""`studioctl import`: the desired state of a live region, which validates and plans no
changes against it (round trip), keeps what it cannot express as comments, and never
writes a secret."""

from __future__ import annotations

import base64
from pathlib import Path

import boto3

from controller.cli.main import main
from controller.clock import ManualClock
from controller.desired import load_desired_state
from tests.converge.helpers import REGION, converge, plan_now, prepared, reconciler
from tests.converge.test_profile_settings import _estate as estate_with_alice_settings
from tests.example_estate import copy_example, turn_on_space_backup


def _converge(aws, folder: Path) -> None:
    clock = ManualClock()
    converge(reconciler(aws, clock), prepared(aws, load_desired_state(folder)), clock)


def _import(aws, out: Path, *extra: str) -> int:
    return main(["import", "--region", REGION, "--out", str(out), "--endpoint-url",
                 aws.endpoint_url, "--efs-root", str(aws.efs_root), *extra])


def test_import_round_trip_of_the_example_plans_no_changes(aws, tmp_path, capsys):
    _converge(aws, copy_example(tmp_path / "desired"))
    out = tmp_path / "imported"
    assert _import(aws, out) == 0
    assert "checked: it plans no changes in us-east-1" in capsys.readouterr().out
    imported = load_desired_state(out)
    assert sorted(imported.profiles) == ["analytics/dave", "analytics/erin", "analytics/frank",
                                         "analytics/grace", "research/alice", "research/bob",
                                         "research/carol"]
    assert {(s.scope.value, s.path) for s in imported.shares.values()} == {
        ("user", "/home/{domain}/{profile}"), ("domain", "/teams/{domain}"),
        ("organisation", "/shared/datasets")}
    assert imported.file_systems["studio-efs"].replicate
    assert imported.estate.replica_region == "us-west-2"
    assert plan_now(aws, imported).actions == ()


def test_per_profile_settings_tags_and_space_backup_survive_the_round_trip(aws, tmp_path,
                                                                           capsys):
    folder = estate_with_alice_settings(tmp_path)
    turn_on_space_backup(folder)
    _converge(aws, folder)
    out = tmp_path / "imported"
    assert _import(aws, out) == 0, capsys.readouterr().out
    imported = load_desired_state(out)
    alice = imported.profiles["research/alice"].settings
    assert (alice.execution_role, alice.instance_type, alice.idle_shutdown_minutes) == (
        "alice-execution-role", "ml.m5.xlarge", 90)
    assert dict(alice.tags) == {"team": "nlp", "cost-centre": "42"}
    backup = imported.domains["research"].space_backup
    assert backup.enabled and imported.shares[backup.share].path == "/backups/{domain}"
    assert plan_now(aws, imported).actions == ()


def test_what_cannot_be_expressed_is_a_comment_and_the_plan_says_what_would_change(
        aws, tmp_path, capsys):
    _converge(aws, copy_example(tmp_path / "desired"))
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    research = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                    if d["DomainName"] == "research")
    sagemaker.update_domain(DomainId=research, DefaultUserSettings={
        "JupyterServerAppSettings": {"DefaultResourceSpec": {"InstanceType": "system"}}})
    sagemaker.create_user_profile(DomainId=research, UserProfileName="walk-in")
    out = tmp_path / "imported"
    assert _import(aws, out) == 2
    printed = capsys.readouterr().out
    assert "~ UserProfile/research/walk-in" in printed
    text = (out / "research.yaml").read_text()
    assert "# kept as AWS holds them (not managed; updates merge around them):" in text
    assert "JupyterServerAppSettings" in text
    assert "# profile walk-in has no CustomPosixUserConfig" in text


def test_no_secret_is_written_not_even_one_in_a_lifecycle_script(aws, tmp_path, capsys):
    folder = copy_example(tmp_path / "desired")
    turn_on_space_backup(folder)
    _converge(aws, folder)
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    secret = "AKIAEXAMPLESECRETVALUE"
    arn = sagemaker.create_studio_lifecycle_config(
        StudioLifecycleConfigName="team-setup", StudioLifecycleConfigAppType="JupyterLab",
        StudioLifecycleConfigContent=base64.b64encode(
            f"#!/bin/bash\nexport TOKEN={secret}\n".encode()).decode())[
        "StudioLifecycleConfigArn"]
    research = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                    if d["DomainName"] == "research")
    settings = sagemaker.describe_domain(DomainId=research)["DefaultUserSettings"]
    jupyter = settings["JupyterLabAppSettings"]
    jupyter["LifecycleConfigArns"] = [*jupyter["LifecycleConfigArns"], arn]
    sagemaker.update_domain(DomainId=research,
                            DefaultUserSettings={"JupyterLabAppSettings": jupyter})
    out = tmp_path / "imported"
    _import(aws, out)
    capsys.readouterr()
    written = "".join(p.read_text() for p in out.iterdir())
    assert secret not in written and "#!/bin/bash" not in written


def test_import_of_one_domain_and_never_over_an_existing_file(aws, tmp_path, capsys):
    _converge(aws, copy_example(tmp_path / "desired"))
    out = tmp_path / "imported"
    assert _import(aws, out, "--domain", "research") == 0, capsys.readouterr().out
    imported = load_desired_state(out)
    assert sorted(imported.domains) == ["research"]
    assert all(s.path != "/home/analytics/dave" for s in imported.shares.values())
    before = (out / "research.yaml").read_text()
    assert _import(aws, out, "--domain", "research") == 1
    assert "exists: give another --out, or --force" in capsys.readouterr().err
    assert (out / "research.yaml").read_text() == before
