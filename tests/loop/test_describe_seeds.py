"""A restarted controller's describe cache, seeded from the status store: the profiles
nobody changed while it was down are not described again, one changed behind its back
is described and corrected, and the seeds keep their age (the full refresh still comes)."""

from __future__ import annotations

import time

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.loop.describe_seeds import PREFIX
from tests.converge.helpers import REGION, converge, prepared, reconciler
from tests.loop.test_concurrent_passes import profiles_in_aws
from tests.loop.test_describe_cache import describes
from tests.scaled_estate import write_estate

PROFILES = 10


@pytest.fixture
def estate(aws, tmp_path):
    return prepared(aws, load_desired_state(write_estate(tmp_path / "desired", 2, PROFILES)))


def seeds_in_table(aws) -> list[dict]:
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws.endpoint_url)
    items = []
    for page in dynamodb.get_paginator("scan").paginate(TableName="studio-operator-status"):
        items += [i for i in page["Items"] if i["pk"]["S"].startswith(PREFIX)]
    return items


def settled(aws, estate, clock):
    """A controller that converged the estate and then saw every profile at rest (so its
    cache holds each profile's LastModifiedTime), stopped afterwards."""
    rec = reconciler(aws, clock)
    converge(rec, estate, clock)
    deadline = time.monotonic() + 30
    while set(profiles_in_aws(aws).values()) != {"InService"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not rec.reconcile(estate).plan.actions
    return rec


def test_a_restarted_controller_describes_no_profile_nobody_changed(aws, estate):
    clock = ManualClock()
    settled(aws, estate, clock)
    assert len(seeds_in_table(aws)) == len(estate.profiles)
    before = describes(aws)
    clock.advance(30)
    restarted = reconciler(aws, clock)
    result = restarted.reconcile(estate)
    assert not result.plan.actions
    assert describes(aws) == before  # without the seeds: one describe per profile


def test_a_profile_changed_while_no_controller_ran_is_described_and_corrected(aws, estate):
    clock = ManualClock()
    settled(aws, estate, clock)
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == "team-1")
    sagemaker.update_user_profile(
        DomainId=domain_id, UserProfileName="user-1-3",
        UserSettings={"CustomPosixUserConfig": {"Uid": 424242, "Gid": 424242}})
    before = describes(aws)
    clock.advance(30)
    restarted = reconciler(aws, clock)
    first = restarted.reconcile(estate)
    assert [(a.name, str(a.key)) for a in first.plan.actions] == [
        ("UpdateUserProfile", "UserProfile/team-1/user-1-3")]
    converge(restarted, estate, clock)
    held = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="user-1-3")
    wanted = estate.profiles["team-1/user-1-3"].posix
    assert held["UserSettings"]["CustomPosixUserConfig"] == {"Uid": wanted.uid,
                                                             "Gid": wanted.gid}
    # that profile only: its describe, the update's own, and one after it moved again
    assert 1 <= describes(aws) - before - 1 <= 3


def test_seeds_keep_their_age_so_the_full_refresh_still_describes(aws, estate):
    clock = ManualClock()
    settled(aws, estate, clock)
    before = describes(aws)
    clock.advance(3601)  # past the cache's full-refresh period since each describe
    restarted = reconciler(aws, clock)
    restarted.reconcile(estate)
    assert describes(aws) - before == len(estate.profiles)
