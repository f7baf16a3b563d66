"""What may run at once in a pass: kinds in stages, profiles behind their own domain
only, one resource never twice at once, the failover's steps one at a time, and every
action behind the actions whose results it uses."""

from __future__ import annotations

from hypothesis import given, settings

from controller.model import DesiredState
from controller.plan import make_plan
from controller.plan.ordering import STAGE, prerequisites
from controller.plan.types import Action, Kind, Ref, ResourceKey, Verb
from tests.plan.estates import empty, estates

REGION = "us-east-1"


def action(name: str, kind: Kind, key: str, params: dict | None = None,
           after: tuple[Ref, ...] = ()) -> Action:
    return Action(name, Verb.CREATE, ResourceKey(kind, REGION, key), (), params or {}, after)


def test_profiles_wait_for_their_own_domain_and_domains_for_mount_targets():
    plan = [
        action("CreateMountTarget", Kind.MOUNT_TARGET, "studio-efs/subnet-a"),
        action("CreateMountTarget", Kind.MOUNT_TARGET, "studio-efs/subnet-b"),
        action("CreateDomain", Kind.DOMAIN, "analytics"),
        action("CreateDomain", Kind.DOMAIN, "research"),
        action("CreateUserProfile", Kind.USER_PROFILE, "analytics/dave",
               {"DomainId": Ref(Kind.DOMAIN, "analytics", "DomainId")}),
        action("CreateUserProfile", Kind.USER_PROFILE, "research/alice",
               {"DomainId": Ref(Kind.DOMAIN, "research", "DomainId")}),
    ]
    needs = prerequisites(plan)
    # mount targets: each on its own, at once
    assert needs[0].actions == () and needs[1].actions == ()
    assert needs[0].stage == needs[1].stage == STAGE[Kind.MOUNT_TARGET]
    # domains: behind every mount target (their stage), not behind each other
    assert needs[2].stage == needs[3].stage == STAGE[Kind.DOMAIN] > STAGE[Kind.MOUNT_TARGET]
    assert needs[2].actions == needs[3].actions == ()
    # profiles: behind everything before domains, and their own domain only
    assert needs[4].stage == needs[5].stage == STAGE[Kind.DOMAIN]
    assert needs[4].actions == (2,) and needs[5].actions == (3,)


def test_one_resource_is_never_handled_twice_at_once_and_refs_are_waited_for():
    plan = [
        action("CreateNfsSecurityGroup", Kind.NFS_SECURITY_GROUP, "vpc-1"),
        action("AllowNfsIngress", Kind.NFS_SECURITY_GROUP, "vpc-1/ingress",
               {"GroupId": Ref(Kind.NFS_SECURITY_GROUP, "vpc-1", "GroupId")}),
        action("ReownHome", Kind.DIRECTORY, "studio-efs:/home/research/alice"),
        action("SetDirectoryOwnership", Kind.DIRECTORY, "studio-efs:/home/research/alice"),
        action("CreateDirectory", Kind.DIRECTORY, "studio-efs:/home/research/bob"),
        action("UpdateUserProfile", Kind.USER_PROFILE, "research/alice",
               after=(Ref(Kind.DIRECTORY, "studio-efs:/home/research/alice", "Reowned"),)),
    ]
    needs = prerequisites(plan)
    assert needs[1].actions == (0,), "the ingress rule needs the new group's id"
    assert needs[3].actions == (2,), "the same directory: one after the other"
    assert needs[4].actions == (), "another directory: at once"
    assert needs[5].actions == (2, 3), "behind the re-owning of its home (and its key)"


def test_the_failovers_steps_run_one_at_a_time_in_plan_order():
    plan = [
        action("CreateWorkingCopy", Kind.FILE_SYSTEM, "studio-efs/working-copy"),
        action("AttachWorkingCopy", Kind.FILE_SYSTEM, "other/working-copy"),
        action("PromoteReplica", Kind.REPLICATION, "studio-efs"),
        action("TagReplica", Kind.REPLICATION, "studio-efs/name-tag"),
        action("StopStudioApps", Kind.FENCE, "apps/research"),
        action("FenceFileSystem", Kind.FENCE, "studio-efs"),
    ]
    needs = prerequisites(plan)
    assert [n.actions for n in needs] == [(), (0,), (), (2,), (), (4,)]
    assert [n.stage for n in needs] == [STAGE[a.key.kind] for a in plan]


@settings(max_examples=60, deadline=None)
@given(estates())
def test_every_prerequisite_of_a_plan_is_earlier_in_it(desired: DesiredState):
    """No cycle is possible: the first action not started can always start once those
    before it have finished."""
    plan = make_plan(desired, empty())
    for index, needed in enumerate(prerequisites(plan.actions)):
        assert all(earlier < index for earlier in needed.actions)
        assert needed.stage <= STAGE[plan.actions[index].key.kind]
