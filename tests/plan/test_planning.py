"""make_plan: what is created, updated, reported, and in which order."""

from dataclasses import replace

from controller.model import Mode
from controller.observed import HomeCensus, ObservedDirectory, ObservedProfile
from controller.plan import Kind, Verb, make_plan
from controller.plan.render import render_json, render_text
from controller.plan.types import Ref
from tests.plan.estates import PRIMARY, REPLICA, converged, empty, estate

EXAMPLE = {"research": [("alice", 200101, 1001), ("bob", 200102, 1001)],
           "analytics": [("dave", 200201, 1001)]}


def test_an_empty_region_gets_every_directory_domain_and_profile_created_in_order():
    plan = make_plan(estate(EXAMPLE), empty())
    assert [(a.name, a.key.name) for a in plan.actions] == [
        ("CreateDirectory", "efs:/home/analytics/dave"),
        ("CreateDirectory", "efs:/home/research/alice"),
        ("CreateDirectory", "efs:/home/research/bob"),
        ("CreateDirectory", "efs:/shared/data"),
        ("CreateDirectory", "efs:/teams/analytics"),
        ("CreateDirectory", "efs:/teams/research"),
        ("CreateDomain", "analytics"),
        ("CreateDomain", "research"),
        ("CreateUserProfile", "analytics/dave"),
        ("CreateUserProfile", "research/alice"),
        ("CreateUserProfile", "research/bob"),
    ]
    assert all(a.verb is Verb.CREATE for a in plan.actions)
    assert plan.problems == ()


def test_a_new_profile_carries_its_posix_ids_and_all_its_shares():
    plan = make_plan(estate(EXAMPLE), empty())
    alice = next(a for a in plan.actions if a.key.name == "research/alice")
    settings = alice.params["UserSettings"]
    assert settings["CustomPosixUserConfig"] == {"Uid": 200101, "Gid": 1001}
    # home, team and data are three shares on one file system: one entry (Studio mounts a
    # file system once), at the deepest directory above all three.
    assert settings["CustomFileSystemConfigs"] == [
        {"EFSFileSystemConfig": {"FileSystemId": "fs-1", "FileSystemPath": "/"}}]
    # The domain is created by the same plan: its id is known only after apply.
    assert str(alice.params["DomainId"]) == "(known after apply)"


def test_a_converged_region_plans_nothing():
    desired = estate(EXAMPLE)
    plan = make_plan(desired, converged(desired))
    assert plan.actions == () and plan.problems == ()
    assert "No changes" in render_text(plan)


def test_a_changed_uid_is_one_update_with_the_field_before_and_after():
    desired = estate(EXAMPLE)
    observed = converged(desired)
    # What observe counts in alice's home while her ids change (see test_home_ownership).
    home = ("efs", "/home/research/alice")
    dirs = {**observed.directories, home: replace(observed.directories[home], census=HomeCensus(
        200101, 1001, to_reown=12, current=0, others=0, linked=0))}
    observed = replace(observed, directories=dirs)
    moved = estate({**EXAMPLE, "research": [("alice", 200999, 1001), ("bob", 200102, 1001)]})
    plan = make_plan(moved, observed)
    updates = [a for a in plan.actions if a.key.kind == Kind.USER_PROFILE]
    assert len(updates) == 1 and updates[0].name == "UpdateUserProfile"
    assert [(c.path, c.observed, c.desired) for c in updates[0].changes] == [
        ("UserSettings.CustomPosixUserConfig.Uid", 200101, 200999)]
    # What AWS holds is sent back with the change laid over it, so nothing else is lost.
    held = observed.profiles["research/alice"].description["UserSettings"]
    assert updates[0].params["UserSettings"] == {
        **held, "CustomPosixUserConfig": {"Uid": 200999, "Gid": 1001}}
    # alice's whole home must now belong to the new uid, before SageMaker says so
    ownership = [a for a in plan.actions if a.key.kind == Kind.DIRECTORY]
    assert [(a.name, a.key.name) for a in ownership] == [
        ("ReownHome", "efs:/home/research/alice")]
    assert [str(ref) for ref in updates[0].after] == ["(known after apply)"]
    text = render_text(plan)
    assert "~ UserProfile/research/alice" in text and "200101 -> 200999" in text
    assert '~ Entries: "12 owned by uid 200101" -> "12 re-owned to 200999:1001"' in text
    assert "(after Directory/efs:/home/research/alice in this pass)" in text


def test_a_profile_missing_from_the_desired_state_is_never_deleted():
    desired = estate(EXAMPLE)
    observed = converged(desired)
    fewer = estate({**EXAMPLE, "research": [("alice", 200101, 1001)]})
    plan = make_plan(fewer, observed)
    assert plan.actions == ()


def test_a_symlink_where_a_share_directory_should_be_is_a_problem_not_an_action():
    desired = estate(EXAMPLE)
    observed = converged(desired)
    dirs = dict(observed.directories)
    dirs[("efs", "/home/research/bob")] = ObservedDirectory("symlink", blocked_at="/home/research")
    plan = make_plan(desired, replace(observed, directories=dirs))
    assert plan.actions == ()
    assert len(plan.problems) == 1 and "/home/research is a symlink" in plan.problems[0]


def test_unresolved_references_are_problems_naming_the_resource():
    desired = estate(EXAMPLE)
    refs = replace(empty().references, vpcs={"studio-vpc": None})
    plan = make_plan(desired, replace(empty(), references=refs))
    assert not any(a.key.kind in (Kind.DOMAIN, Kind.USER_PROFILE) for a in plan.actions)
    assert "Domain/research: VPC studio-vpc not found in us-east-1 (looked up by its Name tag)" \
        in plan.problems


def test_the_standby_region_of_an_active_passive_estate_plans_nothing():
    desired = estate(EXAMPLE)
    assert desired.estate.mode is Mode.ACTIVE_PASSIVE
    plan = make_plan(desired, empty(REPLICA))
    assert plan.role == "standby" and plan.actions == () and plan.notes


def test_json_output_is_an_object_with_an_actions_list():
    import json

    plan = make_plan(estate(EXAMPLE), empty())
    document = json.loads(render_json(plan))
    assert document["region"] == PRIMARY
    assert len(document["actions"]) == len(plan.actions)
    assert document["summary"] == {"create": len(plan.actions), "update": 0, "delete": 0}
    profile = document["actions"][-1]
    assert profile["params"]["DomainId"] == {"ref": "Domain/research.DomainId"}


def test_profile_drift_in_a_setting_aws_defaults_is_ignored():
    desired = estate(EXAMPLE)
    observed = converged(desired)
    profiles = dict(observed.profiles)
    alice = profiles["research/alice"]
    settings = {**alice.description["UserSettings"], "DefaultLandingUri": "studio::"}
    profiles["research/alice"] = ObservedProfile(
        alice.domain_id, alice.name, alice.status, None,
        {**alice.description, "UserSettings": settings})
    assert make_plan(desired, replace(observed, profiles=profiles)).actions == ()


def _with_file_system(observed, remote="keep", **changes):
    fs = replace(observed.references.file_systems["efs"], **changes)
    remotes = dict(observed.references.remote_file_systems)
    if remote is None:
        remotes["efs"] = None
    elif remote == "unreadable":
        remotes.pop("efs", None)
    elif remote != "keep":
        remotes["efs"] = remote
    return replace(observed, references=replace(observed.references, file_systems={"efs": fs},
                                                remote_file_systems=remotes))


def test_an_active_file_system_that_does_not_replicate_gets_a_new_replica():
    desired = estate(EXAMPLE)
    plan = make_plan(desired, _with_file_system(converged(desired), replication=None,
                                                remote=None))
    assert [(a.name, a.key.kind, a.key.name) for a in plan.actions] == [
        ("EnsureReplication", Kind.REPLICATION, "efs")]
    assert plan.actions[0].params["DestinationRegion"] == REPLICA
    assert "DestinationFileSystemId" not in plan.actions[0].params


def test_replication_never_targets_an_existing_copy_until_it_was_made_ready_for_it():
    from controller.observed import ObservedFileSystem

    desired = estate(EXAMPLE)
    old_copy = ObservedFileSystem("fs-9", "available", "studio-efs", "ENABLED")
    waiting = make_plan(desired, _with_file_system(converged(desired), replication=None,
                                                   remote=old_copy))
    assert waiting.actions == ()
    assert any("waits until that region is fenced" in n for n in waiting.notes)
    ready = make_plan(desired, _with_file_system(
        converged(desired), replication=None,
        remote=replace(old_copy, replication_overwrite_protection="DISABLED")))
    assert [a.name for a in ready.actions] == ["EnsureReplication"]
    assert ready.actions[0].params["DestinationFileSystemId"] == "fs-9"
    unreadable = make_plan(desired, _with_file_system(converged(desired), replication=None,
                                                      remote="unreadable"))
    assert unreadable.actions == ()


def test_when_the_active_regions_copy_is_still_a_replica_it_is_promoted_before_directories():
    from controller.observed import ObservedReplication

    desired = replace(estate(EXAMPLE), estate=replace(estate(EXAMPLE).estate,
                                                      active_region=REPLICA))
    replica = ObservedReplication("fs-1", PRIMARY, "fs-2", REPLICA, "ENABLED")
    observed = _with_file_system(replace(empty(), region=REPLICA), file_system_id="fs-2",
                                 replication=replica)
    plan = make_plan(desired, observed)
    assert plan.role == "active"
    assert plan.actions[0].name == "PromoteReplica"
    assert plan.actions[0].params == {"FileSystemId": "fs-2", "SourceFileSystemId": "fs-1",
                                      "SourceRegion": PRIMARY,
                                      "DeletionMode": "ALL_CONFIGURATIONS"}
    assert not any(a.key.kind == Kind.DIRECTORY for a in plan.actions)
    assert any("wait until the copy is writable" in n for n in plan.notes)
    # domains and profiles are made meanwhile: they only refer to the file system id
    assert {a.name for a in plan.actions} >= {"CreateDomain", "CreateUserProfile"}


def test_without_root_directory_owners_are_not_compared_but_modes_are():
    desired = estate(EXAMPLE)
    observed = converged(desired)
    dirs = {key: replace(seen, uid=1000, gid=1000) for key, seen in observed.directories.items()}
    dirs[("efs", "/teams/research")] = replace(dirs[("efs", "/teams/research")], mode=0o777)
    not_root = replace(observed, directories=dirs, can_set_owners=False)
    plan = make_plan(desired, not_root)
    assert [(a.name, a.key.name, [c.path for c in a.changes]) for a in plan.actions] == [
        ("SetDirectoryOwnership", "efs:/teams/research", ["Mode"])]
    assert any("not running as root" in n for n in plan.notes)
    # As root, a directory owned by someone else is not handed over: it is reported.
    as_root = make_plan(desired, replace(not_root, can_set_owners=True))
    assert as_root.actions == ()
    assert len(as_root.problems) == len(desired.share_directories())
    assert all("exists owned by 1000:1000" in p for p in as_root.problems)


def test_a_domain_that_backs_spaces_up_gets_lifecycle_configs_and_per_profile_folders():
    from controller.model import ShareScope, ShareSpec, SpaceBackupSpec

    base = estate(EXAMPLE)
    backups = ShareSpec("backups", "efs", ShareScope.DOMAIN, "/backups/{domain}", 0o755)
    research = replace(base.domains["research"],
                       shares=(*base.domains["research"].shares, "backups"),
                       space_backup=SpaceBackupSpec(True, "backups"))
    desired = replace(base, shares={**base.shares, "backups": backups},
                      domains={**base.domains, "research": research})
    # the scripts name the file system, so it needs a real-looking id
    observed = replace(_with_file_system(empty(), file_system_id="fs-0123456789abcdef0"),
                       lifecycle_configs={})
    plan = make_plan(desired, observed)
    configs = [a for a in plan.actions if a.name == "EnsureLifecycleConfig"]
    assert sorted(a.params["StudioLifecycleConfigAppType"] for a in configs) == [
        "CodeEditor", "JupyterLab"]
    domain = next(a for a in plan.actions if a.name == "CreateDomain"
                  and a.key.name == "research").params
    jupyter = domain["DefaultUserSettings"]["JupyterLabAppSettings"]
    lab = next(a.key.name for a in configs if a.params["StudioLifecycleConfigAppType"]
               == "JupyterLab")
    # Not built by hand: the ARN CreateStudioLifecycleConfig will return.
    assert jupyter["DefaultResourceSpec"]["LifecycleConfigArn"] == Ref(
        Kind.LIFECYCLE_CONFIG, lab, "StudioLifecycleConfigArn")
    folders = {a.key.name: a.params for a in plan.actions if a.key.kind == Kind.DIRECTORY}
    assert folders["efs:/backups/research/alice"]["Uid"] == 200101
    assert folders["efs:/backups/research/alice"]["Mode"] == "0700"
    assert "efs:/backups/analytics" not in folders, "analytics does not back up"
    # configs that exist already are not planned again
    arns = {a.key.name: f"arn:aws-cn:sagemaker:cn-north-1:123456789012:"
            f"studio-lifecycle-config/{a.key.name}" for a in configs}
    again = make_plan(desired, replace(observed, lifecycle_configs=arns))
    assert not any(a.name == "EnsureLifecycleConfig" for a in again.actions)
    domain = next(a for a in again.actions if a.name == "CreateDomain"
                  and a.key.name == "research").params
    assert domain["DefaultUserSettings"]["JupyterLabAppSettings"]["LifecycleConfigArns"] == [
        arns[lab]]
