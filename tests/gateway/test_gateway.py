"""The AWS gateway: one instrumented client per service and region, botocore retries."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from prometheus_client import REGISTRY

from controller.gateway import AwsGateway


def test_every_call_is_counted_by_service_operation_and_outcome(aws):
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=1)
    sagemaker = gateway.client("sagemaker", "us-east-1")
    before = REGISTRY.get_sample_value("studio_operator_aws_calls_total", {
        "service": "sagemaker", "operation": "ListDomains", "outcome": "ok"}) or 0
    sagemaker.list_domains()
    sagemaker.list_domains()
    with pytest.raises(ClientError):
        sagemaker.describe_domain(DomainId="d-000000000000")
    assert gateway.calls == {
        ("sagemaker", "ListDomains", "ok"): 2,
        ("sagemaker", "DescribeDomain", "ResourceNotFound"): 1,
    }
    assert gateway.total_calls() == 3
    assert gateway.total_calls(mutating_only=True) == 0
    after = REGISTRY.get_sample_value("studio_operator_aws_calls_total", {
        "service": "sagemaker", "operation": "ListDomains", "outcome": "ok"})
    assert after == before + 2


def test_throttling_and_5xx_are_retried_by_botocore_until_the_call_succeeds(aws):
    aws.set_faults(rate=0.4, kinds=("throttle", "5xx"), services={"sagemaker"}, seed=7)
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=8)
    sagemaker = gateway.client("sagemaker", "us-east-1")
    for _ in range(20):
        sagemaker.list_domains()
    aws.clear_faults()
    assert gateway.calls[("sagemaker", "ListDomains", "ok")] == 20
    served = aws.request_counts().get("sagemaker:ListDomains", 0)
    assert served > 20, "some attempts were refused and retried"


def test_without_retries_an_injected_throttle_surfaces_as_its_error_code(aws):
    aws.set_faults(rate=1.0, kinds=("throttle",), services={"sagemaker"}, seed=1)
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=1)
    with pytest.raises(ClientError) as raised:
        gateway.client("sagemaker", "us-east-1").list_domains()
    aws.clear_faults()
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert gateway.calls == {("sagemaker", "ListDomains", "ThrottlingException"): 1}


def test_aws_endpoint_url_from_the_environment_is_honoured(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    gateway = AwsGateway(max_attempts=1)
    assert gateway.client("sagemaker", "us-east-1").list_domains()["Domains"] == []


def test_clients_are_made_once_per_service_and_region(aws):
    gateway = AwsGateway(endpoint_url=aws.endpoint_url)
    assert gateway.client("efs", "us-east-1") is gateway.client("efs", "us-east-1")
    assert gateway.client("efs", "us-east-1") is not gateway.client("efs", "us-west-2")
    assert gateway.client("efs", "us-west-2").meta.region_name == "us-west-2"


def test_a_connection_failure_is_counted_as_a_transport_error():
    gateway = AwsGateway(endpoint_url="http://127.0.0.1:9", max_attempts=1,
                         connect_timeout=0.5)
    with pytest.raises(Exception):  # noqa: B017 - botocore's EndpointConnectionError
        gateway.client("sagemaker", "us-east-1").list_domains()
    assert gateway.calls == {("sagemaker", "ListDomains", "EndpointConnectionError"): 1}
