"""How the plan renders Studio settings: one CustomFileSystemConfigs entry per file
system, updates merged into what AWS holds, network changes held while apps run, SSO
identities, and profiles the desired state does not name. Pure: in-memory states."""

from __future__ import annotations

import json
from dataclasses import replace

from controller.lifecycle import lifecycle_configs
from controller.model import (
    DesiredState,
    FileSystemPlacement,
    FileSystemSpec,
    ShareScope,
    ShareSpec,
    SingleSignOnSpec,
    SpaceBackupSpec,
)
from controller.observed import ObservedApp, ObservedDomain, ObservedFileSystem, ObservedState
from controller.plan import make_plan
from controller.plan.custom_fs import common_ancestor, path_in_app
from controller.plan.render import render_json, render_text
from controller.plan.shapes import Shapes
from tests.plan.estates import PRIMARY, converged, empty, estate, references

TEAM = {"research": [("alice", 200101, 1001), ("bob", 200102, 1001)]}
ADMIN_CONFIG = "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/admin-tools"
OLD_OPERATOR_CONFIG = ("arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/"
                       "studio-op-research-jl-0000000000")


def with_shares(desired: DesiredState, *shares: ShareSpec, domain: str = "research",
                second_file_system: bool = False) -> DesiredState:
    """`desired` with these shares added to the domain (and a second file system)."""
    file_systems = dict(desired.file_systems)
    if second_file_system:
        file_systems["scratch"] = FileSystemSpec("scratch", {PRIMARY: FileSystemPlacement(
            file_system_id="fs-2222222222222222")})
    research = replace(desired.domains[domain], shares=(
        *desired.domains[domain].shares, *(s.name for s in shares)))
    return replace(desired, shares={**desired.shares, **{s.name: s for s in shares}},
                   domains={**desired.domains, domain: research}, file_systems=file_systems)


def test_shares_on_one_file_system_are_one_entry_at_their_deepest_common_directory():
    desired = with_shares(
        estate(TEAM, shares=("home",)),
        ShareSpec("projects", "efs", ShareScope.DOMAIN, "/home/{domain}/projects"),
        ShareSpec("scratch", "scratch", ShareScope.DOMAIN, "/scratch/{domain}"),
        second_file_system=True)
    refs = replace(references(), file_systems={
        **references().file_systems,
        "scratch": ObservedFileSystem("fs-2222222222222222", "available", "scratch")})
    shapes = Shapes(desired, PRIMARY, refs, set())
    alice = shapes.user_settings(desired.profiles["research/alice"])
    assert alice is not None
    assert alice["CustomFileSystemConfigs"] == [
        {"EFSFileSystemConfig": {"FileSystemId": "fs-1", "FileSystemPath": "/home/research"}},
        {"EFSFileSystemConfig": {"FileSystemId": "fs-2222222222222222",
                                 "FileSystemPath": "/scratch/research"}}]
    domain = shapes.domain_request(desired.domains["research"])
    assert domain is not None
    assert domain["DefaultUserSettings"]["CustomFileSystemConfigs"] == [
        {"EFSFileSystemConfig": {"FileSystemId": "fs-1",
                                 "FileSystemPath": "/home/research/projects"}},
        {"EFSFileSystemConfig": {"FileSystemId": "fs-2222222222222222",
                                 "FileSystemPath": "/scratch/research"}}]
    # Inside alice's apps: one mount per file system, each share a folder below it.
    assert path_in_app("fs-1", "/home/research", "/home/research/alice") == (
        "/mnt/custom-file-systems/efs/fs-1/alice")
    assert path_in_app("fs-1", "/home/research", "/home/research/projects") == (
        "/mnt/custom-file-systems/efs/fs-1/projects")
    assert path_in_app("fs-2", "/scratch/research", "/scratch/research") == (
        "/mnt/custom-file-systems/efs/fs-2")


def test_the_common_directory_is_whole_segments_only():
    assert common_ancestor(["/home/research/alice", "/home/research-2/bob"]) == "/home"
    assert common_ancestor(["/teams/research"]) == "/teams/research"
    assert common_ancestor(["/a/b", "/c"]) == "/"


def test_the_backup_file_system_is_attached_alike_for_the_domain_and_its_profiles():
    backups = ShareSpec("backups", "efs", ShareScope.DOMAIN, "/backups/{domain}", 0o755)
    base = with_shares(estate(TEAM), backups)
    research = replace(base.domains["research"], space_backup=SpaceBackupSpec(True, "backups"))
    desired = replace(base, domains={**base.domains, "research": research})
    refs = references()
    fs = refs.file_systems["efs"]
    assert fs is not None
    refs = replace(refs, file_systems={"efs": replace(fs, file_system_id="fs-0123456789abcdef0")})
    shapes = Shapes(desired, PRIMARY, refs, set())
    request = shapes.domain_request(desired.domains["research"])
    assert request is not None
    lists = [request["DefaultUserSettings"]["CustomFileSystemConfigs"],
             request["DefaultSpaceSettings"]["CustomFileSystemConfigs"]]
    for name in ("alice", "bob"):
        settings = shapes.user_settings(desired.profiles[f"research/{name}"])
        assert settings is not None
        lists.append(settings["CustomFileSystemConfigs"])
    assert {json.dumps(entries) for entries in lists} == {json.dumps([{"EFSFileSystemConfig": {
        "FileSystemId": "fs-0123456789abcdef0", "FileSystemPath": "/"}}])}
    # The script looks for the backups below that one mount.
    (config, *_) = lifecycle_configs(research, backups, "fs-0123456789abcdef0",
                                     file_system_path="/")
    assert "SHARE_SUBDIR=backups/research\n" in config.script
    assert shapes.lifecycle_configs["research"][0].script == config.script


def _admin_settings(observed: ObservedState) -> ObservedState:
    """An administrator's settings, made beside the operator's in AWS."""
    seen = observed.domains["research"]
    user = dict(seen.description["DefaultUserSettings"])
    user["JupyterLabAppSettings"] = {
        "CustomImages": [{"ImageName": "team-image", "AppImageConfigName": "team-config"}],
        "AppLifecycleManagement": {"IdleSettings": {"LifecycleManagement": "ENABLED",
                                                    "IdleTimeoutInMinutes": 60}},
        "DefaultResourceSpec": {"InstanceType": "ml.t3.large",
                                "LifecycleConfigArn": OLD_OPERATOR_CONFIG},
        "LifecycleConfigArns": [ADMIN_CONFIG, OLD_OPERATOR_CONFIG],
    }
    description = {**seen.description, "DefaultUserSettings": user}
    return replace(observed, domains={**observed.domains, "research": replace(
        seen, description=description)})


def test_a_domain_update_keeps_what_an_administrator_set_beside_the_operator():
    desired = estate(TEAM)
    observed = _admin_settings(converged(desired))
    moved = estate(TEAM, shares=("home", "team"))  # the organisation share is dropped
    plan = make_plan(moved, observed)
    update = next(a for a in plan.actions if a.name == "UpdateDomain")
    sent = update.params["DefaultUserSettings"]
    held = observed.domains["research"].description["DefaultUserSettings"]
    assert sent["JupyterLabAppSettings"] == held["JupyterLabAppSettings"]
    assert sent["JupyterServerAppSettings"] == held["JupyterServerAppSettings"]
    assert sent["StudioWebPortal"] == "ENABLED"
    assert [c.path for c in update.changes] == [
        "DefaultUserSettings.CustomFileSystemConfigs",
        "DefaultSpaceSettings.CustomFileSystemConfigs"]


def test_the_operators_lifecycle_configs_replace_its_old_ones_and_leave_the_admins():
    backups = ShareSpec("backups", "efs", ShareScope.DOMAIN, "/backups/{domain}", 0o755)
    base = with_shares(estate(TEAM), backups)
    research = replace(base.domains["research"], space_backup=SpaceBackupSpec(True, "backups"),
                       apps=("JupyterLab",))
    desired = replace(base, domains={**base.domains, "research": research})
    observed = _admin_settings(converged(estate(TEAM)))
    fs = observed.references.file_systems["efs"]
    assert fs is not None
    observed = replace(observed, references=replace(observed.references, file_systems={
        "efs": replace(fs, file_system_id="fs-0123456789abcdef0")}))
    name = lifecycle_configs(research, backups, "fs-0123456789abcdef0", "/")[0].name
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/{name}"
    plan = make_plan(desired, replace(observed, lifecycle_configs={name: arn}))
    update = next(a for a in plan.actions if a.name == "UpdateDomain")
    jupyter = update.params["DefaultUserSettings"]["JupyterLabAppSettings"]
    assert jupyter["LifecycleConfigArns"] == [ADMIN_CONFIG, arn]
    assert jupyter["DefaultResourceSpec"] == {"InstanceType": "ml.t3.large",
                                              "LifecycleConfigArn": arn}
    assert jupyter["CustomImages"] == [{"ImageName": "team-image",
                                        "AppImageConfigName": "team-config"}]


def _network_moved(observed: ObservedState, access: str = "PublicInternetOnly",
                   subnets: list[str] | None = None) -> ObservedState:
    seen = observed.domains["research"]
    description = {**seen.description, "AppNetworkAccessType": access,
                   "SubnetIds": subnets if subnets is not None else seen.description["SubnetIds"]}
    return replace(observed, domains={**observed.domains, "research": ObservedDomain(
        seen.domain_id, "research", "InService", description)})


APP = ObservedApp("research", "d-000000000000", "JupyterLab", "default", "alice")


def test_a_network_change_waits_while_apps_run_and_says_so():
    desired = estate(TEAM)
    observed = _network_moved(converged(desired))
    held = make_plan(desired, replace(observed, running_apps_by_domain={"research": (APP,)}))
    assert not any(a.key.name == "research" for a in held.actions)
    (note,) = [n for n in held.notes if n.startswith("Domain/research")]
    assert "AppNetworkAccessType PublicInternetOnly -> VpcOnly waits until no Studio app" in note
    assert "JupyterLab default (alice, InService)" in note
    assert held.problems == ()
    free = make_plan(desired, replace(observed, running_apps_by_domain={"research": ()}))
    (action,) = [a for a in free.actions if a.key.name == "research"]
    assert (action.name, action.params) == ("UpdateDomainNetwork", {
        "DomainId": "d-000000000000", "AppNetworkAccessType": "VpcOnly"})


def test_removed_subnets_wait_for_apps_added_ones_do_not():
    desired = estate(TEAM)
    observed = converged(desired)
    extra = _network_moved(observed, "VpcOnly", ["subnet-a", "subnet-b", "subnet-c"])
    plan = make_plan(desired, replace(extra, running_apps_by_domain={"research": (APP,)}))
    assert [a.name for a in plan.actions if a.key.name == "research"] == []
    assert any("SubnetIds [subnet-a, subnet-b, subnet-c] -> [subnet-a, subnet-b]" in n
               for n in plan.notes)
    fewer = _network_moved(observed, "VpcOnly", ["subnet-a"])
    (action,) = [a for a in make_plan(desired, fewer).actions if a.key.name == "research"]
    assert (action.name, action.params["SubnetIds"]) == ("UpdateDomain",
                                                          ["subnet-a", "subnet-b"])


def test_sso_profiles_are_created_with_their_identity_which_cannot_change_later():
    base = estate(TEAM)
    research = replace(base.domains["research"], auth_mode="SSO")
    alice = replace(base.profiles["research/alice"], sso=SingleSignOnSpec("alice@example.com"))
    bob = replace(base.profiles["research/bob"], sso=SingleSignOnSpec("bob@example.com"))
    desired = replace(base, domains={**base.domains, "research": research},
                      profiles={**base.profiles, "research/alice": alice, "research/bob": bob})
    create = next(a for a in make_plan(desired, empty()).actions
                  if a.key.name == "research/alice")
    assert (create.params["SingleSignOnUserIdentifier"],
            create.params["SingleSignOnUserValue"]) == ("UserName", "alice@example.com")
    observed = converged(desired)
    for key, profile in observed.profiles.items():
        user = key.split("/")[1]
        described = {**profile.description, "SingleSignOnUserIdentifier": "UserName",
                     "SingleSignOnUserValue": f"{user}@example.com"}
        observed = replace(observed, profiles={**observed.profiles,
                                               key: replace(profile, description=described)})
    domain = observed.domains["research"]
    observed = replace(observed, domains={**observed.domains, "research": replace(
        domain, description={**domain.description, "AuthMode": "SSO"})})
    assert make_plan(desired, observed).actions == ()
    renamed = replace(desired, profiles={**desired.profiles, "research/alice": replace(
        alice, sso=SingleSignOnSpec("alice@corp.example.com"))})
    (problem,) = make_plan(renamed, observed).problems
    assert problem.startswith("UserProfile/research/alice: SingleSignOnUserValue is "
                              "'alice@example.com' in AWS")


def test_profiles_the_desired_state_does_not_name_are_reported_not_hidden():
    desired = estate(TEAM)
    observed = replace(converged(desired), unmanaged_profiles=("research/zed", "research/amy"))
    plan = make_plan(desired, observed)
    assert plan.actions == ()
    assert ("Domain/research: 2 user profiles in the region are not in the desired state "
            "(unmanaged, left as they are): amy, zed") in plan.notes
    text = render_text(plan)
    assert "amy, zed" in text and "matches the desired state" not in text
    assert any("unmanaged" in n for n in json.loads(render_json(plan))["notes"])

