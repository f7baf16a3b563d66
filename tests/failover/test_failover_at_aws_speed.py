"""A failover at AWS's speed (the emulator's latency and rate model on) with one call in
ten throttled: the pool's concurrent actions and botocore's retries converge the new
region with nothing made twice (one domain per name, one profile per name, one file
system and one replication destination)."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from tests.converge.helpers import converge, prepared, reconciler
from tests.loop.test_concurrent_passes import profiles_in_aws
from tests.scaled_estate import write_estate

PRIMARY, REPLICA = "us-east-1", "us-west-2"
PROFILES = 40


@pytest.mark.slow  # ~60 s: AWS's latencies
def test_failover_with_latency_and_throttling_converges_with_no_duplicates(aws, tmp_path):
    desired = prepared(aws, load_desired_state(write_estate(tmp_path / "d", 2, PROFILES)))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    aws.sync_replication()
    flipped = replace(desired, estate=replace(desired.estate, active_region=REPLICA),
                      revision=desired.revision + "-flipped")

    aws.set_latency_model(seed=3)
    aws.set_faults(0.10, kinds=("throttle",), seed=5)
    standby = reconciler(aws, clock, region=REPLICA)
    try:
        converge(standby, flipped, clock, max_passes=40)
        thrown = aws.faults_snapshot()
    finally:
        aws.clear_faults()
        aws.clear_latency_model()

    assert sum(thrown.get("injected", {}).values()) > 0, thrown
    assert not standby.reconcile(flipped).plan.actions, "converged"
    sagemaker = boto3.client("sagemaker", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    domains = sagemaker.list_domains()["Domains"]
    assert sorted(d["DomainName"] for d in domains) == ["team-0", "team-1"], (
        "one domain per name")
    profiles = profiles_in_aws(aws, REPLICA)
    assert sorted(profiles) == sorted(desired.profiles), "one profile per name"
    assert set(profiles.values()) == {"InService"}
    efs = boto3.client("efs", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    homes = {d["DomainId"] for d in domains}  # each domain's own home file system
    ours = [f for f in efs.describe_file_systems()["FileSystems"]
            if f["CreationToken"] not in homes]
    assert len(ours) == 1, "no second replica"
    old = boto3.client("sagemaker", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    old_homes = {d["DomainId"] for d in old.list_domains()["Domains"]}
    source = boto3.client("efs", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    assert len([f for f in source.describe_file_systems()["FileSystems"]
                if f["CreationToken"] not in old_homes]) == 1, "nothing made back there"
