"""Plan one step of a notebook instance's migration to a new instance. Pure.

A setting AWS sets only at creation differs: the instance is replaced by a new one that
restores a snapshot of its volume. The record (controller.notebooks.migration) says
where the migration stands; each pass works out, from it and from what the region
holds, the next step and the record that goes with it, which the loop persists before
the step's action runs (controller.loop.notebook_migration):

  Snapshotting  a complete snapshot made by the old instance after its last stop: the
                old instance is stopped first (stopForUpdates; otherwise its user is
                waited for), its backup config attached, then started, which snapshots
                the volume; the marker is waited for.
  Creating      the new instance (the record's name, fixed when the migration began, so
                that a restart never makes a second one), tagged with the snapshot and
                the owner maps the restore applies.
  Restoring     waits for the restore's marker (restored/<new instance> in S3).
  StoppingOld   only now is the old instance stopped,
  Sealing       and, only with spec.migration.deleteOld, sealed: given the seal config
                while Stopped and started, which snapshots its volume before any user can
                reach it and fails the start (controller.notebooks.migration); the
                snapshot it made (after the stop before it) is the record's final one,
  DeletingOld   then it is deleted (the executor checks the seal and that snapshot, and
                the marker, again before it deletes).
  Complete      the NotebookInstance is the new instance from now on.
A step never goes back, except Restoring to Creating when the new instance is gone, and
Sealing or DeletingOld to StoppingOld when the old instance's user started it again or
deleteOld was turned off; a kept old instance with the seal attached gets its backup config
back (while Stopped) before Complete.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from controller.notebooks.configs import SEAL_PREFIX, NotebookConfig
from controller.notebooks.migration import (
    GROUP_MAP_TAG,
    OWNER_MAP_TAG,
    SEAL_WINDOW_SECONDS,
    SNAPSHOT_TAG,
    NotebookMigration,
    map_tag,
    new_instance_name,
    owner_maps,
)
from controller.notebooks.observed import NotebookObservation, ObservedNotebookInstance
from controller.notebooks.spec import NotebookInstanceSpec
from controller.plan.types import Action, Difference, ResourceKey, Verb
from controller.snapshots.manifest import object_key

_LOG_HINT = "its lifecycle log is /var/lib/studio-operator/start.log on the instance"


@dataclass(frozen=True)
class MigrationContext:
    spec: NotebookInstanceSpec
    seen: NotebookObservation
    key: ResourceKey
    config: str | None  # the backup lifecycle config (None: the spec has no backup)
    bucket: str  # the snapshot policy's bucket in the region, and its key prefix
    prefix: str
    now: float
    revision: str
    seal: NotebookConfig | None = None  # the seal config (None: no deleteOld)


@dataclass(frozen=True)
class MigrationStep:
    record: NotebookMigration | None
    action: Action | None = None
    waiting: str = ""
    problem: str = ""


def plan_migration(ctx: MigrationContext, creation: dict[str, Any]) -> MigrationStep:
    """The next step; `creation` is CreateNotebookInstance's request for the spec."""
    seen, spec = ctx.seen, ctx.spec
    record = seen.migration if seen.migration and not seen.migration.complete else None
    if record is None:
        old = seen.instance
        assert old is not None  # a migration starts from an instance that exists
        if ctx.config is None:
            fields = ", ".join(f"{d.path} {d.observed!r} -> {d.desired!r}"
                               for d in _creation_only(ctx, old))
            return MigrationStep(None, problem=(
                f"{ctx.key}: {fields}: AWS sets this only when an instance is created, so "
                f"it takes a migration to a new instance restored from a snapshot of "
                f"{old.name}'s volume: set spec.backup.snapshotPolicy to migrate"))
        name = new_instance_name(spec, old.name)
        if name == old.name:
            return MigrationStep(None, problem=(
                f"{ctx.key}: spec.migration.instanceName {name!r} is the instance already; "
                "name a new one for this migration"))
        record = NotebookMigration(
            spec.name, "Snapshotting", old.name, name,
            str(old.description.get("PlatformIdentifier", "")), spec.platform,
            ctx.revision, ctx.now, ctx.now)
    for _ in range(8):  # each phase at most once per pass
        step = _STEPS[record.phase](ctx, record, creation)
        moved = step.record
        if moved is None or moved.phase == record.phase or moved.complete:
            return step
        record = replace(moved, phase_since=ctx.now)
    return MigrationStep(record)


def _snapshotting(ctx: MigrationContext, record: NotebookMigration,
                  creation: dict[str, Any]) -> MigrationStep:
    old, seen = ctx.seen.instance, ctx.seen
    if old is None:
        return MigrationStep(record, problem=(
            f"{ctx.key}: {record.old_instance} is gone before its volume was snapshotted; "
            "nothing is left to migrate from: delete the migration's record or restore it"))
    if not _still_needed(ctx, old):
        # The change was undone in git before anything was made: the old instance stays.
        return MigrationStep(replace(record, phase="Complete", new_instance=old.name,
                                     completed_at=ctx.now))
    if seen.snapshots_unreadable:
        return MigrationStep(record, problem=f"{ctx.key}: snapshots unreadable: "
                                             f"{seen.snapshots_unreadable}")
    made = [s for s in seen.snapshots if s.instance == old.name and record.stopped_at
            and s.created >= record.stopped_at - 1]
    if made:
        return MigrationStep(replace(record, phase="Creating", snapshot=made[-1].id))
    if old.busy:
        return MigrationStep(record, waiting=f"migration: {old.name} is {old.status}")
    if old.status == "Stopped":
        stopped = max(record.stopped_at, _epoch(old.description.get("LastModifiedTime")))
        record = replace(record, stopped_at=stopped)
        if old.description.get("NotebookInstanceLifecycleConfigName") != ctx.config:
            return MigrationStep(record, Action(
                "UpdateNotebookInstance", Verb.UPDATE, ctx.key,
                (Difference("LifecycleConfigName", ctx.config, old.description.get(
                    "NotebookInstanceLifecycleConfigName")),),
                {"NotebookInstanceName": old.name, "LifecycleConfigName": ctx.config}))
        return MigrationStep(record, _start_stop(ctx, "StartNotebookInstance", old,
                                                 "to snapshot its volume for the migration"))
    if old.status == "InService" and not record.stopped_at:
        if ctx.spec.stop_for_updates:
            return MigrationStep(record, _start_stop(
                ctx, "StopNotebookInstance", old, "to snapshot its volume as of this stop"))
        return MigrationStep(record, waiting=(
            f"migration: waits for its user to stop {old.name} (stopForUpdates is false); "
            "its next start snapshots the volume"))
    if old.status == "InService":
        return MigrationStep(record, waiting=(
            f"migration: waiting for the snapshot {old.name} makes as it starts; if none "
            f"comes, {_LOG_HINT}"))
    reason = old.description.get("FailureReason", old.status)
    return MigrationStep(record, problem=f"{ctx.key}: migration: {old.name} is {reason}")


def _creating(ctx: MigrationContext, record: NotebookMigration,
              creation: dict[str, Any]) -> MigrationStep:
    new = ctx.seen.new_instance
    if new is None:
        uids, gids = owner_maps(ctx.spec, record.from_platform, record.to_platform)
        restore_tags = {SNAPSHOT_TAG: record.snapshot, OWNER_MAP_TAG: map_tag(uids),
                        GROUP_MAP_TAG: map_tag(gids)}
        request = {**creation, "NotebookInstanceName": record.new_instance,
                   "Tags": [*creation["Tags"],
                            *({"Key": k, "Value": v} for k, v in restore_tags.items())]}
        return MigrationStep(record, Action(
            "CreateNotebookInstance", Verb.CREATE, ctx.key,
            (Difference("NotebookInstanceName", record.new_instance, record.old_instance),
             Difference(SNAPSHOT_TAG, record.snapshot, None)), request),
            waiting=f"migration: creating {record.new_instance}")
    if new.tags.get(SNAPSHOT_TAG) != record.snapshot:
        return MigrationStep(record, problem=(
            f"{ctx.key}: migration: an instance {new.name} exists that this migration did "
            f"not make (no {SNAPSHOT_TAG} {record.snapshot}); rename it or set "
            "spec.migration.instanceName"))
    return MigrationStep(replace(record, phase="Restoring"))


def _restoring(ctx: MigrationContext, record: NotebookMigration,
               creation: dict[str, Any]) -> MigrationStep:
    new = ctx.seen.new_instance
    if record.new_instance in ctx.seen.restored:
        return MigrationStep(replace(record, phase="StoppingOld"))
    if new is None:
        return MigrationStep(replace(record, phase="Creating"))
    if new.status == "Failed":
        reason = new.description.get("FailureReason", "no reason given")
        return MigrationStep(record, problem=(
            f"{ctx.key}: migration: the new instance {new.name} is Failed ({reason}); "
            f"{record.old_instance} is kept as it is. Delete {new.name} to have it made again"))
    if ctx.seen.snapshots_unreadable:
        return MigrationStep(record, problem=f"{ctx.key}: restore marker unreadable: "
                                             f"{ctx.seen.snapshots_unreadable}")
    return MigrationStep(record, waiting=(
        f"migration: waiting for {new.name} ({new.status}) to restore {record.snapshot} "
        f"(marker s3://{ctx.bucket}/{_restored_key(ctx, record)}); {record.old_instance} is kept "
        f"until then. If it does not come, {_LOG_HINT}"))


def _stopping_old(ctx: MigrationContext, record: NotebookMigration,
                  creation: dict[str, Any]) -> MigrationStep:
    old = ctx.seen.instance
    if old is not None and old.busy:
        return MigrationStep(record, waiting=f"migration: {old.name} is {old.status}")
    if old is not None and old.status == "InService":
        return MigrationStep(record, _start_stop(
            ctx, "StopNotebookInstance", old, f"{record.new_instance} has restored its data"))
    if ctx.spec.migration.delete_old and old is not None:
        return MigrationStep(replace(record, phase="Sealing"))
    attached = old.description.get("NotebookInstanceLifecycleConfigName") if old else None
    if old is not None and str(attached or "").startswith(SEAL_PREFIX):
        return _unseal(ctx, record, old, str(attached))
    return MigrationStep(replace(record, phase="Complete", completed_at=ctx.now))


def _unseal(ctx: MigrationContext, record: NotebookMigration, old: ObservedNotebookInstance,
            attached: str) -> MigrationStep:
    """deleteOld was turned off after the seal was attached: the instance the spec now keeps
    would snapshot and fail at every start. It gets back what the migration replaced, the
    backup config (attached in Snapshotting; the record keeps nothing older), or none when
    the spec no longer has a backup."""
    if old.status == "Stopped":
        give_back: dict[str, Any] = (
            {"LifecycleConfigName": ctx.config} if ctx.config
            else {"DisassociateLifecycleConfig": True})
        return MigrationStep(record, Action(
            "UpdateNotebookInstance", Verb.UPDATE, ctx.key,
            (Difference("LifecycleConfigName", ctx.config, attached),),
            {"NotebookInstanceName": old.name, **give_back}))
    # Failed (its sealing start): AWS updates an instance only while Stopped and stops one
    # only while InService (controller/emulator/README.md), and a start runs the seal again.
    return MigrationStep(record, problem=(
        f"{ctx.key}: migration: {old.name} is {old.status} with the seal config {attached} "
        "attached, so every start of it snapshots its volume and fails; AWS changes the "
        "config of a Stopped instance only and cannot stop a Failed one. Set "
        "spec.migration.deleteOld to true again to have it deleted (its volume is in the "
        f"seal's snapshot {record.final_snapshot or '(see history)'}), or delete it by hand"))


def _sealing(ctx: MigrationContext, record: NotebookMigration,
             creation: dict[str, Any]) -> MigrationStep:
    old, seal = ctx.seen.instance, ctx.seal
    if old is None:  # deleted by someone else: nothing left for this migration to delete
        return MigrationStep(replace(record, phase="Complete", completed_at=ctx.now))
    if old.busy:
        return MigrationStep(record, waiting=f"migration: {old.name} is {old.status}")
    if old.status == "InService" or seal is None:  # its user started it again
        return MigrationStep(replace(record, phase="StoppingOld"))
    attached = old.description.get("NotebookInstanceLifecycleConfigName")
    if old.status == "Stopped":
        # The stop the seal must be newer than: the latest, should its user have started
        # and stopped it again since.
        record = replace(record, sealed_after=_epoch(old.description.get("LastModifiedTime")))
        if attached == seal.name:
            return MigrationStep(record, _start_stop(
                ctx, "StartNotebookInstance", old,
                "to seal it: its volume is snapshotted before anyone can use it, and the "
                "start fails on purpose"))
        if not ctx.seen.seal_config_present:
            return MigrationStep(record, Action(
                "CreateNotebookInstanceLifecycleConfig", Verb.CREATE, ctx.key,
                (Difference("LifecycleConfig", seal.name, None),), seal.request()),
                waiting=f"migration: {old.name} waits for the seal config {seal.name}")
        return MigrationStep(record, Action(
            "UpdateNotebookInstance", Verb.UPDATE, ctx.key,
            (Difference("LifecycleConfigName", seal.name, attached),),
            {"NotebookInstanceName": old.name, "LifecycleConfigName": seal.name}))
    final = _sealing_snapshot(ctx, record, old)
    if old.status == "Failed" and attached == seal.name and final:
        return MigrationStep(replace(record, phase="DeletingOld", final_snapshot=final))
    if ctx.seen.snapshots_unreadable:
        return MigrationStep(record, problem=f"{ctx.key}: snapshots unreadable: "
                                             f"{ctx.seen.snapshots_unreadable}")
    reason = old.description.get("FailureReason", old.status)
    return MigrationStep(record, problem=(
        f"{ctx.key}: migration: {old.name} is {old.status} ({reason}) without a complete "
        f"snapshot made by its sealing start, so it is kept: {_LOG_HINT} (seal.log). A "
        "volume too large to snapshot within the 5-minute limit of a lifecycle script "
        "cannot be sealed: copy what it holds by hand, then delete it"))


def _deleting_old(ctx: MigrationContext, record: NotebookMigration,
                  creation: dict[str, Any]) -> MigrationStep:
    old = ctx.seen.instance
    if old is None:
        return MigrationStep(replace(record, phase="Complete", completed_at=ctx.now))
    if old.busy:
        return MigrationStep(record, waiting=f"migration: {old.name} is {old.status}")
    if ctx.seen.snapshots_unreadable:  # no conclusion from a listing that failed
        return MigrationStep(record, problem=f"{ctx.key}: snapshots unreadable: "
                                             f"{ctx.seen.snapshots_unreadable}")
    if old.status != "Failed" or ctx.seal is None or _sealing_snapshot(
            ctx, record, old) != record.final_snapshot:
        # Its user started (and perhaps stopped) it again since the seal: sealed again.
        # The seal's snapshot stays the record's (held) until a newer seal replaces it.
        return MigrationStep(replace(record, phase="StoppingOld"))
    return MigrationStep(record, Action(
        "DeleteNotebookInstance", Verb.DELETE, ctx.key,
        (Difference("NotebookInstanceName", None, old.name),),
        {"NotebookInstanceName": old.name, "Notebook": ctx.spec.name,
         "NewInstance": record.new_instance, "Bucket": ctx.bucket, "Prefix": ctx.prefix,
         "Snapshot": record.snapshot,
         "RestoredKey": _restored_key(ctx, record), "SealConfig": ctx.seal.name,
         "SealedAfter": record.sealed_after, "FinalSnapshot": record.final_snapshot}))


def _complete(ctx: MigrationContext, record: NotebookMigration,
              creation: dict[str, Any]) -> MigrationStep:
    return MigrationStep(record)


_STEPS = {"Snapshotting": _snapshotting, "Creating": _creating, "Restoring": _restoring,
          "StoppingOld": _stopping_old, "Sealing": _sealing, "DeletingOld": _deleting_old,
          "Complete": _complete}


def _sealing_snapshot(ctx: MigrationContext, record: NotebookMigration,
                      old: ObservedNotebookInstance) -> str:
    """The newest complete snapshot the old instance made during the start that ended in
    its current status, after the stop before it ("" when there is none)."""
    if not record.sealed_after:
        return ""
    ended = _epoch(old.description.get("LastModifiedTime"))
    made = [s for s in ctx.seen.snapshots if s.instance == old.name
            and s.created >= record.sealed_after - 1
            and ended - SEAL_WINDOW_SECONDS <= s.created <= ended + 1]
    return made[-1].id if made else ""


def _start_stop(ctx: MigrationContext, name: str, instance: ObservedNotebookInstance,
                why: str) -> Action:
    target = "InService" if name.startswith("Start") else "Stopped"
    return Action(name, Verb.UPDATE, ctx.key,
                  (Difference("NotebookInstanceStatus", target, instance.status),),
                  {"NotebookInstanceName": instance.name, "ResourceArn": instance.arn,
                   "Reason": why})


def _restored_key(ctx: MigrationContext, record: NotebookMigration) -> str:
    return object_key(ctx.prefix, record.snapshot, f"restored/{record.new_instance}")


def _still_needed(ctx: MigrationContext, old: ObservedNotebookInstance) -> bool:
    return bool(_creation_only(ctx, old))


def _creation_only(ctx: MigrationContext, old: ObservedNotebookInstance) -> list[Difference]:
    # Imported here: controller.plan.notebooks imports this module.
    from controller.plan.notebooks import creation_only_changes

    return creation_only_changes(ctx.spec, ctx.seen, old)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0)
