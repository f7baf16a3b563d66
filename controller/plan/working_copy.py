"""Working copies in the plan: a writable file system filled from a replica by the copy
engine. Pure.

Strategy copy: when the flag makes this region active and its copy is still a replica,
the replica is kept as it is; a new file system is made (CreateWorkingCopy), filled
from it (FillWorkingCopy), then attached in its place (AttachWorkingCopy stops the
replication into the replica from this side and marks the working copy attached): from
then on it is this region's copy for shares, domains, profiles and replication.

active-active: the standby region's users work on a working copy of the replica (never
on the read-only replica), refreshed from it every FileSystem.workingCopyRefreshMinutes.
A refresh never overwrites a file that is newer in the working copy (reported as a
conflict) and never removes anything.
"""

from __future__ import annotations

from controller.fencing import WORKING_COPY_OF_TAG
from controller.model import DesiredState, FailoverStrategy, FileSystemSpec, Mode
from controller.observed import ObservedFileSystem, ObservedState, ResolvedReferences
from controller.plan.names import creation_token, derived_tag
from controller.plan.replication import ALL_CONFIGURATIONS, deletion_mode
from controller.plan.types import Action, Difference, Kind, ResourceKey, Verb


def serves_from_working_copy(desired: DesiredState, region: str, name: str) -> bool:
    """True where a logical file system is used through its working copy (not attached):
    the standby region of an active-active estate."""
    spec = desired.file_systems.get(name)
    return (spec is not None and spec.replicate and desired.estate.mode is Mode.ACTIVE_ACTIVE
            and region != desired.estate.active_region)


def taking_over(desired: DesiredState, region: str, refs: ResolvedReferences,
                name: str) -> bool:
    """True while strategy copy is making a working copy take over from the replica."""
    spec = desired.file_systems.get(name)
    found = refs.file_systems.get(name)
    working = refs.working_copies.get(name)
    return (spec is not None and spec.replicate and found is not None
            and region == desired.estate.active_region
            and desired.estate.failover_strategy is FailoverStrategy.COPY
            and (found.is_replica() or (working is not None and not working.attached)))


def serving_file_system(desired: DesiredState, region: str, refs: ResolvedReferences,
                        name: str) -> str | None:
    """The id share directories, domains and profiles use for `name` in `region`; None
    while there is none yet (or while a working copy is taking over)."""
    if serves_from_working_copy(desired, region, name):
        working = refs.working_copies.get(name)
        return working.file_system_id if working and working.copied_at else None
    if taking_over(desired, region, refs, name):
        return None
    found = refs.file_systems.get(name)
    return found.file_system_id if found else None


def waits_for_working_copy(desired: DesiredState, region: str, refs: ResolvedReferences,
                           name: str) -> bool:
    return serves_from_working_copy(desired, region, name) or taking_over(
        desired, region, refs, name)


def plan_working_copies(desired: DesiredState, observed: ObservedState,
                        actions: list[Action], notes: list[str]) -> set[str]:
    """Adds working copy actions; returns the file systems whose shares must wait."""
    region = observed.region
    waiting: set[str] = set()
    for name in sorted(desired.file_systems):
        spec = desired.file_systems[name]
        mine = observed.references.file_systems.get(name)
        working = observed.references.working_copies.get(name)
        if not spec.replicate or mine is None:
            continue
        if taking_over(desired, region, observed.references, name):
            waiting.add(name)
            _take_over(name, spec, mine, observed, actions)
        elif serves_from_working_copy(desired, region, name) and mine.is_replica():
            due = working is None or working.copied_at is None or (
                observed.observed_at - working.copied_at >= spec.refresh_minutes * 60)
            if working is None or working.copied_at is None:
                waiting.add(name)
                notes.append(f"FileSystem/{name}: {region}'s users get a working copy of "
                             f"the replica {mine.file_system_id}; shares wait for it")
            if due:
                _fill(name, spec, mine, observed, actions,
                      refresh=working is not None and working.copied_at is not None)
        if working is not None and not working.attached and not waits_for_working_copy(
                desired, region, observed.references, name):
            notes.append(f"FileSystem/{name}: the working copy {working.file_system_id} is not "
                         f"used in {region} any more (the region's role changed); it is kept "
                         "as it was, with whatever was written there since its last refresh")
    for name, replica in sorted(observed.references.superseded.items()):
        notes.append(f"FileSystem/{name}: {replica.file_system_id}, the replica the working "
                     "copy took over from, is kept as it was (never deleted)")
    return waiting


def _take_over(name: str, spec: FileSystemSpec, mine: ObservedFileSystem,
               observed: ObservedState, actions: list[Action]) -> None:
    working = observed.references.working_copies.get(name)
    if working is None or working.copied_at is None:
        _fill(name, spec, mine, observed, actions, refresh=False)
        return
    replication = mine.replication
    # By the source id observed, both sides unless the source's region is unreachable.
    mode = (deletion_mode(observed, replication) if replication is not None
            else ALL_CONFIGURATIONS)
    actions.append(Action(
        "AttachWorkingCopy", Verb.UPDATE, ResourceKey(Kind.FILE_SYSTEM, observed.region,
                                                      f"{name}/working-copy"),
        (Difference("Serves", working.file_system_id, mine.file_system_id),),
        {"FileSystemId": working.file_system_id, "ReplicaId": mine.file_system_id,
         "SourceFileSystemId": replication.source_file_system_id if replication else None,
         "DeletionMode": mode, "LogicalName": name}))


def _fill(name: str, spec: FileSystemSpec, replica: ObservedFileSystem,
          observed: ObservedState, actions: list[Action], refresh: bool) -> None:
    key = ResourceKey(Kind.FILE_SYSTEM, observed.region, f"{name}/working-copy")
    working = observed.references.working_copies.get(name)
    if working is None:
        tag = replica.name_tag or name
        params = {"CreationToken": creation_token(name, "working-copy", replica.file_system_id),
                  "PerformanceMode": "generalPurpose", "ThroughputMode": "elastic",
                  "Encrypted": True,
                  "Tags": [{"Key": "Name", "Value": derived_tag(tag, "working-copy")},
                           {"Key": WORKING_COPY_OF_TAG, "Value": name}]}
        actions.append(Action("CreateWorkingCopy", Verb.CREATE, key,
                              (Difference("WorkingCopy", f"a writable copy of "
                                                         f"{replica.file_system_id}", None),),
                              params))
        return
    actions.append(Action(
        "FillWorkingCopy", Verb.UPDATE, key,
        (Difference("Content", f"as {replica.file_system_id}",
                    "last refreshed" if refresh else "empty"),),
        {"FileSystemId": working.file_system_id, "ReplicaId": replica.file_system_id,
         "LogicalName": name, "Refresh": refresh}))
