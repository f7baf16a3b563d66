"""The old region fences only after the new one has taken over: a flag flip with no
acting controller in the new region must not stop the old region's apps. The old region
reads the new region's failover record from that region's status table (a cross-region
DynamoDB read) and waits, exporting how long; a person may force the fence; a flag
flipped back before anyone took over changes nothing and reports no recovery."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import boto3
from prometheus_client import REGISTRY

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.logs import configure
from controller.status.failover_record import FailoverRecord
from tests.converge.helpers import converge, file_system, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
PRIMARY, REPLICA = "us-east-1", "us-west-2"


def active_in(desired, region: str, suffix: str, **failover):
    return replace(desired, estate=replace(desired.estate, active_region=region, **failover),
                   revision=f"{desired.revision}-{suffix}")


def awaited() -> float | None:
    return REGISTRY.get_sample_value("studio_operator_takeover_awaited_seconds")


def running_apps(aws, region: str) -> list[str]:
    sagemaker = boto3.client("sagemaker", region_name=region, endpoint_url=aws.endpoint_url)
    return [a["AppName"] for a in sagemaker.list_apps()["Apps"]
            if a["Status"] in ("InService", "Pending")]


def fenced(aws, region: str) -> bool:
    efs = boto3.client("efs", region_name=region, endpoint_url=aws.endpoint_url)
    try:
        efs.describe_file_system_policy(FileSystemId=file_system(aws, region)["FileSystemId"])
    except efs.exceptions.PolicyNotFound:
        return False
    return True


def serving_in_primary(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    aws.sync_replication()
    sagemaker = boto3.client("sagemaker", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    domain = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                  if d["DomainName"] == "research")
    sagemaker.create_app(DomainId=domain, UserProfileName="alice", AppType="JupyterServer",
                         AppName="default")
    return desired, clock


def test_a_flip_with_no_controller_acting_in_the_new_region_stops_nothing(aws):
    desired, clock = serving_in_primary(aws)
    # A record an earlier failover left in the new region's table: not this takeover.
    west_table = reconciler(aws, clock, region=REPLICA).status.store
    west_table.put_item(FailoverRecord(REPLICA, "Complete", "long-ago",
                                       acting_revision="long-ago").to_item())
    flipped = active_in(desired, REPLICA, "flipped")
    east = reconciler(aws, clock, region=PRIMARY)
    for _ in range(3):
        result = east.reconcile(flipped)
        assert result.plan.actions == ()
        clock.advance(60)
    assert running_apps(aws, PRIMARY) == ["default"] and not fenced(aws, PRIMARY)
    assert east.failover.record.phase == "AwaitingTakeover"
    (note,) = [n for n in result.plan.notes if n.startswith("Fence/takeover:")]
    assert "records revision long-ago" in note
    east.reconcile(flipped)
    assert awaited() == 180.0, "seconds since the flip was seen"

    # The new region's controller takes over; then, and only then, the old one fences.
    west = reconciler(aws, clock, region=REPLICA)
    converge(west, flipped, clock)
    assert west.failover.record.phase == "Complete"
    assert west.failover.record.acting_revision == flipped.revision
    fencing = east.reconcile(flipped)
    assert [o.action for o in fencing.outcomes] == ["StopStudioApps", "FenceFileSystem"]
    assert running_apps(aws, PRIMARY) == [] and fenced(aws, PRIMARY)
    assert awaited() == 0
    assert east.failover.record.phase == "Fencing"


def test_a_person_can_force_the_fence_without_a_takeover(aws):
    desired, clock = serving_in_primary(aws)
    forced = active_in(desired, REPLICA, "forced", fence_without_takeover=True)
    east = reconciler(aws, clock, region=PRIMARY)
    result = east.reconcile(forced)
    assert [o.action for o in result.outcomes] == ["StopStudioApps", "FenceFileSystem"]
    assert fenced(aws, PRIMARY)


def test_flipping_back_before_anyone_took_over_changes_nothing_and_reports_no_recovery(
        aws, capsys):
    configure(json=True)
    desired, clock = serving_in_primary(aws)
    east = reconciler(aws, clock, region=PRIMARY)
    east.reconcile(active_in(desired, REPLICA, "flipped"))
    assert east.failover.record.phase == "AwaitingTakeover"
    clock.advance(300)
    home = active_in(desired, PRIMARY, "home")
    result = east.reconcile(home)
    assert result.plan.actions == ()
    record = east.failover.record
    assert (record.active_region, record.phase) == (PRIMARY, "Steady")
    assert (record.recovery_seconds, record.completed_at) == (0.0, 0.0)
    assert record.acting_revision == home.revision
    assert running_apps(aws, PRIMARY) == ["default"] and not fenced(aws, PRIMARY)
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()
              if line.startswith("{")]
    assert any(e.get("event") == "flag_returned_before_takeover" for e in events)
    assert REGISTRY.get_sample_value("studio_operator_failover_recovery_seconds") == 0.0
