"""Applying a plan converges the region; applying again changes nothing."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, given, settings

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.plan import Kind
from tests.converge.helpers import REGION, converge, plan_now, prepared, reconciler
from tests.plan.estates import estates

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def _estate_mutations(rec) -> dict[tuple[str, str], int]:
    """Calls that change SageMaker, EFS, EC2 or IAM (status-table writes are the
    controller's own bookkeeping: a replica catching up changes a condition)."""
    return {(service, operation): count
            for (service, operation, _), count in rec.gateway.calls.items()
            if service != "dynamodb"
            and not operation.startswith(("Describe", "List", "Get"))}


def test_the_example_estate_converges_in_one_pass_and_a_second_pass_mutates_nothing(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    rec = reconciler(aws)
    first = rec.reconcile(desired)
    assert first.result == "applied"
    # 10 directories, 2 domains, 7 profiles, 1 replication, 1 notebook instance, the
    # snapshot policy's first slot (its jobs run on the controller's workers, finished
    # before the next pass)
    assert len(first.outcomes) == 22
    assert [o.action for o in first.outcomes].count("TakeSnapshots") == 1
    assert plan_now(aws, desired).actions == ()
    rec.snapshots.wait(timeout=120)
    rec.gateway.reset_counts()
    second = rec.reconcile(desired)
    assert second.result == "converged"
    assert _estate_mutations(rec) == {}
    assert rec.gateway.total_calls() > 0


def test_everything_the_operator_creates_is_tagged_as_managed(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    reconciler(aws).reconcile(desired)
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    for summary in sagemaker.list_domains()["Domains"]:
        tags = sagemaker.list_tags(ResourceArn=summary["DomainArn"])["Tags"]
        assert {"Key": "studio-operator.io/managed-by", "Value": "studio-operator"} in tags


def test_an_existing_domain_with_the_same_name_is_adopted_not_duplicated(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    plan = plan_now(aws, desired)
    research = next(a for a in plan.actions if a.name == "CreateDomain"
                    and a.key.name == "research")
    made_by_hand = sagemaker.create_domain(**research.params)
    rec = reconciler(aws)
    converge(rec, desired, ManualClock())
    names = [d["DomainName"] for d in sagemaker.list_domains()["Domains"]]
    assert sorted(names) == ["analytics", "research"]
    ids = {d["DomainName"]: d["DomainId"] for d in sagemaker.list_domains()["Domains"]}
    assert ids["research"] == made_by_hand["DomainId"]


def test_a_profile_changed_behind_the_operators_back_is_put_back_on_the_next_pass(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    rec = reconciler(aws)
    rec.reconcile(desired)
    rec.snapshots.wait(timeout=120)  # the first slot's snapshots, taken
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == "research")
    sagemaker.update_user_profile(DomainId=domain_id, UserProfileName="bob", UserSettings={
        "CustomPosixUserConfig": {"Uid": 345678, "Gid": 1001}})
    result = rec.reconcile(desired)
    assert [(o.action, str(o.key), o.outcome) for o in result.outcomes] == [
        ("UpdateUserProfile", "UserProfile/research/bob", "ok")]
    settings = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="bob")[
        "UserSettings"]
    assert settings["CustomPosixUserConfig"] == {"Uid": 200102, "Gid": 1001}


@pytest.mark.slow  # 8 generated estates, each converged twice (~60-100 s)
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(desired=estates())
def test_for_generated_estates_apply_then_plan_is_empty_and_reapply_mutates_nothing(
        emulator, desired):
    emulator.reset()
    prepared(emulator, desired)
    clock = ManualClock()
    rec = reconciler(emulator, clock, status=False)
    converge(rec, desired, clock)
    assert plan_now(emulator, desired).actions == ()
    rec.gateway.reset_counts()
    assert rec.reconcile(desired).plan.actions == ()
    assert _estate_mutations(rec) == {}
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=emulator.endpoint_url)
    domains = sagemaker.list_domains()["Domains"]
    assert sorted(d["DomainName"] for d in domains) == sorted(desired.domains)
    profiles = sum(len(sagemaker.list_user_profiles(DomainIdEquals=d["DomainId"], MaxResults=100)[
        "UserProfiles"]) for d in domains)
    assert profiles == len(desired.profiles)
    assert all(a.key.kind != Kind.DOMAIN for a in plan_now(emulator, desired).actions)
