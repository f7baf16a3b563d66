"""The latency and rate model: calls take AWS's time, overlap when made at once, and are
throttled per account, region and operation in each service's own shape."""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from controller.emulator.pacing import PacingPlan
from tests.emulator.helpers import error_of

SLOW_LIST = {"sagemaker:ListDomains": 0.3}


def timed(call) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    call()
    return time.monotonic() - started


def test_the_model_is_off_unless_asked_for(aws, client):
    sagemaker = client("sagemaker", attempts=1)
    assert aws.latency_model_snapshot()["enabled"] is False
    for _ in range(60):  # far past any bucket: nothing is throttled
        sagemaker.list_domains()
    assert min(timed(sagemaker.list_domains) for _ in range(5)) < 0.1


def test_a_call_takes_its_operations_latency(aws, client):
    sagemaker = client("sagemaker", attempts=1)
    sagemaker.list_domains()  # the first call also looks up the caller's account
    aws.set_latency_model(jitter=0.0, latencies=SLOW_LIST, rate_limits=False)
    assert 0.3 <= timed(sagemaker.list_domains) < 0.6
    aws.set_latency_model(jitter=0.0, latencies=SLOW_LIST, rate_limits=False, scale=0.5)
    assert 0.15 <= timed(sagemaker.list_domains) < 0.3


def test_calls_made_at_once_overlap_their_latency(aws, client):
    """The server is threaded: eight calls of 0.3 s each take about 0.3 s together, as on
    AWS, not 2.4 s one after the other."""
    sagemaker = client("sagemaker", attempts=1)
    sagemaker.list_domains()
    aws.set_latency_model(jitter=0.0, latencies=SLOW_LIST, rate_limits=False)
    with ThreadPoolExecutor(8) as pool:
        took = timed(lambda: list(pool.map(lambda _: sagemaker.list_domains(), range(8))))
    assert took < 0.9


def test_an_empty_bucket_throttles_until_it_refills(aws, client):
    sagemaker = client("sagemaker", attempts=1)
    aws.set_latency_model(latency=False, rates={"sagemaker:ListDomains": [3, 2]})
    for _ in range(3):
        sagemaker.list_domains()
    assert error_of(sagemaker.list_domains) == ("ThrottlingException", 400)
    sagemaker.list_apps()  # another operation: its own bucket
    time.sleep(0.6)  # 2 tokens a second: at least one is back
    sagemaker.list_domains()
    snapshot = aws.latency_model_snapshot()
    assert snapshot["throttled"] == {"sagemaker:ListDomains": 1}


@pytest.mark.parametrize(
    ("service", "operation", "call", "expected"),
    [
        ("efs", "efs:DescribeFileSystems", lambda c: c.describe_file_systems(),
         ("ThrottlingException", 429)),
        ("ec2", "ec2:DescribeVpcs", lambda c: c.describe_vpcs(), ("RequestLimitExceeded", 503)),
        ("iam", "iam:ListRoles", lambda c: c.list_roles(), ("Throttling", 400)),
    ],
)
def test_throttling_is_answered_in_each_services_shape(aws, client, service, operation, call,
                                                       expected):
    made = client(service, attempts=1)
    aws.set_latency_model(latency=False, rates={operation: [1, 0.1]})
    call(made)
    assert error_of(lambda: call(made)) == expected


def test_buckets_are_per_region_and_per_account(aws, client):
    aws.set_latency_model(latency=False, rates={"sagemaker:ListDomains": [1, 0.1]})
    east, west = client("sagemaker", attempts=1), client("sagemaker", "us-west-2", attempts=1)
    east.list_domains()
    assert error_of(east.list_domains)[0] == "ThrottlingException"
    west.list_domains()  # another region: its own bucket
    other_account = client("sagemaker", attempts=1)
    other_account.meta.events.register(
        "before-sign.sagemaker.*",
        lambda request, **_: request.headers.__setitem__("x-moto-account-id", "210987654321"))
    other_account.list_domains()  # another account: its own bucket
    assert error_of(other_account.list_domains)[0] == "ThrottlingException"


def test_the_default_tables_read_reads_fast_and_creates_slow():
    plan = PacingPlan()
    assert 0.01 <= plan.latency_of("sagemaker:DescribeUserProfile") < 0.1
    assert 0.1 <= plan.latency_of("sagemaker:CreateUserProfile") < 1.0
    assert plan.latency_of("sagemaker:CreateDomain") > plan.latency_of("sagemaker:CreateSpace")
    assert plan.limit_of("ec2:DescribeSubnets") == (100.0, 20.0)  # EC2's documented bucket
    assert plan.limit_of("dynamodb:PutItem") is None  # capacity, not request rate
    overridden = PacingPlan(latencies=(("sagemaker:Create*", 0.01),))
    assert overridden.latency_of("sagemaker:CreateDomain") == 0.01


def test_the_control_endpoint_turns_it_on_and_off_and_reset_restores_the_default(aws, client):
    def call(method: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{aws.endpoint_url}/_emulator/latency", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    on = call("POST", {"scale": 0.5, "rates": {"sagemaker:ListDomains": [1, 0.1]},
                       "latency": False})
    assert on["enabled"] and on["scale"] == 0.5 and not on["latency"]
    sagemaker = client("sagemaker", attempts=1)
    sagemaker.list_domains()
    assert error_of(sagemaker.list_domains)[0] == "ThrottlingException"
    assert call("GET")["throttled"] == {"sagemaker:ListDomains": 1}
    assert call("DELETE")["enabled"] is False
    sagemaker.list_domains()
    aws.set_latency_model()
    aws.reset()
    assert aws.latency_model_snapshot()["enabled"] is False
