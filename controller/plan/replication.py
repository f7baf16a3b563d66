"""Replication in the plan: keep the active region's file systems replicating to the
other region, and promote a replica when its region has become the active one.

Pure. The active region owns replication: it creates the configuration when none
exists, and, when its own copy is still the read-only destination of one (the flag has
just been flipped), plans PromoteReplica (strategy promote) so the replica becomes
writable before any share directory is touched (strategy copy keeps the replica and
takes over with a working copy instead: plan.working_copy). It never replicates onto a file system
that already exists in the other region: that is failback, which needs fencing first.
"""

from __future__ import annotations

from controller.model import DesiredState, FailoverStrategy, FileSystemPlacement
from controller.observed import ObservedState
from controller.plan.types import Action, Difference, Kind, ResourceKey, Verb


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
            if replication.status == "DELETING":
                continue  # already being promoted; the next pass looks again
            actions.append(Action(
                "PromoteReplica", Verb.UPDATE, key,
                (Difference("Role", "writable source",
                            f"replica of {replication.source_file_system_id} in "
                            f"{replication.source_region}"),),
                {"FileSystemId": found.file_system_id,
                 "SourceFileSystemId": replication.source_file_system_id,
                 "SourceRegion": replication.source_region}))
        elif replication is None:
            _ensure_replication(name, spec.placement_in(region), found.file_system_id, other,
                                observed, actions, notes)
        elif replication.destination_region != other:
            problems.append(f"Replication/{name}: {found.file_system_id} replicates to "
                            f"{replication.destination_region}, not to {other}")
    return promoting


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
