"""deleteOld turned off while the old instance is being sealed, on the emulator: the seal
config is attached to the Stopped old instance, then git says keep it. The migration
completes with the old instance kept, given its backup config back, and a start of it
works (with the seal still attached it would snapshot and fail at every start)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from controller.desired import load_desired_state
from controller.emulator import Emulator
from controller.notebooks.configs import SEAL_PREFIX
from tests.notebooks.helpers import NAME, describe, sagemaker, settle
from tests.notebooks.migration_helpers import (
    al1_instance_with_work,
    migrating_estate,
    passes_until,
    record,
)
from tests.notebooks.test_migration import NEW, instance_names

# Runs real lifecycle scripts through a migration up to its seal.
pytestmark = pytest.mark.slow


def test_delete_old_turned_off_after_the_seal_is_attached_gives_the_backup_config_back(
        aws: Emulator, tmp_path: Path) -> None:
    rec, clock, moved = al1_instance_with_work(aws, tmp_path, migration="{deleteOld: true}")
    passes_until(rec, moved, clock, aws, ("Sealing",), timeout=300)
    for _ in range(6):  # up to the pass that attaches the seal, not the one that starts it
        assert settle(aws, NAME, timeout=60) == "Stopped"
        if str(describe(aws)["NotebookInstanceLifecycleConfigName"]).startswith(SEAL_PREFIX):
            break
        rec.reconcile(moved)
        rec.queue.pop_ready()
        clock.advance(60)
    sealed_with = describe(aws)["NotebookInstanceLifecycleConfigName"]
    assert sealed_with.startswith(SEAL_PREFIX) and describe(aws)[
        "NotebookInstanceStatus"] == "Stopped"

    kept = load_desired_state(migrating_estate(tmp_path / "v3", migration="{deleteOld: false}"))
    passes_until(rec, kept, clock, aws, ("Complete",), timeout=120)

    finished = record(aws)
    assert finished is not None and finished.phase == "Complete"
    assert instance_names(aws) == sorted([NAME, NEW])  # kept, as the spec now says
    backup = describe(aws, NEW)["NotebookInstanceLifecycleConfigName"]
    assert backup and not backup.startswith(SEAL_PREFIX)
    assert describe(aws)["NotebookInstanceLifecycleConfigName"] == backup
    sagemaker(aws).start_notebook_instance(NotebookInstanceName=NAME)
    time.sleep(0.1)
    assert settle(aws, NAME, timeout=120) == "InService"
