"""Service Quotas for the EFS quotas a failover uses up: AWS's defaults, an applied value a
test sets (per region), NoSuchResource for a code AWS does not have, and moto's own
answer for the service codes it knows."""

from __future__ import annotations

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

FILE_SYSTEMS, MOUNT_TARGETS = "L-848C634D", "L-7391004C"


def quotas(aws, region="us-east-1"):
    return boto3.client("service-quotas", region_name=region, endpoint_url=aws.endpoint_url)


def test_efs_quotas_answer_aws_defaults_with_their_arn(aws):
    quota = quotas(aws).get_service_quota(ServiceCode="elasticfilesystem",
                                          QuotaCode=FILE_SYSTEMS)["Quota"]
    assert (quota["QuotaName"], quota["Value"], quota["Adjustable"]) == (
        "File systems per account", 1000.0, True)
    assert quota["QuotaArn"] == (
        "arn:aws:servicequotas:us-east-1:123456789012:elasticfilesystem/L-848C634D")
    assert quotas(aws).get_service_quota(ServiceCode="elasticfilesystem",
                                         QuotaCode=MOUNT_TARGETS)["Quota"]["Value"] == 400.0


def test_an_applied_value_is_per_region_and_the_default_stays_the_default(aws):
    aws.set_service_quota("elasticfilesystem", MOUNT_TARGETS, 3, region="us-west-2")
    west, east = quotas(aws, "us-west-2"), quotas(aws)
    assert west.get_service_quota(ServiceCode="elasticfilesystem",
                                  QuotaCode=MOUNT_TARGETS)["Quota"]["Value"] == 3.0
    assert east.get_service_quota(ServiceCode="elasticfilesystem",
                                  QuotaCode=MOUNT_TARGETS)["Quota"]["Value"] == 400.0
    assert west.get_aws_default_service_quota(
        ServiceCode="elasticfilesystem", QuotaCode=MOUNT_TARGETS)["Quota"]["Value"] == 400.0
    aws.reset()
    assert west.get_service_quota(ServiceCode="elasticfilesystem",
                                  QuotaCode=MOUNT_TARGETS)["Quota"]["Value"] == 400.0


def test_the_control_endpoint_sets_a_value_and_refuses_an_unknown_quota(aws):
    url = f"{aws.endpoint_url}/_emulator/service-quotas"
    ok = requests.post(url, json={"service_code": "elasticfilesystem",
                                  "quota_code": FILE_SYSTEMS, "value": 7}, timeout=10)
    assert ok.status_code == 200
    assert quotas(aws).get_service_quota(ServiceCode="elasticfilesystem",
                                         QuotaCode=FILE_SYSTEMS)["Quota"]["Value"] == 7.0
    refused = requests.post(url, json={"service_code": "elasticfilesystem",
                                       "quota_code": "L-NOPE", "value": 7}, timeout=10)
    assert refused.status_code == 400 and "knows no quota" in refused.json()["error"]


def test_an_unknown_efs_code_is_no_such_resource_and_vpc_still_goes_to_moto(aws):
    with pytest.raises(ClientError) as error:
        quotas(aws).get_service_quota(ServiceCode="elasticfilesystem", QuotaCode="L-00000000")
    assert error.value.response["Error"]["Code"] == "NoSuchResourceException"
    vpc = quotas(aws).get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]
    assert vpc["QuotaCode"] == "L-F678F1CE"
    assert aws.request_counts()["service-quotas:GetServiceQuota"] == 2
