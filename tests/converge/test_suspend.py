"""Suspend: on the Estate or on one resource, the operator keeps observing and reporting
(the plan shows what it would do) and changes nothing about it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.status.conditions import READY, find
from tests.converge.helpers import REGION, converge, plan_now, prepared, reconciler
from tests.desired_state.helpers import edit
from tests.example_estate import copy_example

SAFETY = "  safety:\n    maxRemovalPercent: 10\n"


def _mutations(rec) -> list[str]:
    return sorted(f"{service}:{operation}" for (service, operation, _), n in
                  rec.gateway.calls.items()
                  if service != "dynamodb" and not operation.startswith(("Describe", "List",
                                                                          "Get")))


def _setup(aws, tmp_path: Path):
    folder = copy_example(tmp_path / "desired")
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, prepared(aws, load_desired_state(folder)), clock)
    return folder, rec, clock


def _uid(aws, domain: str, profile: str) -> int:
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == domain)
    described = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName=profile)
    return int(described["UserSettings"]["CustomPosixUserConfig"]["Uid"])


def test_a_suspended_estate_is_observed_and_planned_but_nothing_changes(aws, tmp_path):
    folder, rec, clock = _setup(aws, tmp_path)
    edit(folder / "research.yaml", "uid: 200101", "uid: 200111")
    edit(folder / "estate.yaml", SAFETY, "  suspend: true\n" + SAFETY)
    desired = load_desired_state(folder)
    rec.gateway.reset_counts()
    result = rec.reconcile(desired)
    assert result.plan.actions == () and result.outcomes == []
    assert {a.name for a in result.plan.suspended} == {"ReownHome", "UpdateUserProfile"}
    assert _mutations(rec) == []
    assert rec.gateway.total_calls() > 0  # it still looked
    assert _uid(aws, "research", "alice") == 200101
    ready = find(rec.status.current["UserProfile#research/alice"].conditions, READY)
    assert ready is not None and (ready.status, ready.reason) == ("False", "Suspended")
    # Lifting the suspension makes the change.
    edit(folder / "estate.yaml", "  suspend: true\n", "")
    converge(rec, load_desired_state(folder), clock)
    assert _uid(aws, "research", "alice") == 200111


def test_a_suspended_profile_is_left_while_the_others_converge(aws, tmp_path):
    folder, rec, clock = _setup(aws, tmp_path)
    edit(folder / "research.yaml", "uid: 200101\n    gid: 1001\n",
         "uid: 200111\n    gid: 1001\n  suspend: true\n")
    edit(folder / "research.yaml", "uid: 200102", "uid: 200112")
    desired = load_desired_state(folder)
    converge(rec, desired, clock)
    assert (_uid(aws, "research", "alice"), _uid(aws, "research", "bob")) == (200101, 200112)
    plan = plan_now(aws, desired)
    assert sorted((a.name, a.key.name) for a in plan.suspended) == [
        ("ReownHome", "studio-efs:/home/research/alice"),
        ("UpdateUserProfile", "research/alice")]


def test_a_suspended_domain_holds_its_profiles_too(aws, tmp_path):
    folder, rec, clock = _setup(aws, tmp_path)
    edit(folder / "analytics.yaml", "  shares: [home, team, datasets]\n",
         "  shares: [home, team, datasets]\n  suspend: true\n")
    edit(folder / "analytics.yaml", "{name: dave, uid: 200201", "{name: dave, uid: 200211")
    edit(folder / "research.yaml", "uid: 200103", "uid: 200113")
    desired = load_desired_state(folder)
    converge(rec, desired, clock)
    assert (_uid(aws, "analytics", "dave"), _uid(aws, "research", "carol")) == (200201, 200113)


def test_a_suspended_estate_does_not_fail_over(aws, tmp_path):
    folder, rec, clock = _setup(aws, tmp_path)
    aws.sync_replication()
    edit(folder / "estate.yaml", "activeRegion: us-east-1", "activeRegion: us-west-2")
    edit(folder / "estate.yaml", SAFETY, "  suspend: true\n" + SAFETY)
    desired = load_desired_state(folder)
    replica = reconciler(aws, clock, region="us-west-2")
    result = replica.reconcile(desired)
    assert result.outcomes == []
    assert "PromoteReplica" in {a.name for a in result.plan.suspended}
    unsuspended = replace(desired, estate=replace(desired.estate, suspend=False))
    assert "PromoteReplica" in {a.name for a in plan_now(aws, unsuspended, "us-west-2").actions}
