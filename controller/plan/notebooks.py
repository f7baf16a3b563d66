"""Plan a region's notebook instances. Pure and deterministic.

Per NotebookInstance document of the region, against what the observer read:
- no instance: CreateNotebookInstance (tagged as the operator's, with the document's name);
- settings AWS changes in place differ (instance type, role, a larger volume, root
  access): UpdateNotebookInstance when the instance is Stopped. A running instance is
  stopped first (StopNotebookInstance, which marks it to be started again) when the spec
  says `stopForUpdates`; otherwise the plan waits for its user to stop it and says so.
  Once updated, an instance the operator stopped is started again
  (StartNotebookInstance); one its user had stopped stays stopped;
- tags differ: TagNotebookInstance, in any status (and the restart mark goes once the
  instance runs again);
- a setting AWS sets only at creation differs, or a migration is under way: the
  migration's next step (controller.plan.notebook_migration), with its record;
- a backup (spec.backup): its lifecycle config is created first (CreateNotebookInstance
  LifecycleConfig, named by its script's hash), on its own in a pass, so that the
  instance is only ever pointed at a config that exists; then the instance is created
  with it, or has it attached like any other in-place update (stopped first, or waiting
  for its user).
While AWS is moving the instance (Pending, Stopping, Updating, Deleting) the plan waits.
Only a migration's last step deletes an instance (the old one, with deleteOld).
"""

from __future__ import annotations

from typing import Any

from controller.model import MANAGED_TAG, MANAGED_TAG_VALUE, DesiredState
from controller.notebooks.configs import NotebookConfig, backup_config, seal_config
from controller.notebooks.migration import NotebookMigration
from controller.notebooks.observed import NotebookObservation, ObservedNotebookInstance
from controller.notebooks.spec import NOTEBOOK_TAG, RESTART_TAG, NotebookInstanceSpec
from controller.observed import ObservedState
from controller.plan.notebook_migration import MigrationContext, plan_migration
from controller.plan.types import Action, Difference, Kind, ResourceKey, Verb


def plan_notebooks(desired: DesiredState, observed: ObservedState, actions: list[Action],
                   problems: list[str], notes: list[str], waiting: dict[str, str],
                   migrations: list[NotebookMigration] | None = None) -> None:
    """`migrations` receives the migration records to persist before the actions run."""
    for spec in desired.notebooks_in(observed.region):
        seen = observed.notebooks.get(spec.name)
        if seen is None:
            continue
        key = ResourceKey(Kind.NOTEBOOK_INSTANCE, observed.region, spec.name)
        if seen.unresolved:
            problems.extend(f"{key}: {why}" for why in seen.unresolved)
            continue
        config = _backup(desired, spec, observed.region)
        if config is not None and not seen.backup_config_present:
            actions.append(Action("CreateNotebookInstanceLifecycleConfig", Verb.CREATE, key,
                                  (Difference("LifecycleConfig", config.name, None),),
                                  config.request()))
            waiting[str(key)] = (f"notebook instance {spec.name} waits for its backup "
                                 f"lifecycle config {config.name}")
            continue
        config_name = config.name if config is not None else None
        if _migrating(spec, seen):
            _plan_migration(desired, observed, spec, seen, key, config_name, actions,
                            problems, waiting, migrations)
            continue
        _plan_one(spec, seen, key, actions, problems, notes, waiting, config_name)


def _migrating(spec: NotebookInstanceSpec, seen: NotebookObservation) -> bool:
    if seen.migration is not None and not seen.migration.complete:
        return True
    instance = seen.instance
    return instance is not None and not instance.busy and instance.status != "Failed" and bool(
        creation_only_changes(spec, seen, instance))


def _plan_migration(desired: DesiredState, observed: ObservedState, spec: NotebookInstanceSpec,
                    seen: NotebookObservation, key: ResourceKey, config: str | None,
                    actions: list[Action], problems: list[str], waiting: dict[str, str],
                    migrations: list[NotebookMigration] | None) -> None:
    policy = desired.snapshot_policies.get(spec.backup_policy or "")
    bucket = policy.buckets.get(observed.region, "") if policy is not None else ""
    seal = (seal_config(spec, policy, observed.region)
            if policy is not None and bucket and spec.migration.delete_old else None)
    step = plan_migration(MigrationContext(
        spec, seen, key, config, bucket, policy.prefix if policy is not None else "",
        observed.observed_at, desired.revision, seal), creation_request(spec, seen, config=config))
    if step.record is not None and migrations is not None and step.record != seen.migration:
        migrations.append(step.record)
    if step.action is not None:
        actions.append(step.action)
    if step.problem:
        problems.append(step.problem)
    if step.waiting or (step.record is not None and not step.record.complete
                        and step.action is None and not step.problem):
        waiting[str(key)] = step.waiting or f"migration: {step.record.phase if step.record else ''}"


def _backup(desired: DesiredState, spec: NotebookInstanceSpec,
            region: str) -> NotebookConfig | None:
    policy = desired.snapshot_policies.get(spec.backup_policy or "")
    if policy is None or region not in policy.buckets:
        return None  # no backup asked (a policy that is missing is refused by the rules)
    return backup_config(spec, policy, region)


def creation_request(spec: NotebookInstanceSpec, seen: NotebookObservation,
                     name: str | None = None, config: str | None = None) -> dict[str, Any]:
    """CreateNotebookInstance's request for the spec (resolved references filled in)."""
    request: dict[str, Any] = {
        "NotebookInstanceName": name or spec.name,
        "InstanceType": spec.instance_type,
        "RoleArn": seen.role_arn,
        "PlatformIdentifier": spec.platform,
        "VolumeSizeInGB": spec.volume_size_gb,
        "RootAccess": _enabled(spec.root_access),
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(desired_tags(spec).items())],
    }
    if config is not None:
        request["LifecycleConfigName"] = config
    if spec.network is not None:
        request["SubnetId"] = seen.subnet_id
        request["DirectInternetAccess"] = _enabled(spec.network.direct_internet_access)
        if seen.security_group_ids:
            request["SecurityGroupIds"] = list(seen.security_group_ids)
    return request


def desired_tags(spec: NotebookInstanceSpec) -> dict[str, str]:
    return {**spec.tags, MANAGED_TAG: MANAGED_TAG_VALUE, NOTEBOOK_TAG: spec.name}


def creation_only_changes(spec: NotebookInstanceSpec, seen: NotebookObservation,
                          instance: ObservedNotebookInstance) -> list[Difference]:
    """What differs that AWS can set only when an instance is created."""
    described = instance.description
    network = spec.network
    wanted: list[tuple[str, Any, Any]] = [
        ("PlatformIdentifier", spec.platform, described.get("PlatformIdentifier")),
        ("SubnetId", seen.subnet_id if network else None, described.get("SubnetId")),
        ("DirectInternetAccess", _enabled(network.direct_internet_access if network else True),
         described.get("DirectInternetAccess", "Enabled")),
    ]
    if network is not None and seen.security_group_ids:
        wanted.append(("SecurityGroups", sorted(str(g) for g in seen.security_group_ids),
                       sorted(described.get("SecurityGroups") or [])))
    observed_size = int(described.get("VolumeSizeInGB") or 0)
    if spec.volume_size_gb < observed_size:
        wanted.append(("VolumeSizeInGB", spec.volume_size_gb, observed_size))
    return [Difference(path, want, have) for path, want, have in wanted if want != have]


def in_place_changes(spec: NotebookInstanceSpec, seen: NotebookObservation,
                     instance: ObservedNotebookInstance,
                     config: str | None = None) -> list[Difference]:
    """What UpdateNotebookInstance can change (while the instance is Stopped)."""
    described = instance.description
    wanted: list[tuple[str, Any, Any]] = [
        ("InstanceType", spec.instance_type, described.get("InstanceType")),
        ("RoleArn", seen.role_arn, described.get("RoleArn")),
        ("RootAccess", _enabled(spec.root_access), described.get("RootAccess", "Enabled")),
    ]
    if config is not None:
        # UpdateNotebookInstance's LifecycleConfigName; described as NotebookInstance...
        wanted.append(("LifecycleConfigName", config,
                       described.get("NotebookInstanceLifecycleConfigName")))
    observed_size = int(described.get("VolumeSizeInGB") or 0)
    if spec.volume_size_gb > observed_size:
        wanted.append(("VolumeSizeInGB", spec.volume_size_gb, observed_size))
    return [Difference(path, want, have) for path, want, have in wanted if want != have]


def _plan_one(spec: NotebookInstanceSpec, seen: NotebookObservation, key: ResourceKey,
              actions: list[Action], problems: list[str], notes: list[str],
              waiting: dict[str, str], config: str | None) -> None:
    instance = seen.instance
    if instance is None:
        request = creation_request(spec, seen, config=config)
        actions.append(Action("CreateNotebookInstance", Verb.CREATE, key,
                              tuple(Difference(k, v, None) for k, v in request.items()
                                    if k != "NotebookInstanceName"), request))
        return
    _plan_tags(spec, instance, key, actions)
    if instance.busy:
        waiting[str(key)] = f"notebook instance {instance.name} is {instance.status}"
        return
    changes = in_place_changes(spec, seen, instance, config)
    if instance.status == "Failed":
        reason = instance.description.get("FailureReason", "no reason given")
        problems.append(f"{key}: notebook instance {instance.name} is Failed: {reason}")
        return
    restart = instance.tags.get(RESTART_TAG) == "true"
    params = {"NotebookInstanceName": instance.name, "ResourceArn": instance.arn}
    if changes and instance.status == "Stopped":
        update = {"NotebookInstanceName": instance.name,
                  **{d.path: d.desired for d in changes}}
        actions.append(Action("UpdateNotebookInstance", Verb.UPDATE, key, tuple(changes), update))
    elif changes and spec.stop_for_updates:
        actions.append(Action("StopNotebookInstance", Verb.UPDATE, key, (
            Difference("NotebookInstanceStatus", "Stopped", instance.status),
            *changes), {**params, "RestartAfterUpdate": True}))
    elif changes:
        fields = ", ".join(f"{d.path} {d.observed!r} -> {d.desired!r}" for d in changes)
        waiting[str(key)] = (f"{fields} needs notebook instance {instance.name} stopped; "
                             "stopForUpdates is false, so it waits for its user to stop it")
        notes.append(f"{key}: waiting for its user to stop it ({fields})")
    elif restart and instance.status == "Stopped":
        actions.append(Action("StartNotebookInstance", Verb.UPDATE, key, (
            Difference("NotebookInstanceStatus", "InService", "Stopped"),), params))


def _plan_tags(spec: NotebookInstanceSpec, instance: ObservedNotebookInstance,
               key: ResourceKey, actions: list[Action]) -> None:
    wanted = desired_tags(spec)
    add = {k: v for k, v in sorted(wanted.items()) if instance.tags.get(k) != v}
    # The restart mark is the operator's own until the instance runs again.
    remove = [RESTART_TAG] if RESTART_TAG in instance.tags and instance.status in (
        "InService", "Pending") else []
    if not add and not remove:
        return
    changes = tuple([*(Difference(f"Tags.{k}", v, instance.tags.get(k)) for k, v in add.items()),
                     *(Difference(f"Tags.{k}", None, instance.tags[k]) for k in remove)])
    actions.append(Action("TagNotebookInstance", Verb.UPDATE, key, changes, {
        "ResourceArn": instance.arn,
        "Add": [{"Key": k, "Value": v} for k, v in add.items()],
        "Remove": remove}))


def _enabled(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"
