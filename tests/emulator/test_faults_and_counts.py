"""Injected faults arrive at the configured rate, in each protocol's shape; calls are counted."""

from __future__ import annotations

import time
import urllib.request

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from tests.emulator.helpers import error_of


def outcomes(call, times: int) -> list[str]:
    seen = []
    for _ in range(times):
        try:
            call()
            seen.append("ok")
        except ClientError as error:
            seen.append(error.response["Error"]["Code"])
    return seen


def test_faults_hit_about_the_configured_share_and_repeat_with_the_same_seed(aws, client):
    sagemaker = client("sagemaker", attempts=1)
    aws.set_faults(rate=0.3, seed=42)
    first = outcomes(sagemaker.list_domains, 100)
    aws.set_faults(rate=0.3, seed=42)
    second = outcomes(sagemaker.list_domains, 100)
    failures = [o for o in first if o != "ok"]
    assert first == second
    assert 18 <= len(failures) <= 42
    assert set(failures) <= {"ThrottlingException", "InternalFailure", "ServiceUnavailable"}
    assert len(set(failures)) >= 2, "both kinds are drawn"


@pytest.mark.parametrize(
    ("service", "call", "expected"),
    [
        ("sagemaker", lambda c: c.list_domains(), ("ThrottlingException", 400)),
        ("efs", lambda c: c.describe_file_systems(), ("ThrottlingException", 429)),
        ("ec2", lambda c: c.describe_vpcs(), ("RequestLimitExceeded", 503)),
        ("iam", lambda c: c.list_roles(), ("Throttling", 400)),
        ("s3", lambda c: c.list_buckets(), ("SlowDown", 503)),
    ],
)
def test_throttling_looks_like_each_services_own(aws, client, service, call, expected):
    aws.set_faults(rate=1.0, kinds=("throttle",))
    assert error_of(lambda: call(client(service, attempts=1))) == expected


def test_server_errors_are_500_or_503(aws, client):
    aws.set_faults(rate=1.0, kinds=("5xx",), seed=3)
    statuses = {error_of(client("efs", attempts=1).describe_file_systems) for _ in range(12)}
    assert statuses == {("InternalServerError", 500), ("ServiceUnavailable", 503)}


def test_only_the_chosen_services_and_operations_are_faulted(aws, client):
    aws.set_faults(rate=1.0, services={"sagemaker"}, operations={"ListUserProfiles"})
    sagemaker = client("sagemaker", attempts=1)
    assert sagemaker.list_domains()["Domains"] == []
    assert client("efs", attempts=1).describe_file_systems()["FileSystems"] == []
    assert error_of(sagemaker.list_user_profiles)[0] in {
        "ThrottlingException",
        "InternalFailure",
        "ServiceUnavailable",
    }
    aws.set_faults(rate=1.0, operations={"efs:DescribeFileSystems"})
    assert sagemaker.list_user_profiles()["UserProfiles"] == []
    assert error_of(client("efs", attempts=1).describe_file_systems)[1] >= 429


def test_a_plan_can_take_one_region_down_and_leave_the_other_serving(aws, client):
    aws.set_faults(rate=1.0, kinds=("5xx",), regions={"us-east-1"})
    assert error_of(client("efs", "us-east-1", attempts=1).describe_file_systems)[1] >= 500
    assert error_of(client("sagemaker", "us-east-1", attempts=1).list_domains)[1] >= 500
    assert client("efs", "us-west-2", attempts=1).describe_file_systems()["FileSystems"] == []
    assert aws.faults_snapshot()["regions"] == ["us-east-1"]


def test_a_timeout_fault_hangs_then_drops_the_connection(aws, client):
    aws.set_faults(rate=1.0, kinds=("timeout",), timeout_seconds=0.1)
    started = time.monotonic()
    with pytest.raises(ConnectionClosedError):
        client("sagemaker", attempts=1).list_domains()
    assert time.monotonic() - started >= 0.1


def test_control_and_moto_api_endpoints_are_never_faulted(aws):
    aws.set_faults(rate=1.0, kinds=("5xx",))
    with urllib.request.urlopen(f"{aws.endpoint_url}/_emulator/health") as answer:
        assert answer.status == 200
    with urllib.request.urlopen(f"{aws.endpoint_url}/moto-api/data.json") as answer:
        assert answer.status == 200


def test_requests_are_counted_by_service_and_operation_including_failed_attempts(aws, client):
    sagemaker = client("sagemaker", attempts=1)
    sagemaker.list_domains()
    sagemaker.list_domains()
    client("efs").describe_file_systems()
    aws.set_faults(rate=1.0, kinds=("throttle",))
    error_of(sagemaker.list_user_profiles)
    aws.clear_faults()
    assert aws.request_counts() == {
        "sagemaker:ListDomains": 2,
        "efs:DescribeFileSystems": 1,
        "sagemaker:ListUserProfiles": 1,
    }
    aws.reset_request_counts()
    assert aws.request_counts() == {}


def test_reset_clears_faults_counts_and_all_state(aws, client):
    client("efs").create_file_system(CreationToken="a")
    aws.set_faults(rate=1.0)
    aws.reset()
    assert client("efs", attempts=1).describe_file_systems()["FileSystems"] == []
    assert list(aws.efs_root.iterdir()) == []
    assert aws.request_counts() == {"efs:DescribeFileSystems": 1}
