"""The describe cache across passes: profiles the controller created are not described
again (their create request is remembered), and a change made afterwards by someone else
moves LastModifiedTime and is found."""

from __future__ import annotations

import time

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from tests.converge.helpers import REGION, converge, prepared, reconciler
from tests.loop.test_concurrent_passes import profiles_in_aws
from tests.scaled_estate import write_estate

PROFILES = 12


@pytest.fixture
def estate(aws, tmp_path):
    return prepared(aws, load_desired_state(write_estate(tmp_path / "desired", 2, PROFILES)))


def describes(aws) -> int:
    return aws.request_counts().get("sagemaker:DescribeUserProfile", 0)


def test_profiles_the_controller_created_are_not_described_on_later_passes(aws, estate):
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, estate, clock)
    # Each profile's create request stood for its describe in planning; each is described
    # once, for the HomeEfsFileSystemUid its user-table record needs, and never again.
    once = describes(aws)
    assert once == len(estate.profiles)
    assert not rec.reconcile(estate).plan.actions
    assert describes(aws) == once


def test_a_change_made_by_someone_else_after_the_create_is_still_found(aws, estate):
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, estate, clock)
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    # a pass sees every profile at rest (its create's record then holds that
    # LastModifiedTime; a change before that is found at the next full refresh)
    deadline = time.monotonic() + 30
    while set(profiles_in_aws(aws).values()) != {"InService"} and time.monotonic() < deadline:
        time.sleep(0.2)
    rec.reconcile(estate)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == "team-0")
    sagemaker.update_user_profile(
        DomainId=domain_id, UserProfileName="user-0-0",
        UserSettings={"CustomPosixUserConfig": {"Uid": 424242, "Gid": 424242}})
    clock.advance(60)
    converge(rec, estate, clock)
    described = sagemaker.describe_user_profile(DomainId=domain_id,
                                                UserProfileName="user-0-0")
    wanted = estate.profiles["team-0/user-0-0"].posix
    assert described["UserSettings"]["CustomPosixUserConfig"] == {"Uid": wanted.uid,
                                                                  "Gid": wanted.gid}
    assert describes(aws) >= 1
