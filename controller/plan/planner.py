"""diff(desired, observed) -> Plan, for one region. Pure and deterministic.

The region's role follows from Estate.spec.activeRegion: the active region gets the
whole estate (file systems, share directories, domains, profiles); a standby region in
active-passive mode holds no domains until a failover makes it active. Resources the
operator never managed are left alone, and share directories are only ever created or
corrected, never removed. What the desired state no longer holds is reported, or with
prune on deleted (plan.prune, held above a share of the estate by plan.removal_guard);
suspended resources keep their actions apart, unexecuted (plan.suspend).
"""

from __future__ import annotations

from typing import Any

from controller.model import DesiredState, Mode
from controller.notebooks.migration import NotebookMigration
from controller.observed import ObservedState
from controller.plan.ambiguity import ambiguity_problems, ambiguous_file_systems
from controller.plan.diff import scoped_diff
from controller.plan.failback import plan_fencing, plan_unfencing
from controller.plan.homes import hold_profile_updates, plan_share_directories
from controller.plan.keys import region_role
from controller.plan.names import creation_token
from controller.plan.nfs_access import plan_nfs_access
from controller.plan.notebooks import plan_notebooks
from controller.plan.prune import plan_prune
from controller.plan.recreation import plan_recreation
from controller.plan.removal_guard import apply_guard, check_removals
from controller.plan.replication import plan_replication
from controller.plan.shapes import Shapes
from controller.plan.snapshots import plan_snapshots
from controller.plan.studio_updates import (
    plan_domain_update,
    plan_profile_tags,
    plan_profile_update,
    profile_identity_problems,
    unmanaged_profile_notes,
)
from controller.plan.suspend import apply_suspend
from controller.plan.types import KIND_ORDER, Action, Difference, Kind, Plan, Ref, ResourceKey, Verb
from controller.plan.working_copy import plan_working_copies

# Fields CreateDomain sets that UpdateDomain cannot change.
IMMUTABLE_DOMAIN_FIELDS = ("AuthMode", "VpcId")


def make_plan(desired: DesiredState, observed: ObservedState) -> Plan:
    region = observed.region
    role = region_role(desired, region)
    if role == "standby" and desired.estate.mode is Mode.ACTIVE_PASSIVE:
        return _standby_plan(desired, observed)
    actions: list[Action] = []
    notes: list[str] = []
    planned_fs = _plan_file_systems(desired, observed, actions)
    shapes = Shapes(desired, region, observed.references, planned_fs,
                    observed.lifecycle_configs)
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
    serving = {name: fs for name in sorted(desired.file_systems)
               if (fs := shapes.file_system_id(name)) is not None}
    shapes.studio_waits = plan_nfs_access(desired, observed, serving, actions,
                                          shapes.problems, notes)
    if observed.directories_observed:
        plan_share_directories(shapes, observed, actions, notes, promoting)
        if not observed.can_set_owners:
            notes.append("not running as root: share directory owners are not managed here "
                         "(only created and given their modes)")
    else:
        notes.append("share directories not checked: no mounted file systems (--efs-root)")
    _plan_domains(desired, observed, shapes, actions, notes)
    _plan_profiles(desired, observed, shapes, actions)
    records = plan_recreation(desired, observed, actions, notes)
    hold_profile_updates(actions)
    notes.extend(unmanaged_profile_notes(_not_managed(observed)))
    removing = plan_prune(desired, observed, actions, shapes.problems, notes)
    waiting = dict(shapes.waiting)
    migrations: list[NotebookMigration] = []
    plan_notebooks(desired, observed, actions, shapes.problems, notes, waiting, migrations)
    if role == "active":
        plan_snapshots(desired, observed, actions, notes)
    _order(actions)
    problems = tuple(dict.fromkeys([*ambiguity_problems(desired, observed.references),
                                    *shapes.problems]))
    plan = Plan(region, desired.revision, role, tuple(actions), problems, tuple(notes),
                tuple(sorted(promoting)), tuple(sorted(waiting.items())),
                records=tuple(records[q] for q in sorted(records)),
                migrations=tuple(migrations))
    plan = apply_guard(plan, check_removals(desired, observed, removing))
    return apply_suspend(desired, plan)


def _not_managed(observed: ObservedState) -> list[str]:
    """Profiles the desired state does not name and the operator never managed (those it
    managed are reported by plan.prune)."""
    removals = observed.removals
    return [q for q in observed.unmanaged_profiles
            if removals is None or q not in removals.profiles
            or not removals.profiles[q].managed]


def _standby_plan(desired: DesiredState, observed: ObservedState) -> Plan:
    """A standby region holds no domains until a failover makes it active; it only
    fences an old active copy so that the active region can replicate back into it.
    Notebook instances that live in the region are its own whatever its role."""
    actions: list[Action] = []
    problems: list[str] = []
    notes = [f"{observed.region} is the standby region (active-passive): its domains are "
             "created when a failover makes it active."]
    problems.extend(ambiguity_problems(desired, observed.references))
    plan_fencing(desired, observed, actions, problems, notes)
    waiting: dict[str, str] = {}
    migrations: list[NotebookMigration] = []
    plan_notebooks(desired, observed, actions, problems, notes, waiting, migrations)
    _order(actions)
    return apply_suspend(desired, Plan(observed.region, desired.revision, "standby",
                                       tuple(actions), tuple(problems), tuple(notes),
                                       waiting=tuple(sorted(waiting.items())),
                                       migrations=tuple(migrations)))


def _order(actions: list[Action]) -> None:
    """Kinds in KIND_ORDER (what a later kind refers to exists first), then by name."""
    order = {kind: index for index, kind in enumerate(KIND_ORDER)}
    actions.sort(key=lambda a: (order[Kind(a.key.kind)], a.key.name))


def _plan_file_systems(desired: DesiredState, observed: ObservedState,
                       actions: list[Action]) -> set[str]:
    planned: set[str] = set()
    ambiguous = ambiguous_file_systems(desired, observed.references, observed.region)
    for name in sorted(desired.file_systems):
        placement = desired.file_systems[name].placements.get(observed.region)
        if placement is None or placement.create is None or name in ambiguous:
            continue
        if observed.references.file_systems.get(name) is not None:
            continue
        planned.add(name)
        settings = placement.create
        params = {
            "CreationToken": creation_token(name),
            "PerformanceMode": settings.performance_mode,
            "ThroughputMode": settings.throughput_mode,
            "Encrypted": settings.encrypted,
            "Tags": [{"Key": "Name", "Value": placement.name_tag}],
        }
        actions.append(Action("CreateFileSystem", Verb.CREATE,
                              ResourceKey(Kind.FILE_SYSTEM, observed.region, name),
                              _all_new(params), params))
    return planned


def _plan_domains(desired: DesiredState, observed: ObservedState, shapes: Shapes,
                  actions: list[Action], notes: list[str]) -> None:
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
        plan_domain_update(key, request, seen.description,
                           observed.running_apps_by_domain.get(name), actions, notes)


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
        identity = shapes.profile_identity(profile)
        tags = dict(profile.settings.tags)
        if seen is None:
            request = {"DomainId": domain_id, "UserProfileName": profile.name,
                       **identity, "UserSettings": settings,
                       **({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                          if tags else {})}
            actions.append(Action("CreateUserProfile", Verb.CREATE, key, _all_new(
                {**identity, "UserSettings": settings, **({"Tags": tags} if tags else {})}),
                request))
            continue
        shapes.problems.extend(profile_identity_problems(key, identity, seen.description))
        update = plan_profile_update(key, settings, seen.description, domain_id, profile.name)
        if update is not None:
            actions.append(update)
        tagging = plan_profile_tags(key, tags, seen)
        if tagging is not None:
            actions.append(tagging)


def _creates_domain(actions: list[Action], domain: str) -> bool:
    return any(a.name == "CreateDomain" and a.key.name == domain for a in actions)


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
