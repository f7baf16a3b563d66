"""Snapshots and restores in the plan. Pure.

In the active region, for each SnapshotPolicy: abort the multipart uploads under its
prefix that no job of this controller is writing and that began before its workers
started, in one of its jobs that ended, or a day ago (a controller killed mid-upload,
or an abort that failed, left them; S3 charges for them), and likewise the archives
whose manifest never came (the manifest's put failed), take the policy's snapshots
when a slot has come since the last run (once, however many slots were missed), take
again a source whose job of this slot failed or was interrupted (at most MAX_ATTEMPTS
times; a job recorded on a worker task and still Uploading is adopted instead: the same
job again, no attempt counted, its upload not aborted, nor that of an interrupted final
snapshot's worker), and delete what retention no longer keeps, except the snapshots a
notebook migration of this region holds (controller.notebooks.migration.held_snapshots).
For each Restore whose spec has not run yet: start it. The actions only start work:
the jobs run on the controller's worker threads and their phases are recorded before
they start (controller.snapshots.runner).
"""

from __future__ import annotations

from typing import Any

from controller.model import DesiredState, Posix, ShareScope
from controller.notebooks.migration import held_snapshots
from controller.observed import ObservedState
from controller.plan.types import Action, Difference, Kind, ResourceKey, Verb
from controller.plan.working_copy import serving_file_system
from controller.snapshots.manifest import home_source, share_source
from controller.snapshots.retention import to_remove
from controller.snapshots.schedule import latest_slot
from controller.snapshots.spec import RestoreSpec

MAX_ATTEMPTS = 3
# An upload someone else began (a CLI snapshot) is left this long before it is aborted.
STALE_UPLOAD_SECONDS = 86400.0


def snapshot_sources(desired: DesiredState, policy_name: str) -> list[dict[str, Any]]:
    """Every home and share directory a policy archives, with where it lives."""
    policy = desired.snapshot_policies[policy_name]
    sources: list[dict[str, Any]] = []
    for qualified in sorted(desired.profiles):
        profile = desired.profiles[qualified]
        if policy.homes.selects(profile.domain, qualified):
            sources += home_sources(desired, qualified)
    for name in policy.shares:
        sources += share_sources(desired, name)
    return sources


def home_sources(desired: DesiredState, qualified: str) -> list[dict[str, Any]]:
    """The user shares of one profile ("domain/profile"), one source each."""
    profile = desired.profiles[qualified]
    return [{"Source": home_source(profile.domain, profile.name, share.name),
             "Kind": "home", "FileSystem": share.file_system,
             "Path": share.render(profile.domain, profile.name),
             "Profile": qualified, "Share": share.name, "Domain": profile.domain}
            for share in desired.user_shares_of(profile)]


def share_sources(desired: DesiredState, name: str,
                  domain: str | None = None) -> list[dict[str, Any]]:
    """A share's directory (organisation scope), or its directory in each domain that
    uses it (domain scope; only `domain`'s when given)."""
    share = desired.shares[name]
    if share.scope is ShareScope.ORGANISATION:
        return [{"Source": share_source(name), "Kind": "share",
                 "FileSystem": share.file_system, "Path": share.path, "Share": name}]
    return [{"Source": share_source(name, each), "Kind": "share",
             "FileSystem": share.file_system, "Path": share.render(each),
             "Share": name, "Domain": each}
            for each in sorted(desired.domains)
            if name in desired.domains[each].shares and domain in (None, each)]


def plan_snapshots(desired: DesiredState, observed: ObservedState, actions: list[Action],
                   notes: list[str]) -> None:
    region, seen, now = observed.region, observed.snapshots, observed.observed_at
    if seen is None:
        if desired.snapshot_policies or desired.restores:
            notes.append("snapshots and restores not looked at (no status table here)")
        return
    for name in sorted(desired.snapshot_policies):
        _plan_policy(desired, observed, seen, name, now, actions, notes)
    for name in sorted(desired.restores):
        spec = desired.restores[name]
        state = seen.restores.get(name)
        if f"restore:{name}" in seen.running:
            continue
        if state is not None and state.fingerprint == spec.fingerprint() and state.phase in (
                "Succeeded", "Failed"):
            continue
        actions.append(Action("RestoreSnapshot", Verb.CREATE,
                              ResourceKey(Kind.RESTORE, region, name),
                              (Difference("phase", "Succeeded", state.phase if state else None),),
                              restore_params(desired, observed, spec)))


def restore_params(desired: DesiredState, observed: ObservedState,
                   spec: RestoreSpec) -> dict[str, Any]:
    """Where a restore reads and writes, resolved from the desired state; "Wait" says why
    it cannot start yet (a target profile not declared or not created yet)."""
    params: dict[str, Any] = {"Restore": spec.name, "Fingerprint": spec.fingerprint(),
                              "Mode": spec.mode, "Owners": spec.owners,
                              "UidMap": dict(spec.uid_map), "GidMap": dict(spec.gid_map),
                              "Snapshot": spec.snapshot}
    refs = observed.references
    if spec.newest is not None:
        policy = desired.snapshot_policies.get(spec.newest.policy)
        params["Newest"] = {"Policy": spec.newest.policy, "Source": spec.newest.source,
                            "Before": spec.newest.before,
                            "Bucket": policy.buckets.get(observed.region) if policy else None,
                            "Prefix": policy.prefix if policy else None}
    if spec.live_profile is not None:
        found = _home(desired, refs, observed.region, spec.live_profile, None)
        if isinstance(found, str):
            return {**params, "Wait": f"source {found}"}
        params["LiveFileSystemId"], params["LivePath"], _ = found
    if spec.to_profile is not None:
        found = _home(desired, refs, observed.region, spec.to_profile, spec.to_share)
        if isinstance(found, str):
            return {**params, "Wait": f"target {found}"}
        if spec.to_profile not in observed.profiles:
            return {**params, "Wait": f"target profile {spec.to_profile} does not exist in "
                                      f"{observed.region} yet"}
        params["FileSystemId"], params["Path"], posix = found
        params["TargetOwner"] = [posix.uid, posix.gid]
        params["Profile"] = spec.to_profile  # whose history the restore is in
    elif spec.to_share is not None:
        share = desired.shares[spec.to_share]
        fs_id = serving_file_system(desired, observed.region, refs, share.file_system)
        if fs_id is None:
            return {**params, "Wait": f"file system {share.file_system} is not usable here yet"}
        params["FileSystemId"], params["Path"] = fs_id, share.render(spec.to_domain or "")
    return params


def _home(desired: DesiredState, refs: Any, region: str, qualified: str,
          share_name: str | None) -> tuple[str, str, Posix] | str:
    profile = desired.profiles.get(qualified)
    if profile is None:
        return f"profile {qualified} is not declared yet"
    shares = [s for s in desired.user_shares_of(profile)
              if share_name is None or s.name == share_name]
    if not shares:
        return f"profile {qualified} has no user share {share_name or ''}".rstrip()
    share = shares[0]
    fs_id = serving_file_system(desired, region, refs, share.file_system)
    if fs_id is None:
        return f"file system {share.file_system} is not usable here yet"
    return fs_id, share.render(profile.domain, profile.name), profile.posix


def _directory_missing(observed: ObservedState, source: dict[str, Any],
                       being_made: set[str]) -> bool:
    """The share directory was looked at, is not there, and this plan does not make it
    (it is held, or blocked by a link): nothing to archive yet."""
    seen = observed.directories.get((source["FileSystem"], source["Path"]))
    return (observed.directories_observed and seen is not None and seen.kind != "directory"
            and f"{source['FileSystem']}:{source['Path']}" not in being_made)


def _plan_policy(desired: DesiredState, observed: ObservedState, seen: Any,
                 name: str, now: float, actions: list[Action], notes: list[str]) -> None:
    region, refs = observed.region, observed.references
    # Made earlier in this same plan (directories come before snapshots): archived after.
    being_made = {a.key.name for a in actions if a.name == "CreateDirectory"}
    policy = desired.snapshot_policies[name]
    state = seen.policies.get(name)
    key = ResourceKey(Kind.SNAPSHOT_POLICY, region, name)
    bucket = policy.buckets.get(region)
    if state is None or bucket is None or not state.listed:
        notes.append(f"SnapshotPolicy/{name}: its bucket in {region} could not be listed "
                     "this pass")
        return
    slot = latest_slot(policy.schedule, now)
    new_slot = slot is not None and (state.last_slot is None or slot > state.last_slot)
    sources, adopted = [], set()
    for source in snapshot_sources(desired, name):
        fs_id = serving_file_system(desired, region, refs, source["FileSystem"])
        if fs_id is None or _directory_missing(observed, source, being_made):
            continue  # nothing to archive yet; the slot stays due
        source = {**source, "FileSystemId": fs_id}
        phase = state.jobs.get(source["Source"])
        idle = f"snapshot:{name}:{source['Source']}" not in seen.running
        # This slot's job recorded on a worker task that no thread here follows (its
        # controller stopped): the same job again adopts the task. Not a new attempt.
        adopt = (not new_slot and idle and phase == "Uploading"
                 and source["Source"] in state.worker_uploads)
        retry = (not new_slot and phase in ("Failed", "Uploading") and idle
                 and state.attempts.get(source["Source"], 0) < MAX_ATTEMPTS)
        if new_slot or retry or adopt:
            sources.append(source)
        if adopt and not policy.suspend:
            adopted.add(state.worker_uploads[source["Source"]])

    def left_over(upload: Any) -> bool:
        # The upload of a worker adopted this pass is that worker's, still writing.
        return (upload.key not in seen.uploading_keys and upload.key not in adopted
                and upload.key not in seen.adopting_keys) and (
            upload.initiated < seen.since or upload.key in seen.ended_keys
            or upload.initiated < now - STALE_UPLOAD_SECONDS)

    orphans = [u for u in state.open_uploads if left_over(u)]
    unfinished = [a for a in state.unfinished_archives if left_over(a)]
    if orphans or unfinished:
        actions.append(Action(
            "AbortSnapshotUploads", Verb.DELETE, key,
            tuple(Difference("upload", None, u.key) for u in orphans)
            + tuple(Difference("archive without manifest", None, a.key) for a in unfinished),
            {"Bucket": bucket, "Uploads": [[u.key, u.upload_id] for u in orphans],
             "Archives": [a.key for a in unfinished]}))
    if sources and policy.suspend:
        notes.append(f"SnapshotPolicy/{name} is suspended: no new snapshots")
    elif sources and slot is not None:
        actions.append(Action("TakeSnapshots", Verb.CREATE, key,
                              tuple(Difference(s["Source"], "snapshot", None) for s in sources),
                              {"Policy": name, "Bucket": bucket, "Slot": slot,
                               "Sources": sources}))
    # A notebook migration's snapshots are the only copy of an old instance it deleted.
    held = held_snapshots((n.migration for n in observed.notebooks.values()
                           if n.migration is not None), now)
    doomed = [snapshot for source in sorted(state.complete)
              for snapshot in to_remove(state.complete[source], policy.retention)
              if snapshot not in held]
    if doomed:
        actions.append(Action("PruneSnapshots", Verb.DELETE, key,
                              tuple(Difference("snapshot", None, s) for s in doomed),
                              {"Bucket": bucket, "Prefix": policy.prefix,
                               "Snapshots": doomed}))
