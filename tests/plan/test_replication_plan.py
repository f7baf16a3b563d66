"""Replication in the plan: promote by the observed source id, both sides unless the
source's region is unreachable; orphaned sides deleted; the replica's Name tag kept.
Pure: made-up observations, no AWS."""

from __future__ import annotations

from dataclasses import replace

from controller.observed import ObservedFileSystem, ObservedReplication
from controller.plan import make_plan
from tests.plan.estates import PRIMARY, REPLICA, converged, empty, estate

DOMAINS = {"research": [("alice", 200101, 1001)]}
REPLICATING = ObservedReplication("fs-1", PRIMARY, "fs-2", REPLICA, "ENABLED")


def _active_in_replica(unreachable: frozenset[str] = frozenset(), status: str = "ENABLED"):
    desired = estate(DOMAINS)
    desired = replace(desired, estate=replace(desired.estate, active_region=REPLICA))
    replica = ObservedFileSystem("fs-2", "available", "studio-efs", "REPLICATING",
                                 replace(REPLICATING, status=status))
    observed = empty(REPLICA)
    observed = replace(observed, unreachable_regions=unreachable, references=replace(
        observed.references, file_systems={"efs": replica}, remote_file_systems={}))
    return make_plan(desired, observed)


def test_a_replica_is_promoted_by_its_source_id_deleting_both_sides():
    (promote,) = [a for a in _active_in_replica().actions if a.name == "PromoteReplica"]
    assert promote.params["SourceFileSystemId"] == "fs-1"
    assert promote.params["DeletionMode"] == "ALL_CONFIGURATIONS"


def test_only_this_side_is_deleted_once_the_source_region_is_classified_unreachable():
    plan = _active_in_replica(unreachable=frozenset({PRIMARY}))
    (promote,) = [a for a in plan.actions if a.name == "PromoteReplica"]
    assert promote.params["DeletionMode"] == "LOCAL_CONFIGURATION_ONLY"


def test_a_promotion_under_way_is_planned_again_until_this_side_is_gone():
    plan = _active_in_replica(status="DELETING")
    assert [a.name for a in plan.actions if a.name == "PromoteReplica"] == ["PromoteReplica"]
    assert "efs" in plan.waiting_file_systems


def _active_in_primary(mine: ObservedFileSystem, theirs: ObservedFileSystem | None):
    desired = estate(DOMAINS)
    observed = converged(desired)
    refs = replace(observed.references, file_systems={"efs": mine},
                   remote_file_systems={"efs": theirs})
    return make_plan(desired, replace(observed, references=refs))


SOURCE = ObservedFileSystem("fs-1", "available", "studio-efs", "ENABLED", REPLICATING)
REPLICA_COPY = ObservedFileSystem("fs-2", "available", "studio-efs", "REPLICATING", REPLICATING)


def test_an_active_source_whose_destination_left_deletes_its_orphaned_side():
    orphan = replace(SOURCE, replication=replace(REPLICATING, status="ERROR"))
    promoted_there = replace(REPLICA_COPY, replication=None,
                             replication_overwrite_protection="ENABLED")
    plan = _active_in_primary(orphan, promoted_there)
    (delete,) = [a for a in plan.actions if a.name == "DeleteOrphanedReplication"]
    assert delete.params == {"SourceFileSystemId": "fs-1", "DestinationFileSystemId": "fs-2",
                             "DeletionMode": "LOCAL_CONFIGURATION_ONLY", "LogicalName": "efs"}
    # A healthy configuration is left alone, and so is one whose other side is unknown.
    assert not any(a.name == "DeleteOrphanedReplication"
                   for a in _active_in_primary(SOURCE, REPLICA_COPY).actions)
    unread = make_plan(estate(DOMAINS), replace(converged(estate(DOMAINS)), references=replace(
        converged(estate(DOMAINS)).references, file_systems={"efs": orphan},
        remote_file_systems={})))
    assert not any(a.name == "DeleteOrphanedReplication" for a in unread.actions)


def test_a_replica_that_lost_its_name_tag_is_tagged_again():
    untagged = replace(REPLICA_COPY, name_tag=None)
    plan = _active_in_primary(SOURCE, untagged)
    (tag,) = [a for a in plan.actions if a.name == "TagReplica"]
    assert tag.params == {"FileSystemId": "fs-2", "Region": REPLICA, "NameTag": "studio-efs",
                          "LogicalName": "efs"}
    assert not any(a.name == "TagReplica" for a in _active_in_primary(SOURCE,
                                                                      REPLICA_COPY).actions)
