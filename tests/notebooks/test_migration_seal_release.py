"""deleteOld turned off while the old instance is being sealed (pure plan): the migration
does not end with the seal config attached (each later start would snapshot and fail, so
the instance the spec now keeps would be unusable). While Stopped the old instance gets
back the backup config the migration gave it (none when the spec no longer has a backup);
while Failed, which AWS neither updates nor stops, it is kept in StoppingOld with a
problem that says what to do."""

from __future__ import annotations

from datetime import UTC, datetime

from controller.notebooks.configs import NotebookConfig
from controller.notebooks.migration import NotebookMigration
from controller.notebooks.observed import NotebookObservation, ObservedNotebookInstance
from controller.notebooks.spec import NotebookInstanceSpec, NotebookMigrationSpec
from controller.plan.notebook_migration import MigrationContext, MigrationStep, plan_migration
from controller.plan.types import Kind, ResourceKey

NB, NEW = "research-nb", "research-nb-2"
BACKUP = "studio-op-nb-0123456789ab"
SEAL = NotebookConfig("studio-op-nb-seal-0123456789ab", "#!/bin/bash\nexit 3\n")
STOPPED_AT = 1_790_000_000.0


def _old(status: str, config: str | None) -> ObservedNotebookInstance:
    return ObservedNotebookInstance(NB, status, {
        "NotebookInstanceArn": f"arn:aws:sagemaker:us-east-1:1:notebook-instance/{NB}",
        "NotebookInstanceStatus": status,
        "LastModifiedTime": datetime.fromtimestamp(STOPPED_AT + 100, UTC),
        "NotebookInstanceLifecycleConfigName": config})


def _step(phase: str, old: ObservedNotebookInstance | None, config: str | None = BACKUP
          ) -> MigrationStep:
    record = NotebookMigration(NB, phase, NB, NEW, snapshot="s", stopped_at=1.0,
                               sealed_after=STOPPED_AT)
    spec = NotebookInstanceSpec(NB, "ml.t3.medium", "role", platform="notebook-al2-v3",
                                migration=NotebookMigrationSpec(delete_old=False),
                                backup_policy="nightly" if config else None)
    seen = NotebookObservation(old, migration=record, restored=frozenset({NEW}))
    # deleteOld is false: the plan is given no seal config (controller.plan.notebooks).
    ctx = MigrationContext(spec, seen, ResourceKey(Kind.NOTEBOOK_INSTANCE, "us-east-1", NB),
                           config, "bucket", "studio-snapshots", STOPPED_AT + 3600,
                           "sha256:1", None)
    return plan_migration(ctx, {"Tags": []})


def test_a_stopped_sealed_instance_gets_its_backup_config_back_before_complete() -> None:
    for phase in ("Sealing", "DeletingOld", "StoppingOld"):
        step = _step(phase, _old("Stopped", SEAL.name))
        assert step.record is not None and step.record.phase == "StoppingOld", phase
        assert step.action is not None and step.action.name == "UpdateNotebookInstance"
        assert step.action.params == {"NotebookInstanceName": NB, "LifecycleConfigName": BACKUP}

    done = _step("StoppingOld", _old("Stopped", BACKUP))
    assert done.action is None and done.record is not None and done.record.phase == "Complete"


def test_without_a_backup_in_the_spec_the_seal_is_detached() -> None:
    step = _step("Sealing", _old("Stopped", SEAL.name), config=None)
    assert step.action is not None and step.action.name == "UpdateNotebookInstance"
    assert step.action.params == {"NotebookInstanceName": NB, "DisassociateLifecycleConfig": True}
    done = _step("StoppingOld", _old("Stopped", None), config=None)
    assert done.record is not None and done.record.phase == "Complete"


def test_a_failed_sealed_instance_is_not_completed_but_named_as_a_problem() -> None:
    step = _step("DeletingOld", _old("Failed", SEAL.name))
    assert step.action is None
    assert step.record is not None and step.record.phase == "StoppingOld"
    assert SEAL.name in step.problem and "deleteOld" in step.problem


def test_an_instance_without_the_seal_or_gone_completes_as_before() -> None:
    kept = _step("StoppingOld", _old("Failed", BACKUP))
    assert kept.record is not None and kept.record.phase == "Complete" and kept.action is None
    gone = _step("Sealing", None)
    assert gone.record is not None and gone.record.phase == "Complete"
