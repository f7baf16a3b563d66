"""Replication in the plan: keep the active region's file systems replicating to the
other region, and promote a replica when its region has become the active one.

Pure. The active region owns replication: it creates the configuration when none
exists, keeps the replica's Name tag (the other region finds its copy by it), and, when
its own copy is still the read-only destination of one (the flag has just been flipped),
plans PromoteReplica (strategy promote) so the replica becomes writable before any share
directory is touched (strategy copy keeps the replica and takes over with a working copy
instead: plan.working_copy). A configuration is deleted by the source id it was observed
with, both sides (ALL_CONFIGURATIONS), or only this side (LOCAL_CONFIGURATION_ONLY) once
the source's region has been classified unreachable (controller.loop.reachability).
The side left behind then is an orphan: its region deletes it when it finds that the
file system it replicates to is no longer its replica (DeleteOrphanedReplication), in
either role, before anything else is built on it. It never replicates onto a file
system that already exists in the other region: that is failback, which needs fencing
first.
"""

from __future__ import annotations

from controller.model import DesiredState, FailoverStrategy, FileSystemPlacement
from controller.observed import ObservedFileSystem, ObservedReplication, ObservedState
from controller.plan.types import Action, Difference, Kind, ResourceKey, Verb

ALL_CONFIGURATIONS, LOCAL_CONFIGURATION_ONLY = "ALL_CONFIGURATIONS", "LOCAL_CONFIGURATION_ONLY"


def plan_replication(desired: DesiredState, observed: ObservedState, actions: list[Action],
                     problems: list[str], notes: list[str]) -> set[str]:
    """Adds replication actions; returns the file systems still being promoted (their
    directories wait until they are writable)."""
    region = observed.region
    other = desired.estate.replica_region if region == desired.estate.primary_region else (
        desired.estate.primary_region)
    promoting: set[str] = set()
    for name in sorted(desired.file_systems):
        spec = desired.file_systems[name]
        found = observed.references.file_systems.get(name)
        if not spec.replicate or found is None:
            continue
        key = ResourceKey(Kind.REPLICATION, region, name)
        replication = found.replication
        if found.is_replica() and replication is not None:
            promoting.add(name)
            if desired.estate.failover_strategy is not FailoverStrategy.PROMOTE:
                continue  # strategy copy: the replica is kept; plan.working_copy takes over
            # Planned again while DELETING: the action is done only once this side says
            # ReplicationNotFound, so the failover's phase waits for it.
            mode = deletion_mode(observed, replication)
            actions.append(Action(
                "PromoteReplica", Verb.UPDATE, key,
                (Difference("Role", "writable source",
                            f"replica of {replication.source_file_system_id} in "
                            f"{replication.source_region}"),
                 Difference("DeletionMode", mode, None)),
                {"FileSystemId": found.file_system_id,
                 "SourceFileSystemId": replication.source_file_system_id,
                 "SourceRegion": replication.source_region, "DeletionMode": mode}))
        elif replication is None:
            _ensure_replication(name, spec.placement_in(region), found.file_system_id, other,
                                observed, actions, notes)
        elif name in orphans(desired, observed):
            actions.append(delete_orphan(name, region, found, replication))
        elif replication.destination_region != other:
            problems.append(f"Replication/{name}: {found.file_system_id} replicates to "
                            f"{replication.destination_region}, not to {other}")
        elif name not in observed.references.remote_file_systems:
            notes.append(f"Replication/{name}: {other} could not be read; the replica's "
                         "Name tag is looked at again next pass")
        else:
            _keep_replica_name(name, spec.placement_in(region), observed, actions)
    return promoting


def deletion_mode(observed: ObservedState, replication: ObservedReplication) -> str:
    """Both sides, unless the source's region has been classified unreachable."""
    return (LOCAL_CONFIGURATION_ONLY if replication.source_region in observed.unreachable_regions
            else ALL_CONFIGURATIONS)


def orphans(desired: DesiredState, observed: ObservedState) -> set[str]:
    """Replicated file systems whose copy here is an orphaned source (see `orphaned`);
    only decided when the other region was read this pass."""
    found = set()
    remote = observed.references.remote_file_systems
    for name, mine in observed.references.file_systems.items():
        if (mine is not None and name in remote and desired.file_systems[name].replicate
                and orphaned(mine, remote[name])):
            found.add(name)
    return found


def plan_orphan_cleanup(desired: DesiredState, observed: ObservedState,
                        actions: list[Action], notes: list[str]) -> set[str]:
    """The standby's part: delete an old copy's orphaned side before failback starts
    (nothing can replicate into a file system still configured as a source)."""
    found = orphans(desired, observed)
    for name in sorted(found):
        mine = observed.references.file_systems[name]
        assert mine is not None and mine.replication is not None  # orphans() checked
        actions.append(delete_orphan(name, observed.region, mine, mine.replication))
        notes.append(f"Replication/{name}: {mine.file_system_id} is still configured to "
                     f"replicate to {mine.replication.destination_file_system_id}, whose "
                     "side was deleted while this region was unreachable; this side is "
                     "deleted before failback")
    return found


def orphaned(mine: ObservedFileSystem, theirs: ObservedFileSystem | None) -> bool:
    """True when `mine` is still configured as the source of a replication into a file
    system that is no longer its replica (that side was deleted on its own)."""
    replication = mine.replication
    if replication is None or replication.source_file_system_id != mine.file_system_id:
        return False
    if theirs is None or theirs.file_system_id != replication.destination_file_system_id:
        return False
    return theirs.replication is None or (
        theirs.replication.source_file_system_id != mine.file_system_id)


def delete_orphan(name: str, region: str, mine: ObservedFileSystem,
                  replication: ObservedReplication) -> Action:
    """Delete this region's leftover side; there is no other side to reach any more."""
    return Action(
        "DeleteOrphanedReplication", Verb.DELETE, ResourceKey(Kind.REPLICATION, region, name),
        (Difference("Replication", None,
                    f"{mine.file_system_id} -> {replication.destination_file_system_id} in "
                    f"{replication.destination_region} ({replication.status}: that side "
                    "was deleted)"),),
        {"SourceFileSystemId": mine.file_system_id,
         "DestinationFileSystemId": replication.destination_file_system_id,
         "DeletionMode": LOCAL_CONFIGURATION_ONLY, "LogicalName": name})


def _keep_replica_name(name: str, placement: FileSystemPlacement | None,
                       observed: ObservedState, actions: list[Action]) -> None:
    """The other region finds its copy by the Name tag: put it back when it has gone."""
    replica = observed.references.remote_file_systems.get(name)
    tag = placement.name_tag if placement else None
    if replica is None or not tag or replica.name_tag == tag:
        return
    replication = replica.replication
    if replication is None or replication.destination_file_system_id != replica.file_system_id:
        return
    actions.append(Action(
        "TagReplica", Verb.UPDATE,
        ResourceKey(Kind.REPLICATION, observed.region, f"{name}/name-tag"),
        (Difference("Tags.Name", tag, replica.name_tag),),
        {"FileSystemId": replica.file_system_id, "Region": replication.destination_region,
         "NameTag": tag, "LogicalName": name}))


def _ensure_replication(name: str, placement: FileSystemPlacement | None, source: str,
                        other: str, observed: ObservedState, actions: list[Action],
                        notes: list[str]) -> None:
    """Replicate to a new replica, or into the other region's copy once that region has
    made it ready (fenced, unsaved writes kept, overwrite protection turned off)."""
    if name not in observed.references.remote_file_systems:
        notes.append(f"Replication/{name}: {other} could not be read; replication is "
                     "looked at again next pass")
        return
    remote = observed.references.remote_file_systems[name]
    params = {"SourceFileSystemId": source, "DestinationRegion": other,
              "NameTag": placement.name_tag if placement else None, "LogicalName": name}
    key = ResourceKey(Kind.REPLICATION, observed.region, name)
    if remote is None:
        actions.append(Action("EnsureReplication", Verb.CREATE, key,
                              (Difference("Destination", f"a new replica in {other}", None),),
                              params))
    elif remote.replication_overwrite_protection == "DISABLED":
        actions.append(Action(
            "EnsureReplication", Verb.CREATE, key,
            (Difference("Destination", f"{remote.file_system_id} in {other} (failback)",
                        None),),
            {**params, "DestinationFileSystemId": remote.file_system_id}))
    else:
        notes.append(f"Replication/{name}: {other} still holds {remote.file_system_id}; "
                     "replication back to it waits until that region is fenced and has "
                     "turned its overwrite protection off (failback)")
