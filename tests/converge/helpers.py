"""Building a reconciler against the emulator, as studioctl does, for the converge tests."""

from __future__ import annotations

import boto3

from controller.clock import ManualClock
from controller.emulator import Emulator, prepare_estate
from controller.gateway import AwsGateway
from controller.loop.factory import make_reconciler
from controller.loop.reconciler import Reconciler
from controller.loop.workqueue import Backoff
from controller.model import DesiredState
from controller.observe import observe
from controller.plan import Plan, make_plan

REGION = "us-east-1"
# Every reconciler a test made: their snapshot jobs are stopped when the test ends (see
# tests/conftest.py), so none runs on into the next test's emulator.
_MADE: list[Reconciler] = []


def reconciler(aws: Emulator, clock: ManualClock | None = None, max_attempts: int = 3,
               status: bool = True, region: str = REGION) -> Reconciler:
    clock = clock or ManualClock()
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=max_attempts)
    made = make_reconciler(gateway, region, aws.efs_root, clock, with_status=status,
                           backoff=Backoff(base_seconds=1, max_seconds=30), seed=1)
    _MADE.append(made)
    return made


def stop_snapshot_jobs() -> None:
    """Stop the snapshot and restore jobs of every reconciler made since the last call."""
    while _MADE:
        made = _MADE.pop()
        if made.snapshots is not None:
            made.snapshots.stop()


def file_system(aws: Emulator, region: str, name: str = "studio-efs") -> dict:
    """The region's file system with this Name tag, as describe_file_systems gives it."""
    efs = boto3.client("efs", region_name=region, endpoint_url=aws.endpoint_url)
    return next(f for f in efs.describe_file_systems()["FileSystems"] if f.get("Name") == name)


def prepared(aws: Emulator, desired: DesiredState) -> DesiredState:
    prepare_estate(aws.endpoint_url, desired, aws.efs_root)
    return desired


def plan_now(aws: Emulator, desired: DesiredState, region: str = REGION) -> Plan:
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    return make_plan(desired, observe(gateway, desired, region, aws.efs_root))


def converge(rec: Reconciler, desired: DesiredState, clock: ManualClock,
             max_passes: int = 30) -> int:
    """Run passes, moving time past every backoff, until a pass has nothing to do (each
    pass's snapshot and restore jobs finished before the next)."""
    for passes in range(1, max_passes + 1):
        result = rec.reconcile(desired)
        if rec.snapshots is not None:
            rec.snapshots.wait(timeout=300)  # the pass's snapshot and restore jobs too
        if not result.plan.actions:
            return passes
        rec.queue.pop_ready()
        clock.advance(60)
    raise AssertionError(f"not converged after {max_passes} passes")
