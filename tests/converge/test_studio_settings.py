"""Studio settings on the emulator: what an administrator set beside the operator
survives a converge, a network change waits for running apps (and then goes through),
SSO profiles are created with their identity, and profiles the desired state does not
name show up in `studioctl plan` instead of "No changes"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3

from controller.cli.main import main
from controller.clock import ManualClock
from controller.desired import load_desired_state
from tests.converge.helpers import REGION, converge, plan_now, prepared, reconciler
from tests.example_estate import EXAMPLE, copy_example, turn_on_space_backup

ADMIN_SCRIPT = "IyEvYmluL2Jhc2gKZWNobyBhZG1pbgo="  # "#!/bin/bash\necho admin\n"


def _sagemaker(aws: Any) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)


def _domain_id(sagemaker: Any, name: str) -> str:
    return next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                if d["DomainName"] == name)


def _estate(tmp_path: Path, backup_path: str = "/backups/{domain}") -> Path:
    folder = copy_example(tmp_path / "desired")
    turn_on_space_backup(folder, path=backup_path)
    return folder


def test_settings_an_administrator_made_survive_a_converge(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_estate(tmp_path)))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)
    sagemaker = _sagemaker(aws)
    domain = _domain_id(sagemaker, "research")
    admin_arn = sagemaker.create_studio_lifecycle_config(
        StudioLifecycleConfigName="admin-tools", StudioLifecycleConfigContent=ADMIN_SCRIPT,
        StudioLifecycleConfigAppType="JupyterLab")["StudioLifecycleConfigArn"]
    user = sagemaker.describe_domain(DomainId=domain)["DefaultUserSettings"]
    jupyter = user["JupyterLabAppSettings"]
    # The administrator adds their own config, idle shutdown and a default instance type,
    # with boto3 directly, keeping what is there (as a careful admin would).
    jupyter = {**jupyter,
               "LifecycleConfigArns": [*jupyter["LifecycleConfigArns"], admin_arn],
               "AppLifecycleManagement": {"IdleSettings": {
                   "LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120}},
               "DefaultResourceSpec": {**jupyter["DefaultResourceSpec"],
                                       "InstanceType": "ml.t3.large"}}
    sagemaker.update_domain(DomainId=domain, DefaultUserSettings={
        "JupyterLabAppSettings": jupyter, "DefaultLandingUri": "studio::jupyterlab"})
    sagemaker.update_user_profile(DomainId=domain, UserProfileName="alice", UserSettings={
        "CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.xlarge"}}})
    # Then the platform team changes what the operator manages: a new backup path (so a
    # new lifecycle config) and alice's uid.
    changed = _estate(tmp_path, "/space-backups/{domain}")
    research = changed / "research.yaml"
    research.write_text(research.read_text().replace("uid: 200101", "uid: 200111"))
    desired = prepared(aws, load_desired_state(changed))
    converge(rec, desired, clock)
    after = sagemaker.describe_domain(DomainId=domain)["DefaultUserSettings"]
    lab = after["JupyterLabAppSettings"]
    operator_arn = lab["DefaultResourceSpec"]["LifecycleConfigArn"]
    assert operator_arn != jupyter["DefaultResourceSpec"]["LifecycleConfigArn"], "new script"
    assert lab["LifecycleConfigArns"] == [admin_arn, operator_arn]
    assert lab["AppLifecycleManagement"]["IdleSettings"]["IdleTimeoutInMinutes"] == 120
    assert lab["DefaultResourceSpec"]["InstanceType"] == "ml.t3.large"
    assert after["DefaultLandingUri"] == "studio::jupyterlab"
    alice = sagemaker.describe_user_profile(DomainId=domain, UserProfileName="alice")
    assert alice["UserSettings"]["CustomPosixUserConfig"]["Uid"] == 200111
    assert alice["UserSettings"]["CodeEditorAppSettings"]["DefaultResourceSpec"][
        "InstanceType"] == "ml.t3.xlarge"
    assert plan_now(aws, desired).actions == ()


def test_a_network_change_waits_for_running_apps_then_goes_through(aws, tmp_path):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)
    sagemaker = _sagemaker(aws)
    domain = _domain_id(sagemaker, "research")
    # Someone opened the domain to the internet by hand; alice is working in it.
    sagemaker.update_domain(DomainId=domain, AppNetworkAccessType="PublicInternetOnly")
    sagemaker.create_app(DomainId=domain, UserProfileName="alice", AppType="JupyterLab",
                         AppName="default")
    aws.reset_request_counts()
    result = rec.reconcile(desired)
    assert not [o for o in result.outcomes if o.key.name == "research"]
    assert any("AppNetworkAccessType PublicInternetOnly -> VpcOnly waits until no Studio app"
               in note for note in result.plan.notes)
    assert result.plan.problems == ()
    assert aws.request_counts().get("sagemaker:UpdateDomain", 0) == 0
    assert sagemaker.describe_domain(DomainId=domain)["AppNetworkAccessType"] == (
        "PublicInternetOnly")
    sagemaker.delete_app(DomainId=domain, UserProfileName="alice", AppType="JupyterLab",
                         AppName="default")
    clock.advance(60)
    result = rec.reconcile(desired)
    assert [(o.action, o.outcome) for o in result.outcomes if o.key.name == "research"] == [
        ("UpdateDomainNetwork", "ok")]
    assert sagemaker.describe_domain(DomainId=domain)["AppNetworkAccessType"] == "VpcOnly"


def test_an_idle_pass_lists_no_apps(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)
    aws.reset_request_counts()
    rec.reconcile(desired)
    assert "sagemaker:ListApps" not in aws.request_counts()


def _sso_estate(tmp_path: Path) -> Path:
    folder = tmp_path / "sso"
    shutil.copytree(EXAMPLE, folder)
    research = folder / "research.yaml"
    text = research.read_text().replace("authMode: IAM", "authMode: SSO")
    for name in ("alice", "bob", "carol"):
        text = text.replace(f"  name: {name}\nspec:\n",
                            f"  name: {name}\nspec:\n  singleSignOn:\n"
                            f"    userValue: {name}@example.com\n")
    research.write_text(text)
    return folder


def test_sso_profiles_are_created_with_their_identity_and_converge(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_sso_estate(tmp_path)))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    sagemaker = _sagemaker(aws)
    domain = _domain_id(sagemaker, "research")
    assert sagemaker.describe_domain(DomainId=domain)["AuthMode"] == "SSO"
    bob = sagemaker.describe_user_profile(DomainId=domain, UserProfileName="bob")
    assert (bob["SingleSignOnUserIdentifier"], bob["SingleSignOnUserValue"]) == (
        "UserName", "bob@example.com")
    assert plan_now(aws, desired).actions == ()


def test_a_profile_made_outside_the_desired_state_is_reported_by_plan(aws, capsys):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)
    sagemaker = _sagemaker(aws)
    sagemaker.create_user_profile(DomainId=_domain_id(sagemaker, "research"),
                                  UserProfileName="zed")
    aws.reset_request_counts()
    result = rec.reconcile(desired)
    assert result.plan.actions == ()
    assert aws.request_counts().get("sagemaker:DescribeUserProfile", 0) == 0, (
        "the listing names it: no describe")
    common = ["--desired", str(EXAMPLE), "--region", REGION, "--endpoint-url",
              aws.endpoint_url, "--efs-root", str(aws.efs_root), "--max-attempts", "2"]
    assert main(["plan", *common]) == 0
    text = capsys.readouterr().out
    assert ("note: Domain/research: 1 user profile in the region is not in the desired state "
            "(unmanaged, left as they are): zed") in text
    assert "matches the desired state" not in text
    assert main(["plan", "--output", "json", *common]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("unmanaged" in n and n.endswith(": zed") for n in notes)



def _converge_through_faults(rec: Any, desired: Any, clock: ManualClock) -> int:
    """Passes until one has nothing to do; a pass whose observation failed is retried
    whole, as the controller does. Returns the faults the passes met."""
    met = 0
    for _ in range(60):
        try:
            result = rec.reconcile(desired)
        except Exception:  # an observation call failed after botocore's retries
            met += 1
            clock.advance(60)
            continue
        met += sum(1 for o in result.outcomes if o.outcome == "error")
        if not result.plan.actions:
            return met
        rec.queue.pop_ready()
        clock.advance(60)
    raise AssertionError("not converged through the faults after 60 passes")


def test_merged_updates_and_held_network_changes_converge_through_faults(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_estate(tmp_path)))
    clock = ManualClock()
    rec = reconciler(aws, clock, max_attempts=1, status=False)
    aws.set_faults(0.3, kinds=("throttle", "5xx"), services=["sagemaker"], seed=7)
    met = _converge_through_faults(rec, desired, clock)
    aws.clear_faults()
    sagemaker = _sagemaker(aws)
    domain = _domain_id(sagemaker, "research")
    sagemaker.update_domain(DomainId=domain, AppNetworkAccessType="PublicInternetOnly",
                            DefaultUserSettings={"DefaultLandingUri": "studio::jupyterlab"})
    aws.set_faults(0.3, kinds=("throttle", "5xx"), services=["sagemaker"], seed=8)
    met += _converge_through_faults(rec, desired, clock)
    injected = aws.faults_snapshot()["injected"]
    aws.clear_faults()
    assert met > 0 and sum(injected.values()) > 0, "the faults must have been met"
    described = sagemaker.describe_domain(DomainId=domain)
    assert described["AppNetworkAccessType"] == "VpcOnly"
    assert described["DefaultUserSettings"]["DefaultLandingUri"] == "studio::jupyterlab"
    assert [d["DomainName"] for d in sagemaker.list_domains()["Domains"]].count("research") == 1
    assert len(sagemaker.list_studio_lifecycle_configs()["StudioLifecycleConfigs"]) == 2
    assert plan_now(aws, desired).actions == ()
