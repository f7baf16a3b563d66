"""A ready estate on the emulator, for the preflight tests: the primary converged and
replicating (in sync), the standby region's controller holding its lease. Each test then
breaks one thing and asks the preflight about a failover into the standby region."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.emulator import Emulator
from controller.gateway import AwsGateway
from controller.loop.lease import Lease
from controller.model import DesiredState
from controller.preflight import PreflightReport, run_preflight
from controller.status.store import DEFAULT_TABLE, DynamoStatusStore
from tests.converge.helpers import converge, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
PRIMARY, STANDBY = "us-east-1", "us-west-2"


@dataclass
class ReadyEstate:
    aws: Emulator
    desired: DesiredState
    gateway: AwsGateway

    def client(self, service: str, region: str = STANDBY):  # type: ignore[no-untyped-def]
        return boto3.client(service, region_name=region, endpoint_url=self.aws.endpoint_url)

    def hold_standby_lease(self, at: float, holder: str = "standby-a") -> None:
        assert Lease(self.gateway, STANDBY, DEFAULT_TABLE, ManualClock(at), holder).hold()

    def check(self, now: float | None = None,
              desired: DesiredState | None = None) -> PreflightReport:
        return run_preflight(self.gateway, desired or self.desired, STANDBY, DEFAULT_TABLE,
                             now=now)

    def file_system_id(self, region: str, name: str = "studio-efs") -> str:
        efs = self.client("efs", region)
        return next(f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]
                    if f.get("Name") == name)


def ready_estate(aws: Emulator, folder: Path = EXAMPLE, first_sync: bool = True) -> ReadyEstate:
    """With first_sync=False nothing is synced: call it under aws.replication_paused() and
    the replica has not finished its first sync."""
    desired = prepared(aws, load_desired_state(folder))
    clock = ManualClock(time.time())
    converge(reconciler(aws, clock), desired, clock)
    if first_sync:
        aws.sync_replication()
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    DynamoStatusStore(gateway, STANDBY, DEFAULT_TABLE).ensure_table()
    estate = ReadyEstate(aws, desired, gateway)
    estate.hold_standby_lease(time.time())
    return estate


def failing(report: PreflightReport) -> dict[str, str]:
    """Check name -> its findings in one string, for every check not passing."""
    return {r.check: " | ".join(r.details) for r in report.results if not r.ok}


def with_snapshot_policies(desired: DesiredState,
                           **buckets: Mapping[str, str]) -> DesiredState:
    """`desired` with its SnapshotPolicies replaced by ones named as the keywords, each
    writing to the buckets given (region -> bucket), otherwise as the example's."""
    template = desired.snapshot_policies["nightly"]
    return replace(desired, snapshot_policies={
        name: replace(template, name=name, buckets=dict(by_region))
        for name, by_region in buckets.items()})
