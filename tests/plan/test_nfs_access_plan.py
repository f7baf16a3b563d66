"""Planning what Studio needs to mount a file system (plan.nfs_access, plan.mount_targets).
Pure: made-up observations, no AWS."""

from __future__ import annotations

import json
from dataclasses import replace

from controller.model import NetworkSpec
from controller.observed import ObservedMountTarget, ObservedNfsAccess
from controller.plan import make_plan
from controller.plan.render import render_json, render_text
from controller.plan.types import Kind, Ref
from tests.plan.estates import PRIMARY, REPLICA, empty, estate

DOMAINS = {"research": [("alice", 200101, 1001)]}
SUBNETS = {"subnet-a": ("vpc-1", "us-east-1a"), "subnet-b": ("vpc-1", "us-east-1b")}
GROUP = "sg-nfs"  # the operator's group, once made


def target(subnet: str, state: str = "available", groups: tuple[str, ...] = (GROUP,),
           vpc: str = "vpc-1") -> ObservedMountTarget:
    return ObservedMountTarget(f"fsmt-{subnet[-1]}", subnet, SUBNETS.get(
        subnet, (vpc, "us-east-1c"))[1], vpc, state, groups)


READY = ObservedNfsAccess(
    mount_targets={"fs-1": (target("subnet-a"), target("subnet-b"))},
    subnets=SUBNETS, nfs_sources={GROUP: frozenset({"sg-1"})},
    operator_groups={"vpc-1": GROUP})


def plan_with(nfs: ObservedNfsAccess | None, desired=None):
    desired = desired or estate(DOMAINS)
    return make_plan(desired, replace(empty(PRIMARY), nfs=nfs))


def names(plan) -> list[str]:
    return [a.name for a in plan.actions]


def test_with_nothing_there_group_ingress_and_targets_come_first_and_studio_waits():
    plan = plan_with(ObservedNfsAccess(subnets=SUBNETS))
    assert names(plan)[:4] == ["CreateNfsSecurityGroup", "AllowNfsIngress",
                               "CreateMountTarget", "CreateMountTarget"]
    create, ingress, first, _ = plan.actions[:4]
    assert create.params == {"GroupName": "studio-operator-estate-nfs", "VpcId": "vpc-1",
                             "Estate": "estate"}
    made = Ref(Kind.NFS_SECURITY_GROUP, "studio-vpc/studio-operator-estate-nfs", "GroupId")
    assert ingress.params == {"GroupId": made, "SourceGroupId": "sg-1", "Port": 2049}
    assert first.params == {"FileSystemId": "fs-1", "SubnetId": "subnet-a",
                            "SecurityGroups": [made], "LogicalName": "efs"}
    assert str(first.key) == "MountTarget/efs/private-a"
    assert not {"CreateDomain", "CreateUserProfile"} & set(names(plan))
    waiting = dict(plan.waiting)
    assert set(waiting) == {"Domain/research", "UserProfile/research/alice"}
    assert any(n.startswith("Domain/research: its apps could not mount efs yet")
               for n in plan.notes)
    assert plan.problems == ()


def test_once_everything_is_in_place_nothing_is_planned_for_it_and_the_domain_comes():
    plan = plan_with(READY)
    assert not any(a.key.kind in (Kind.NFS_SECURITY_GROUP, Kind.MOUNT_TARGET)
                   for a in plan.actions)
    assert {"CreateDomain", "CreateUserProfile"} <= set(names(plan))
    assert plan.waiting == ()


def test_a_mount_target_still_creating_is_awaited_and_the_domain_waits():
    nfs = replace(READY, mount_targets={"fs-1": (target("subnet-a", "creating"),
                                                 target("subnet-b"))})
    plan = plan_with(nfs)
    (wait,) = [a for a in plan.actions if a.key.kind == Kind.MOUNT_TARGET]
    assert (wait.name, wait.params["MountTargetId"]) == ("AwaitMountTarget", "fsmt-a")
    assert "is creating" in dict(plan.waiting)["Domain/research"]
    assert "CreateDomain" not in names(plan)


def test_an_adopted_mount_target_keeps_its_groups_and_gains_the_nfs_group():
    nfs = replace(READY, mount_targets={"fs-1": (target("subnet-a", groups=("sg-own",)),
                                                 target("subnet-b"))})
    (add,) = [a for a in plan_with(nfs).actions if a.key.kind == Kind.MOUNT_TARGET]
    assert add.name == "AddMountTargetSecurityGroups"
    assert add.params == {"MountTargetId": "fsmt-a", "SecurityGroups": ["sg-own", GROUP]}


def test_efs_limits_are_problems_not_work_arounds():
    full = tuple(f"sg-{i}" for i in range(5))
    plan = plan_with(replace(READY, mount_targets={"fs-1": (target("subnet-a", groups=full),
                                                            target("subnet-b"))}))
    assert any("would pass EFS's limit of 5" in p for p in plan.problems)
    elsewhere = replace(READY, mount_targets={"fs-1": (target("subnet-z", vpc="vpc-9"),)})
    plan = plan_with(elsewhere)
    assert any(p.startswith("MountTarget/efs/private-a: efs (fs-1) has its mount targets in "
                            "vpc-9") for p in plan.problems)
    assert not any(a.name == "CreateMountTarget" for a in plan.actions)
    same_zone = replace(READY, subnets={"subnet-a": ("vpc-1", "us-east-1a"),
                                        "subnet-b": ("vpc-1", "us-east-1a")})
    plan = plan_with(same_zone)
    assert any("are both in us-east-1a" in p for p in plan.problems)
    assert "CreateDomain" not in names(plan)


def test_a_named_nfs_group_is_used_and_one_that_does_not_resolve_is_a_problem():
    desired = estate(DOMAINS)
    named = NetworkSpec("studio-vpc", ("private-a", "private-b"), ("nfs",), "team-nfs")
    domain = replace(desired.domains["research"], networks={PRIMARY: named, REPLICA: named})
    desired = replace(desired, domains={"research": domain})
    plan = plan_with(READY, desired)
    assert any("NFS security group team-nfs not found" in p for p in plan.problems)
    observed = replace(empty(PRIMARY), nfs=READY)
    refs = replace(observed.references, security_groups={
        **observed.references.security_groups, ("studio-vpc", "team-nfs"): "sg-team"})
    plan = make_plan(desired, replace(observed, references=refs))
    adds = [a for a in plan.actions if a.name == "AddMountTargetSecurityGroups"]
    assert [a.params["SecurityGroups"] for a in adds] == [[GROUP, "sg-team"]] * 2
    (ingress,) = [a for a in plan.actions if a.name == "AllowNfsIngress"]
    assert ingress.params["GroupId"] == "sg-team"


def test_nothing_is_planned_where_the_network_was_not_looked_at():
    plan = plan_with(None)
    assert not any(a.key.kind in (Kind.NFS_SECURITY_GROUP, Kind.MOUNT_TARGET)
                   for a in plan.actions)
    assert "CreateDomain" in names(plan)


def test_a_plan_with_nothing_to_do_but_resources_waiting_does_not_claim_to_match():
    nfs = replace(READY, mount_targets={"fs-1": (target("subnet-a", "deleting"),
                                                 target("subnet-b"))})
    plan = make_plan(estate(DOMAINS), replace(empty(PRIMARY), nfs=nfs,
                                              directories_observed=False))
    assert plan.actions == () and plan.waiting
    text = render_text(plan)
    assert "No changes" not in text and "2 resource(s) wait" in text
    assert {w["resource"] for w in json.loads(render_json(plan))["waiting"]} == {
        "Domain/research", "UserProfile/research/alice"}


def test_a_domain_that_mounts_nothing_needs_no_nfs_group_and_an_unresolved_one_no_target():
    bare = plan_with(ObservedNfsAccess(subnets=SUBNETS), estate(DOMAINS, shares=()))
    assert not any(a.key.kind in (Kind.NFS_SECURITY_GROUP, Kind.MOUNT_TARGET)
                   for a in bare.actions)
    desired = estate(DOMAINS)
    named = NetworkSpec("studio-vpc", ("private-a", "private-b"), ("nfs",), "missing")
    domain = replace(desired.domains["research"], networks={PRIMARY: named, REPLICA: named})
    plan = plan_with(ObservedNfsAccess(subnets=SUBNETS),
                     replace(desired, domains={"research": domain}))
    assert not any(a.key.kind in (Kind.NFS_SECURITY_GROUP, Kind.MOUNT_TARGET)
                   for a in plan.actions)
    assert "NFS security group missing not found" in dict(plan.waiting)["Domain/research"]
