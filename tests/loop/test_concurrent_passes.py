"""Passes that run their actions at once, against the emulator at AWS's speed: profiles
come after their domain in the same pass, and SIGTERM or a lost lease mid-pass starts
nothing new while the calls in flight finish and are recorded."""

from __future__ import annotations

import time

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.errors import LeaseLost
from controller.gateway import AwsGateway
from controller.loop.lease import Lease
from tests.converge.helpers import REGION, converge, prepared, reconciler
from tests.scaled_estate import write_estate

# Profiles take 0.4 s to create, as a slow AWS would; everything else is quick.
SLOW_PROFILES = {"sagemaker:CreateUserProfile": 0.4, "sagemaker:CreateDomain": 0.3,
                 "*:*": 0.002}


@pytest.fixture
def estate(aws, tmp_path):
    return prepared(aws, load_desired_state(write_estate(tmp_path / "desired", 2, 24)))


def profiles_in_aws(aws, region: str = REGION) -> dict[str, str]:
    sagemaker = boto3.client("sagemaker", region_name=region, endpoint_url=aws.endpoint_url)
    domains = {d["DomainId"]: d["DomainName"] for d in sagemaker.list_domains()["Domains"]}
    found = {}
    for domain_id, name in domains.items():
        for page in sagemaker.get_paginator("list_user_profiles").paginate(
                DomainIdEquals=domain_id):
            for profile in page["UserProfiles"]:
                found[f"{name}/{profile['UserProfileName']}"] = profile["Status"]
    return found


def until_profiles(rec, desired, clock):  # type: ignore[no-untyped-def]
    """Passes until the next one would create the domains and their profiles."""
    for _ in range(5):
        result = rec.reconcile(desired)
        if any(a.name == "CreateDomain" for a in result.plan.actions):
            return result
        rec.queue.pop_ready()
        clock.advance(60)
    raise AssertionError("no pass created the domains")


def test_profiles_are_created_after_their_domain_in_the_same_pass(aws, estate):
    aws.set_latency_model(rate_limits=False, jitter=0.0, latencies=SLOW_PROFILES)
    clock = ManualClock()
    rec = reconciler(aws, clock)
    result = until_profiles(rec, estate, clock)
    made = [o for o in result.outcomes if o.action == "CreateUserProfile"]
    assert len(made) == 24 and {o.outcome for o in made} == {"ok"}, (
        "no profile started before its domain's id was known")
    assert sorted(profiles_in_aws(aws)) == sorted(estate.profiles)
    # 24 creates of 0.4 s one after the other would take 9.6 s; 8 workers take ~1.2 s
    assert sum(o.seconds for o in made) > 8.0
    assert result.seconds < 8.0
    assert converge(rec, estate, clock) <= 3


def test_sigterm_mid_pass_lets_the_calls_in_flight_finish_and_starts_nothing_new(aws, estate):
    clock = ManualClock()
    rec = reconciler(aws, clock)
    aws.set_latency_model(rate_limits=False, jitter=0.0, latencies=SLOW_PROFILES)
    sent = lambda: aws.request_counts().get("sagemaker:CreateUserProfile", 0)  # noqa: E731
    # SIGTERM arrives once a few profiles are on their way (several still in flight)
    rec.should_stop = lambda: sent() >= 3
    result = until_profiles(rec, estate, clock)
    assert result.interrupted and result.result == "partial"
    made = [o for o in result.outcomes if o.action == "CreateUserProfile"]
    time.sleep(0.5)
    in_aws = profiles_in_aws(aws)
    assert 3 < len(made) < 24, "more than the three seen: those in flight finished too"
    assert {o.outcome for o in made} == {"ok"}, "every call in flight finished"
    assert len(in_aws) == len(made) == sent(), "nothing started after the signal"
    assert rec.status is not None
    ready = [k for k in estate.profiles
             if any(c.type == "Ready" and c.status == "True"
                    for c in rec.status.current[f"UserProfile#{k}"].conditions)]
    assert sorted(ready) == sorted(in_aws), "what was done is recorded as done"
    rec.should_stop = lambda: False
    converge(rec, estate, clock)
    assert sorted(profiles_in_aws(aws)) == sorted(estate.profiles)


def test_a_lease_lost_mid_pass_starts_nothing_new(aws, estate):
    clock = ManualClock()
    rec = reconciler(aws, clock)
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    mine = Lease(gateway, REGION, "studio-operator-status", clock, "leader", 30)
    other = Lease(gateway, REGION, "studio-operator-status", clock, "other", 30)
    assert mine.hold()
    aws.set_latency_model(rate_limits=False, jitter=0.0, latencies=SLOW_PROFILES)
    sent = lambda: aws.request_counts().get("sagemaker:CreateUserProfile", 0)  # noqa: E731

    def check() -> None:
        if sent() >= 3 and not other.held:  # the leader stalls; another replica takes over
            clock.advance(45)
            assert other.hold()
        mine.check()

    rec.lease_check = check
    with pytest.raises(LeaseLost):
        until_profiles(rec, estate, clock)
    lost_at = sent()
    time.sleep(1.0)  # longer than a create: anything started would have arrived
    assert 3 <= lost_at == sent() < 24, "no action started after the lease was lost"
    assert len(profiles_in_aws(aws)) == lost_at, "the calls in flight finished"
