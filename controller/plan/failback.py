"""Fencing and failback in the plan: make an old active region's copy safe to overwrite.

Pure. When the flag has moved away from a region, its copy of a replicated file system
is no longer a replica: it is the old active copy, and people may have written to it
after the failover. Before the new active region may replicate onto it, this region's
controller deletes the orphaned replication configuration its copy may still hold
(plan.replication), waits until the new active region has recorded its takeover
(plan.takeover: nothing is stopped before that), then, in order, one pass after the
other:

1. fences it: stops the region's Studio apps (StopStudioApps, per domain) and denies NFS
   writes through the file system policy (FenceFileSystem);
2. once fenced and every app has stopped, and the active region's copy is writable,
   saves whatever the old copy holds that the active copy does not hold the same into
   a recovery folder on the active copy (SaveUnreplicatedWrites);
3. once that folder is complete, turns its overwrite protection off
   (AllowReplicationOverwrite): the explicit signal the active region waits for
   (plan.replication) before replicating back into it.

In the active region, the reverse: a copy promoted back is un-fenced (LiftFence) and
gets its overwrite protection back (EnableOverwriteProtection) if a failback was given
up half-way; share directories on it wait until it is writable. EFS's own lost+found
folders on the active copies are surfaced as notes every pass, never touched.
"""

from __future__ import annotations

from controller.fencing import RECOVERY_ROOT, recovery_folder
from controller.model import DesiredState
from controller.observed import ObservedFileSystem, ObservedState
from controller.plan.replication import plan_orphan_cleanup
from controller.plan.takeover import awaiting_takeover
from controller.plan.types import Action, Difference, Kind, ResourceKey, Verb


def plan_fencing(desired: DesiredState, observed: ObservedState, actions: list[Action],
                 problems: list[str], notes: list[str]) -> None:
    """The standby region's part: fence the old active copies and make them ready."""
    region = observed.region
    other = desired.estate.active_region
    old_copies = _old_copies(desired, observed)
    if not old_copies:
        return
    orphans = plan_orphan_cleanup(desired, observed, actions, notes)
    waiting = awaiting_takeover(desired, observed)
    if waiting:
        notes.append(f"Fence/takeover: {waiting}")
        return
    _stop_apps(observed, actions, notes)
    for name, mine in old_copies:
        if name in orphans:
            continue  # its orphaned configuration goes first; fenced next pass
        key = ResourceKey(Kind.FENCE, region, name)
        if mine.fenced_at is None:
            actions.append(Action(
                "FenceFileSystem", Verb.UPDATE, key,
                (Difference("Policy", "NFS writes denied (fenced)", "writable"),),
                {"FileSystemId": mine.file_system_id, "LogicalName": name}))
        waiting = _waiting_for(name, mine, observed, other)
        if waiting:
            notes.append(f"Fence/{name}: {waiting}")
            continue
        theirs = observed.references.remote_file_systems[name]
        assert theirs is not None and mine.fenced_at is not None  # _waiting_for checked
        state = observed.recoveries.get(name, "pending")
        folder = recovery_folder(mine.fenced_at, region, mine.file_system_id)
        where = f"{theirs.file_system_id}:/{RECOVERY_ROOT}/{folder}"
        if state == "unmounted":
            problems.append(
                f"Fence/{name}: the active copy {theirs.file_system_id} ({other}) is not "
                f"mounted at <efs root>/{theirs.file_system_id}, so what was written to "
                f"{mine.file_system_id} after the failover cannot be saved; replication "
                "back waits and nothing is overwritten")
        elif state != "saved":
            actions.append(Action(
                "SaveUnreplicatedWrites", Verb.CREATE,
                ResourceKey(Kind.FENCE, region, f"{name}/recovery"),
                (Difference("Recovery", f"files only {mine.file_system_id} holds, saved in "
                                        f"{where}", None),),
                {"FileSystemId": mine.file_system_id,
                 "ActiveFileSystemId": theirs.file_system_id, "Folder": folder,
                 "LogicalName": name}))
        elif mine.replication_overwrite_protection == "DISABLED":
            notes.append(f"Fence/{name}: {mine.file_system_id} is ready for failback "
                         f"(fenced, saved in {where}, overwrite protection off): waits for "
                         f"{other} to replicate into it")
        else:
            actions.append(Action(
                "AllowReplicationOverwrite", Verb.UPDATE,
                ResourceKey(Kind.FENCE, region, f"{name}/protection"),
                (Difference("ReplicationOverwriteProtection", "DISABLED",
                            mine.replication_overwrite_protection),),
                {"FileSystemId": mine.file_system_id, "LogicalName": name,
                 "Recovery": where}))


def plan_unfencing(desired: DesiredState, observed: ObservedState, actions: list[Action],
                   notes: list[str]) -> set[str]:
    """The active region's part; returns the file systems still fenced (their share
    directories wait until writes are allowed again)."""
    region = observed.region
    fenced: set[str] = set()
    for name in sorted(desired.file_systems):
        mine = observed.references.file_systems.get(name)
        if not desired.file_systems[name].replicate or mine is None or mine.is_replica():
            continue
        if mine.fenced_at is not None:
            fenced.add(name)
            actions.append(Action(
                "LiftFence", Verb.UPDATE, ResourceKey(Kind.FENCE, region, name),
                (Difference("Policy", "writable", "NFS writes denied (fenced)"),),
                {"FileSystemId": mine.file_system_id, "LogicalName": name}))
        if mine.replication_overwrite_protection == "DISABLED":
            actions.append(Action(
                "EnableOverwriteProtection", Verb.UPDATE,
                ResourceKey(Kind.FENCE, region, f"{name}/protection"),
                (Difference("ReplicationOverwriteProtection", "ENABLED", "DISABLED"),),
                {"FileSystemId": mine.file_system_id, "LogicalName": name}))
    for name, folders in sorted(observed.lost_and_found.items()):
        fs = observed.references.file_systems.get(name)
        fs_id = fs.file_system_id if fs else name
        notes.append(f"FileSystem/{name}: EFS left {', '.join(folders)} at the root of "
                     f"{fs_id}: data it was replicating when the replica was promoted; "
                     "look through it, the operator never removes it")
    return fenced


def _old_copies(desired: DesiredState,
                observed: ObservedState) -> list[tuple[str, ObservedFileSystem]]:
    copies = []
    for name in sorted(desired.file_systems):
        mine = observed.references.file_systems.get(name)
        if desired.file_systems[name].replicate and mine is not None and not mine.is_replica():
            copies.append((name, mine))
    return copies


def _stop_apps(observed: ObservedState, actions: list[Action], notes: list[str]) -> None:
    by_domain: dict[str, list[dict[str, str]]] = {}
    stopping: set[str] = set()
    for app in observed.running_apps:
        if app.status == "Deleting":
            stopping.add(app.domain)
            continue
        owner = ({"UserProfileName": app.user_profile} if app.user_profile
                 else {"SpaceName": app.space or ""})
        by_domain.setdefault(app.domain, []).append(
            {"DomainId": app.domain_id, "AppType": app.app_type, "AppName": app.app_name,
             **owner})
    for domain, apps in sorted(by_domain.items()):
        actions.append(Action(
            "StopStudioApps", Verb.DELETE,
            ResourceKey(Kind.FENCE, observed.region, f"apps/{domain}"),
            (Difference("RunningApps", 0, len(apps)),),
            {"Domain": domain, "Apps": apps}))
    for domain in sorted(stopping - set(by_domain)):
        notes.append(f"Fence/apps/{domain}: Studio apps are stopping")


def _waiting_for(name: str, mine: ObservedFileSystem, observed: ObservedState,
                 other: str) -> str | None:
    """Why saving and opening the old copy must wait this pass (None: it need not)."""
    if mine.replication is not None:
        return (f"{mine.file_system_id} still replicates to {other}; failback waits until "
                f"{other} has promoted its replica")
    if name not in observed.references.remote_file_systems:
        return f"{other} could not be read; looked at again next pass"
    theirs = observed.references.remote_file_systems[name]
    if theirs is None:
        return (f"{other} holds no copy; {mine.file_system_id} is kept as it is (fenced) "
                "and the active region makes a new replica")
    if theirs.is_replica():
        return f"{other}'s copy {theirs.file_system_id} is not writable yet"
    if mine.fenced_at is None:
        return f"{mine.file_system_id} is being fenced"
    if observed.running_apps:
        return "Studio apps are being stopped before the old copy is saved"
    return None
