"""diff(desired, observed) -> Plan, for one region. Pure and deterministic.

The region's role follows from Estate.spec.activeRegion: the active region gets the
whole estate (file systems, share directories, domains, profiles); a standby region in
active-passive mode holds no domains until a failover makes it active. Nothing is ever
planned for deletion here: resources absent from the desired state are left alone, and
share directories are only ever created or corrected, never removed.
"""

from __future__ import annotations

from typing import Any

from controller.model import DesiredState, Mode, ShareDirectory
from controller.observed import ObservedDirectory, ObservedState
from controller.plan.diff import scoped_diff
from controller.plan.failback import plan_fencing, plan_unfencing
from controller.plan.keys import region_role
from controller.plan.replication import plan_replication
from controller.plan.shapes import Shapes
from controller.plan.snapshots import plan_snapshots
from controller.plan.types import KIND_ORDER, Action, Difference, Kind, Plan, Ref, ResourceKey, Verb
from controller.plan.working_copy import plan_working_copies

# Fields CreateDomain sets that UpdateDomain cannot change.
IMMUTABLE_DOMAIN_FIELDS = ("AuthMode", "VpcId")
UPDATABLE_DOMAIN_FIELDS = ("SubnetIds", "AppNetworkAccessType", "DefaultUserSettings",
                           "DefaultSpaceSettings")


def make_plan(desired: DesiredState, observed: ObservedState) -> Plan:
    region = observed.region
    role = region_role(desired, region)
    if role == "standby" and desired.estate.mode is Mode.ACTIVE_PASSIVE:
        return _standby_plan(desired, observed)
    actions: list[Action] = []
    notes: list[str] = []
    planned_fs = _plan_file_systems(desired, observed, actions)
    shapes = Shapes(desired, region, observed.references, planned_fs)
    promoting: set[str] = set()
    if role == "active":
        promoting = plan_replication(desired, observed, actions, shapes.problems, notes)
        promoting |= plan_unfencing(desired, observed, actions, notes)
    elif any(fs is not None and not fs.is_replica() and desired.file_systems[n].replicate
             for n, fs in observed.references.file_systems.items()):
        notes.append(f"{region} is the standby region of an active-active estate and holds "
                     "a copy that is not a replica (a failover happened): failing back into "
                     "it is not automated in active-active mode; it is left as it is")
    promoting |= plan_working_copies(desired, observed, actions, notes)
    if promoting:
        notes.append(f"share directories on {', '.join(sorted(promoting))} wait until the "
                     "copy is writable (promoted, not fenced)")
    if observed.directories_observed:
        _plan_directories(shapes, observed, actions, promoting)
        if not observed.can_set_owners:
            notes.append("not running as root: share directory owners are not managed here "
                         "(only created and given their modes)")
    else:
        notes.append("share directories not checked: no mounted file systems (--efs-root)")
    _plan_domains(desired, observed, shapes, actions)
    _plan_profiles(desired, observed, shapes, actions)
    if role == "active":
        plan_snapshots(desired, observed, actions, notes)
    _order(actions)
    problems = tuple(dict.fromkeys(shapes.problems))
    return Plan(region, desired.revision, role, tuple(actions), problems, tuple(notes),
                tuple(sorted(promoting)))


def _standby_plan(desired: DesiredState, observed: ObservedState) -> Plan:
    """A standby region holds no domains until a failover makes it active; it only
    fences an old active copy so that the active region can replicate back into it."""
    actions: list[Action] = []
    problems: list[str] = []
    notes = [f"{observed.region} is the standby region (active-passive): its domains are "
             "created when a failover makes it active."]
    plan_fencing(desired, observed, actions, problems, notes)
    _order(actions)
    return Plan(observed.region, desired.revision, "standby", tuple(actions),
                tuple(problems), tuple(notes))


def _order(actions: list[Action]) -> None:
    """Kinds in KIND_ORDER (what a later kind refers to exists first), then by name."""
    order = {kind: index for index, kind in enumerate(KIND_ORDER)}
    actions.sort(key=lambda a: (order[Kind(a.key.kind)], a.key.name))


def _plan_file_systems(desired: DesiredState, observed: ObservedState,
                       actions: list[Action]) -> set[str]:
    planned: set[str] = set()
    for name in sorted(desired.file_systems):
        placement = desired.file_systems[name].placements.get(observed.region)
        if placement is None or placement.create is None:
            continue
        if observed.references.file_systems.get(name) is not None:
            continue
        planned.add(name)
        settings = placement.create
        params = {
            "CreationToken": f"studio-operator-{name}",
            "PerformanceMode": settings.performance_mode,
            "ThroughputMode": settings.throughput_mode,
            "Encrypted": settings.encrypted,
            "Tags": [{"Key": "Name", "Value": placement.name_tag}],
        }
        actions.append(Action("CreateFileSystem", Verb.CREATE,
                              ResourceKey(Kind.FILE_SYSTEM, observed.region, name),
                              _all_new(params), params))
    return planned


def _plan_directories(shapes: Shapes, observed: ObservedState, actions: list[Action],
                      promoting: set[str]) -> None:
    for wanted in shapes.desired.share_directories():
        if wanted.file_system in promoting:
            continue
        fs_id = shapes.file_system_id(wanted.file_system)
        if fs_id is None:
            continue  # Shapes has said why, for the domains and profiles that use it
        key = ResourceKey(Kind.DIRECTORY, observed.region, wanted.key_name)
        seen = observed.directories.get((wanted.file_system, wanted.path))
        params = {"FileSystemId": fs_id, "Path": wanted.path, "Uid": wanted.owner.uid,
                  "Gid": wanted.owner.gid, "Mode": f"{wanted.mode:04o}", "Share": wanted.share}
        if seen is None or seen.kind == "missing":
            actions.append(Action("CreateDirectory", Verb.CREATE, key,
                                  _directory_changes(wanted, None), params))
        elif seen.kind != "directory":
            shapes.problems.append(
                f"Directory/{wanted.key_name}: {seen.blocked_at or wanted.path} is a "
                f"{seen.kind}, not a directory; it is left alone (never followed)")
        else:
            changes = _directory_changes(wanted, seen)
            if not observed.can_set_owners:
                changes = tuple(c for c in changes if c.path == "Mode")
            if changes:
                actions.append(Action("SetDirectoryOwnership", Verb.UPDATE, key, changes, params))


def _directory_changes(wanted: ShareDirectory,
                       seen: ObservedDirectory | None) -> tuple[Difference, ...]:
    pairs = (("Uid", wanted.owner.uid, seen.uid if seen else None),
             ("Gid", wanted.owner.gid, seen.gid if seen else None),
             ("Mode", f"{wanted.mode:04o}",
              f"{seen.mode:04o}" if seen and seen.mode is not None else None))
    return tuple(Difference(path, want, have) for path, want, have in pairs if want != have)


def _plan_domains(desired: DesiredState, observed: ObservedState, shapes: Shapes,
                  actions: list[Action]) -> None:
    for name in sorted(desired.domains):
        request = shapes.domain_request(desired.domains[name])
        if request is None:
            continue
        for config in shapes.lifecycle_configs.get(name, []):
            if observed.lifecycle_configs is not None and (
                    config.name not in observed.lifecycle_configs):
                body = config.request()
                actions.append(Action(
                    "EnsureLifecycleConfig", Verb.CREATE,
                    ResourceKey(Kind.LIFECYCLE_CONFIG, observed.region, config.name),
                    (Difference("AppType", config.app_type, None),
                     Difference("Script", f"space start (restore, then backup), "
                                          f"{len(config.script)} bytes", None)),
                    body))
        key = ResourceKey(Kind.DOMAIN, observed.region, name)
        seen = observed.domains.get(name)
        if seen is None:
            actions.append(Action("CreateDomain", Verb.CREATE, key, _all_new(request), request))
            continue
        for field in IMMUTABLE_DOMAIN_FIELDS:
            if scoped_diff(request[field], seen.description.get(field)):
                shapes.problems.append(
                    f"Domain/{name}: {field} is {seen.description.get(field)!r} in AWS but "
                    f"{request[field]!r} is desired; it cannot be changed in place")
        wanted = {field: request[field] for field in UPDATABLE_DOMAIN_FIELDS}
        changes = scoped_diff(wanted, seen.description)
        if changes:
            update = _update_request(wanted, changes)
            actions.append(Action("UpdateDomain", Verb.UPDATE, key, tuple(changes),
                                  {"DomainId": seen.domain_id, **update}))


def _plan_profiles(desired: DesiredState, observed: ObservedState, shapes: Shapes,
                   actions: list[Action]) -> None:
    for qualified in sorted(desired.profiles):
        profile = desired.profiles[qualified]
        settings = shapes.user_settings(profile)
        domain_seen = observed.domains.get(profile.domain)
        if settings is None or (domain_seen is None and not _creates_domain(actions,
                                                                           profile.domain)):
            continue
        domain_id: str | Ref = (domain_seen.domain_id if domain_seen is not None
                                else Ref(Kind.DOMAIN, profile.domain, "DomainId"))
        key = ResourceKey(Kind.USER_PROFILE, observed.region, qualified)
        seen = observed.profiles.get(qualified)
        if seen is None:
            request = {"DomainId": domain_id, "UserProfileName": profile.name,
                       "UserSettings": settings}
            actions.append(Action("CreateUserProfile", Verb.CREATE, key,
                                  _all_new({"UserSettings": settings}), request))
            continue
        changes = scoped_diff({"UserSettings": settings}, seen.description)
        if changes:
            update = _update_request({"UserSettings": settings}, changes)
            actions.append(Action("UpdateUserProfile", Verb.UPDATE, key, tuple(changes),
                                  {"DomainId": domain_id, "UserProfileName": profile.name,
                                   **update}))


def _creates_domain(actions: list[Action], domain: str) -> bool:
    return any(a.name == "CreateDomain" and a.key.name == domain for a in actions)


def _update_request(wanted: dict[str, Any], changes: list[Difference]) -> dict[str, Any]:
    """The update body: each changed top-level settings key, whole (AWS replaces keys).

    For nested settings (DefaultUserSettings.X), only the changed X is sent so that
    settings the desired state does not manage are left as AWS holds them.
    """
    body: dict[str, Any] = {}
    for change in changes:
        top, _, rest = change.path.partition(".")
        if rest and isinstance(wanted[top], dict):
            second = rest.split(".", 1)[0]
            body.setdefault(top, {})[second] = wanted[top][second]
        else:
            body[top] = wanted[top]
    return body


def _all_new(values: dict[str, Any], prefix: str = "") -> tuple[Difference, ...]:
    """A creation shown field by field, as `+ field: value`."""
    changes: list[Difference] = []
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            changes.extend(_all_new(value, path))
        else:
            changes.append(Difference(path, value, None))
    return tuple(changes)
