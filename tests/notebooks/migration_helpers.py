"""Helpers for the notebook migration tests: an AL1 instance with the user's work on its
volume, and passes run until the migration's record reaches a phase."""

from __future__ import annotations

import time
from pathlib import Path

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.emulator import Emulator
from controller.loop.reconciler import PassResult, Reconciler
from controller.model import DesiredState
from controller.notebooks.migration import PREFIX, NotebookMigration
from controller.status.store import DEFAULT_TABLE, DynamoStatusStore
from tests.converge.helpers import prepared, reconciler
from tests.notebooks.helpers import NAME, estate_with_notebook, passes_until_settled, settle
from tests.notebooks.test_lifecycle_script import fill_volume

OLD_PLATFORM, NEW_PLATFORM = "notebook-al1-v1", "notebook-al2-v3"
POLICY_BUCKET = "studio-snapshots-us-east-1"  # the example's SnapshotPolicy "nightly"
BACKUP = "{snapshotPolicy: nightly}"


def migrating_estate(folder: Path, platform: str = NEW_PLATFORM, **changes: str) -> Path:
    return estate_with_notebook(folder, platformIdentifier=platform, backup=BACKUP,
                                stopForUpdates="true", **changes)


def al1_instance_with_work(aws: Emulator, tmp_path: Path,
                           **changes: str) -> tuple[Reconciler, ManualClock, DesiredState]:
    """The example estate converged with its notebook on Amazon Linux 1, backed up, and
    the user's work (owned by ec2-user, 500) on its volume; the desired state that
    moves it to Amazon Linux 2 is returned with the reconciler."""
    first = prepared(aws, load_desired_state(migrating_estate(tmp_path / "v1", OLD_PLATFORM,
                                                              **changes)))
    # Near the real time: the instances' scripts stamp their uploads with it, and a clock
    # a year ahead would take an upload in progress for one left over (and abort it).
    clock = ManualClock(time.time())
    rec = reconciler(aws, clock)
    passes_until_settled(rec, first, clock, aws)
    assert settle(aws) == "InService"
    fill_volume(volume(aws, NAME), sparse_bytes=64 << 20)
    return rec, clock, load_desired_state(migrating_estate(tmp_path / "v2", **changes))


def volume(aws: Emulator, name: str) -> Path:
    return aws.notebook_folder(name) / "SageMaker"


def record(aws: Emulator) -> NotebookMigration | None:
    store = DynamoStatusStore(_gateway(aws), "us-east-1", DEFAULT_TABLE)
    item = store.get_item(f"{PREFIX}{NAME}")
    return NotebookMigration.from_item(item) if item else None


def _gateway(aws: Emulator):  # type: ignore[no-untyped-def]
    from controller.gateway import AwsGateway

    return AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=3)


def passes_until(rec: Reconciler, desired: DesiredState, clock: ManualClock, aws: Emulator,
                 phases: tuple[str, ...], timeout: float = 240.0) -> list[PassResult]:
    """Passes (AWS settled before each; scripts run in real time between them) until the
    migration's record is in one of `phases`."""
    results: list[PassResult] = []
    deadline = time.monotonic() + timeout
    while True:
        current = rec.migrations.records.get(NAME) if rec.migrations else None
        if current is not None and current.phase in phases:
            return results
        assert time.monotonic() < deadline, (
            f"the migration stayed {current.phase if current else 'unstarted'}: "
            f"{results[-1].plan.waiting if results else ''} "
            f"{results[-1].plan.problems if results else ''}; {NAME}'s log: "
            f"{_log_tail(aws, NAME)}")
        for name in [NAME, *([current.new_instance] if current else [])]:
            settle(aws, name, timeout=60)
        results.append(rec.reconcile(desired))
        rec.queue.pop_ready()
        clock.advance(60)
        time.sleep(0.2)  # the instances' scripts work in real time


def _log_tail(aws: Emulator, name: str) -> str:
    log = aws.notebook_folder(name) / "state" / "start.log"
    return log.read_text()[-1500:] if log.exists() else "(none)"
