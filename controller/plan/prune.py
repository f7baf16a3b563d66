"""Offboarding: what the desired state no longer holds is reported, or pruned. Pure.

Prune off (the default): profiles and domains the operator managed under an earlier
revision, and share directories no longer wanted, are named in the plan's notes and
left exactly as they are. Prune on: the operator deletes the profiles and domains it
manages and the desired state no longer holds, one step per pass as AWS finishes each:

  1. the profile's apps (its own and its private spaces'): DeleteApp;
  2. a final snapshot of the profile's home folders, from the user table's record of
     where its files live (TakeFinalSnapshot, run on the snapshot workers; kept by the
     rules of the SnapshotPolicy that selected the home, else of the first with a bucket
     here). No policy, or a snapshot that failed FINAL_ATTEMPTS times: not deleted;
  3. its private spaces: DeleteSpace;
  4. the profile: DeleteUserProfile;
  5. a domain, once its profiles are gone: its shared spaces' apps, those spaces, then
     DeleteDomain with its home EFS retained.

Each step is planned only once the one before has finished (AWS's Deleting states are
waited for with AwaitDeletion, which requeues: no pass ever blocks). Never a file system
or a file. A profile someone else made is never deleted, and a domain holding one is
not pruned (reported). The removal guard (plan.removal_guard) may hold the whole lot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.model import DesiredState, ShareScope
from controller.observed import (
    ObservedApp,
    ObservedRemovals,
    ObservedSpace,
    ObservedState,
    ProfileRecord,
    RemovedProfile,
)
from controller.plan.types import Action, Difference, Kind, ResourceKey, Verb
from controller.snapshots.manifest import home_source

# App and space states that DeleteApp / DeleteSpace accept; the others are waited for.
_DELETABLE = ("InService", "Failed", "Update_Failed", "Delete_Failed")
# A final snapshot that failed this often holds the profile's deletion (a problem).
FINAL_ATTEMPTS = 3
GAVE_UP = "GaveUp"
DELETION_ACTIONS = frozenset({"DeleteApp", "DeleteSpace", "DeleteUserProfile",
                              "DeleteDomain", "TakeFinalSnapshot", "AwaitDeletion"})


def plan_prune(desired: DesiredState, observed: ObservedState, actions: list[Action],
               problems: list[str], notes: list[str]) -> frozenset[str]:
    """The deletions of this pass, appended to `actions`; returns the keys of every
    profile and domain the prune deletes (for the removal guard)."""
    removals = observed.removals
    if removals is None:
        return frozenset()
    notes.extend(_removed_notes(desired, observed, removals))
    if not desired.estate.prune:
        return frozenset()
    region = observed.region
    doomed = {q: p for q, p in sorted(removals.profiles.items()) if p.managed}
    keys = {f"UserProfile/{q}" for q in doomed}
    for profile in doomed.values():
        _next_profile_step(desired, region, observed, removals, profile, actions, problems,
                           notes)
    for name, domain in sorted(removals.domains.items()):
        if not domain.managed:
            continue
        keys.add(f"Domain/{name}")
        strangers = removals.foreign_profiles.get(name, ())
        if strangers:
            problems.append(f"Domain/{name}: not pruned: it holds user profiles the operator "
                            f"did not make ({', '.join(strangers)}); it deletes only what it "
                            "manages: delete them yourself, or declare them to have them "
                            "pruned with the domain")
            continue
        _next_domain_step(region, removals, name, domain.domain_id, domain.status,
                          [p for p in doomed.values() if p.domain == name], actions)
    return frozenset(keys)


def _next_profile_step(desired: DesiredState, region: str, observed: ObservedState,
                       removals: ObservedRemovals, profile: RemovedProfile,
                       actions: list[Action], problems: list[str], notes: list[str]) -> None:
    key = ResourceKey(Kind.USER_PROFILE, region, profile.qualified_name)
    if not profile.status:
        return  # gone already (known only from the status store)
    private = [s for s in removals.spaces.get(profile.domain_id, ()) if s.owner == profile.name]
    own_apps = [a for a in removals.apps.get(profile.domain_id, ())
                if a.user_profile == profile.name or a.space in {s.name for s in private}]
    if own_apps:
        _stop_apps(region, profile.domain, own_apps, actions)
        return
    record = observed.profile_records.get(profile.qualified_name)
    sources = final_snapshot_sources(desired, profile, record)
    snapshot = observed.final_snapshots.get(profile.qualified_name)
    if sources and snapshot != "Complete":
        if snapshot == "Uploading":
            actions.append(_await(key, "final snapshot", "Uploading"))
            return
        if snapshot == GAVE_UP:
            problems.append(f"UserProfile/{profile.qualified_name}: not pruned: its final "
                            f"snapshot failed {FINAL_ATTEMPTS} times (see the controller's "
                            "log); the profile stays until one succeeds (a new revision "
                            "tries again)")
            return
        policy = final_snapshot_policy(desired, region, profile)
        if policy is None:
            problems.append(f"UserProfile/{profile.qualified_name}: not pruned: no "
                            f"SnapshotPolicy has a bucket in {region} to keep its final "
                            "snapshot, and a profile is never deleted without one")
            return
        actions.append(Action("TakeFinalSnapshot", Verb.CREATE, key, (Difference(
            "FinalSnapshot", f"{len(sources)} home folder(s)", snapshot),),
            {"Profile": profile.qualified_name, "Policy": policy,
             "Bucket": desired.snapshot_policies[policy].buckets[region],
             "Created": record.created if record else "", "Sources": sources}))
        return
    if not sources:
        notes.append(f"UserProfile/{profile.qualified_name}: no home recorded in the user "
                     "table; pruned without a final snapshot")
    if private:
        _delete_spaces(region, profile.domain, private, actions)
        return
    if profile.status in _DELETABLE:
        actions.append(Action("DeleteUserProfile", Verb.DELETE, key, (
            Difference("UserProfile", None, profile.status),),
            {"DomainId": profile.domain_id, "UserProfileName": profile.name}))
    else:
        actions.append(_await(key, "user profile", profile.status,
                              {"DomainId": profile.domain_id, "UserProfileName": profile.name}))


def final_snapshot_policy(desired: DesiredState, region: str,
                          profile: RemovedProfile) -> str | None:
    """The SnapshotPolicy that keeps a pruned profile's final snapshot (its retention
    rules apply to it like to the others): the one that selected its home, else the first
    with a bucket in this region."""
    usable = [name for name in sorted(desired.snapshot_policies)
              if region in desired.snapshot_policies[name].buckets]
    selecting = [name for name in usable if desired.snapshot_policies[name].homes.selects(
        profile.domain, profile.qualified_name)]
    return selecting[0] if selecting else (usable[0] if usable else None)


def final_snapshot_sources(desired: DesiredState, profile: RemovedProfile,
                           record: ProfileRecord | None) -> list[dict[str, Any]]:
    """The pruned profile's home folders, from the user table, as snapshot sources (the
    same source ids as its scheduled snapshots, so `studioctl restore` finds them)."""
    sources = []
    for fs_name, fs_id, path in (record.custom_paths if record else ()):
        share = next((s.name for s in sorted(desired.shares.values(), key=lambda s: s.name)
                      if s.scope is ShareScope.USER and s.file_system == fs_name
                      and s.render(profile.domain, profile.name) == path), fs_name)
        sources.append({"Source": home_source(profile.domain, profile.name, share),
                        "Kind": "home", "FileSystem": fs_name, "FileSystemId": fs_id,
                        "Path": path, "Profile": profile.qualified_name, "Share": share,
                        "Domain": profile.domain})
    return sources


def _next_domain_step(region: str, removals: ObservedRemovals, name: str, domain_id: str,
                      status: str, profiles: list[RemovedProfile],
                      actions: list[Action]) -> None:
    key = ResourceKey(Kind.DOMAIN, region, name)
    if status == "Deleting":
        actions.append(_await(key, "domain", status, {"DomainId": domain_id}))
        return
    if any(p.status for p in profiles):
        return  # its profiles go first (their own steps above)
    # What is left once its profiles are gone: shared spaces and their apps.
    apps = list(removals.apps.get(domain_id, ()))
    if apps:
        _stop_apps(region, name, apps, actions)
        return
    spaces = list(removals.spaces.get(domain_id, ()))
    if spaces:
        _delete_spaces(region, name, spaces, actions)
        return
    if status in _DELETABLE:
        # The domain's own EFS (its users' Studio Classic homes) is kept: never a file
        # system, never a file.
        actions.append(Action("DeleteDomain", Verb.DELETE, key, (
            Difference("Domain", None, status),
            Difference("RetentionPolicy.HomeEfsFileSystem", "Retain", None)),
            {"DomainId": domain_id, "RetentionPolicy": {"HomeEfsFileSystem": "Retain"}}))
    else:
        actions.append(_await(key, "domain", status, {"DomainId": domain_id}))


def _stop_apps(region: str, domain: str, apps: Iterable[ObservedApp],
               actions: list[Action]) -> None:
    for app in sorted(apps, key=lambda a: (a.space or "", a.user_profile or "", a.app_type,
                                           a.app_name)):
        owner = f"space {app.space}" if app.space else f"profile {app.user_profile}"
        key = ResourceKey(Kind.APP, region, f"{domain}/{app.space or app.user_profile}/"
                                            f"{app.app_type}/{app.app_name}")
        params = {"DomainId": app.domain_id, "AppType": app.app_type, "AppName": app.app_name,
                  **({"SpaceName": app.space} if app.space else
                     {"UserProfileName": app.user_profile})}
        if app.status in _DELETABLE:
            actions.append(Action("DeleteApp", Verb.DELETE, key,
                                  (Difference(f"App ({owner})", None, app.status),), params))
        else:
            actions.append(_await(key, "app", app.status, params))


def _delete_spaces(region: str, domain: str, spaces: Iterable[ObservedSpace],
                   actions: list[Action]) -> None:
    for space in sorted(spaces, key=lambda s: s.name):
        key = ResourceKey(Kind.SPACE, region, f"{domain}/{space.name}")
        params = {"DomainId": space.domain_id, "SpaceName": space.name}
        if space.status in _DELETABLE:
            actions.append(Action("DeleteSpace", Verb.DELETE, key, (
                Difference("Space", None, space.status),), params))
        else:
            actions.append(_await(key, "space", space.status, params))


def _await(key: ResourceKey, what: str, status: str,
           params: Mapping[str, object] | None = None) -> Action:
    """Nothing to do but wait for AWS; the executor requeues the key (never blocks)."""
    return Action("AwaitDeletion", Verb.DELETE, key,
                  (Difference(what.capitalize(), "gone", status),),
                  {"What": what, "Status": status, **(params or {})})


def _removed_notes(desired: DesiredState, observed: ObservedState,
                   removals: ObservedRemovals) -> list[str]:
    """What the operator managed and the desired state no longer holds, with prune off
    (with prune on, the plan's actions say it)."""
    notes: list[str] = []
    if desired.estate.prune:
        return notes
    profiles = sorted(q for q, p in removals.profiles.items() if p.managed)
    if profiles:
        notes.append(f"{len(profiles)} user profile(s) the operator managed are no longer in "
                     f"the desired state: {', '.join(profiles)}; prune is off, so they are "
                     "left as they are (set spec.prune: true on the Estate to delete them)")
    domains = sorted(n for n, d in removals.domains.items() if d.managed)
    if domains:
        notes.append(f"{len(domains)} domain(s) the operator managed are no longer in the "
                     f"desired state: {', '.join(domains)}; prune is off, so they are left "
                     "as they are")
    wanted = {f"Directory/{d.key_name}" for d in desired.share_directories()}
    left = sorted(k[len("Directory/"):] for k in observed.managed_keys or ()
                  if k.startswith("Directory/") and k not in wanted)
    if left:
        notes.append(f"{len(left)} share director(y/ies) no longer in the desired state are "
                     f"left on their file systems, with their files (never removed): "
                     f"{', '.join(left[:10])}{' ...' if len(left) > 10 else ''}")
    return notes
