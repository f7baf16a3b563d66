"""The Sealing phase in the plan (pure): the old instance gets the seal config while
Stopped and is started once; only Failed with the seal attached and a complete snapshot
made by that start does it move to DeletingOld (whose delete names that snapshot); a user
who starts it again sends it back to be stopped and sealed again; an unreadable bucket
moves nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from controller.notebooks.configs import NotebookConfig
from controller.notebooks.migration import NotebookMigration
from controller.notebooks.observed import (
    NotebookObservation,
    NotebookSnapshot,
    ObservedNotebookInstance,
)
from controller.notebooks.spec import NotebookInstanceSpec, NotebookMigrationSpec
from controller.plan.notebook_migration import MigrationContext, MigrationStep, plan_migration
from controller.plan.types import Kind, ResourceKey

NB, NEW = "research-nb", "research-nb-2"
SEAL = NotebookConfig("studio-op-nb-seal-0123456789ab", "#!/bin/bash\nexit 3\n")
STOPPED_AT = 1_790_000_000.0
FIRST = f"nightly/notebook/{NB}/20261126T070000Z-abcd"


def _old(status: str, modified: float, config: str | None = "studio-op-nb-backup"
         ) -> ObservedNotebookInstance:
    return ObservedNotebookInstance(NB, status, {
        "NotebookInstanceArn": f"arn:aws:sagemaker:us-east-1:1:notebook-instance/{NB}",
        "NotebookInstanceStatus": status,
        "LastModifiedTime": datetime.fromtimestamp(modified, UTC),
        "NotebookInstanceLifecycleConfigName": config})


def _step(record: NotebookMigration, old: ObservedNotebookInstance | None,
          snapshots: tuple[NotebookSnapshot, ...] = (), present: bool = True,
          unreadable: str = "") -> MigrationStep:
    spec = NotebookInstanceSpec(NB, "ml.t3.medium", "role", platform="notebook-al2-v3",
                                migration=NotebookMigrationSpec(delete_old=True),
                                backup_policy="nightly")
    seen = NotebookObservation(old, migration=record, snapshots=snapshots,
                               seal_config_present=present, snapshots_unreadable=unreadable,
                               restored=frozenset({NEW}))
    ctx = MigrationContext(spec, seen, ResourceKey(Kind.NOTEBOOK_INSTANCE, "us-east-1", NB),
                           "studio-op-nb-backup", "bucket", "studio-snapshots",
                           STOPPED_AT + 3600, "sha256:1", SEAL)
    return plan_migration(ctx, {"Tags": []})


def _stamp(when: float) -> str:
    return f"nightly/notebook/{NB}/{datetime.fromtimestamp(when, UTC):%Y%m%dT%H%M%SZ}-beef"


SEALING = NotebookMigration(NB, "Sealing", NB, NEW, snapshot=FIRST, stopped_at=1.0)


def test_a_stopped_old_instance_gets_the_seal_config_then_is_started_once() -> None:
    made = _step(SEALING, _old("Stopped", STOPPED_AT), present=False)
    assert made.action is not None and made.action.name == "CreateNotebookInstanceLifecycleConfig"
    assert made.action.params["NotebookInstanceLifecycleConfigName"] == SEAL.name

    attach = _step(SEALING, _old("Stopped", STOPPED_AT))
    assert attach.action is not None and attach.action.name == "UpdateNotebookInstance"
    assert attach.action.params["LifecycleConfigName"] == SEAL.name
    assert attach.record is not None and attach.record.sealed_after == STOPPED_AT

    start = _step(SEALING, _old("Stopped", STOPPED_AT + 5, SEAL.name))
    assert start.action is not None and start.action.name == "StartNotebookInstance"
    assert start.record is not None and start.record.sealed_after == STOPPED_AT + 5


def test_only_a_failed_sealed_instance_with_the_seals_snapshot_is_deleted() -> None:
    sealing = replace(SEALING, sealed_after=STOPPED_AT)
    failed = _old("Failed", STOPPED_AT + 100, SEAL.name)
    older = NotebookSnapshot(_stamp(STOPPED_AT - 600), NB, STOPPED_AT - 600)
    other = NotebookSnapshot(_stamp(STOPPED_AT + 30), NEW, STOPPED_AT + 30)
    seal = NotebookSnapshot(_stamp(STOPPED_AT + 40), NB, STOPPED_AT + 40)

    kept = _step(sealing, failed, (older, other))
    assert kept.action is None and "kept" in kept.problem
    assert kept.record is not None and kept.record.phase == "Sealing"
    not_sealed = _step(sealing, _old("Failed", STOPPED_AT + 100), (seal,))
    assert not_sealed.action is None and not_sealed.problem

    deleted = _step(sealing, failed, (older, other, seal))
    assert deleted.record is not None and deleted.record.phase == "DeletingOld"
    assert deleted.record.final_snapshot == seal.id
    assert deleted.action is not None and deleted.action.name == "DeleteNotebookInstance"
    assert deleted.action.params["FinalSnapshot"] == seal.id
    assert deleted.action.params["SealConfig"] == SEAL.name
    assert deleted.action.params["SealedAfter"] == STOPPED_AT


def test_a_user_who_starts_the_old_instance_again_has_it_stopped_and_sealed_again() -> None:
    deleting = replace(SEALING, phase="DeletingOld", sealed_after=STOPPED_AT,
                       final_snapshot=_stamp(STOPPED_AT + 40))
    again = _step(deleting, _old("InService", STOPPED_AT + 900, SEAL.name))
    assert again.record is not None and again.record.phase == "StoppingOld"
    assert again.record.final_snapshot == deleting.final_snapshot  # still held
    assert again.action is not None and again.action.name == "StopNotebookInstance"

    blind = _step(deleting, _old("Failed", STOPPED_AT + 100, SEAL.name), unreadable="503")
    assert blind.action is None and "unreadable" in blind.problem
    assert blind.record is not None and blind.record.phase == "DeletingOld"
