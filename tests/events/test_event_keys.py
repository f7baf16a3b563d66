"""An EventBridge message becomes the key of what to look at again, never more: the
payload is not trusted, only ids that look like ids are kept."""

from __future__ import annotations

import json

import pytest

from controller.events.keys import REGION, EventKey, MalformedEvent, key_of

REGION_NAME = "us-east-1"


def event(source: str = "aws.sagemaker", name: str = "UpdateUserProfile",
          parameters: dict | None = None, region: str = REGION_NAME, **detail) -> str:
    event_source = {"aws.sagemaker": "sagemaker.amazonaws.com",
                    "aws.elasticfilesystem": "elasticfilesystem.amazonaws.com"}[source]
    return json.dumps({"version": "0", "detail-type": "AWS API Call via CloudTrail",
                       "source": source, "region": region,
                       "detail": {"eventSource": event_source, "eventName": name,
                                  "awsRegion": region, "requestParameters": parameters,
                                  **detail}})


def test_profile_calls_name_the_profile():
    body = event(parameters={"domainId": "d-abcdefghijkl", "userProfileName": "bob",
                             "userSettings": {"customPosixUserConfig": {"uid": 1}}})
    assert key_of(body, REGION_NAME) == EventKey("profile", "d-abcdefghijkl", "bob")


def test_tags_name_the_resource_of_their_arn():
    arn = "arn:aws:sagemaker:us-east-1:123456789012:user-profile/d-abcdefghijkl/alice"
    assert key_of(event(name="AddTags", parameters={"resourceArn": arn}), REGION_NAME) == (
        EventKey("profile", "d-abcdefghijkl", "alice"))
    domain = "arn:aws-us-gov:sagemaker:us-gov-west-1:123456789012:domain/d-abcdefghijkl"
    assert key_of(event(name="DeleteTags", parameters={"resourceArn": domain}),
                  REGION_NAME) == EventKey("domain", "d-abcdefghijkl")


def test_apps_spaces_and_domains_name_the_domain():
    for name, extra in (("CreateApp", {"userProfileName": "bob", "appType": "JupyterLab"}),
                        ("DeleteSpace", {"spaceName": "s"}), ("UpdateDomain", {})):
        body = event(name=name, parameters={"domainId": "d-abcdefghijkl", **extra})
        assert key_of(body, REGION_NAME) == EventKey("domain", "d-abcdefghijkl"), name
    created = event(name="CreateDomain", parameters={"domainName": "research"})
    assert key_of(created, REGION_NAME) == EventKey("domain", name="research")


def test_efs_calls_name_the_file_system():
    body = event("aws.elasticfilesystem", "PutFileSystemPolicy",
                 {"fileSystemId": "fs-0123abcd", "policy": "{}"})
    assert key_of(body, REGION_NAME) == EventKey("file-system", name="fs-0123abcd")
    assert key_of(event("aws.elasticfilesystem", "DeleteMountTarget",
                        {"mountTargetId": "fsmt-1"}), REGION_NAME) == REGION


def test_values_that_are_not_ids_are_not_trusted_only_the_region_is_looked_at():
    for parameters in ({"domainId": "../../etc", "userProfileName": "bob"},
                       {"domainId": "d-abcdefghijkl", "userProfileName": "bob\nEVIL"},
                       {"domainId": ["d-abcdefghijkl"]}, None):
        key = key_of(event(parameters=parameters), REGION_NAME)
        assert key in (REGION, EventKey("domain", "d-abcdefghijkl")), parameters


def test_another_regions_event_is_ignored():
    assert key_of(event(region="eu-west-1", parameters={"domainId": "d-abcdefghijkl"}),
                  REGION_NAME) is None


@pytest.mark.parametrize("body", [
    "not json", "[]", json.dumps({"detail-type": "Scheduled Event", "source": "aws.events"}),
    json.dumps({"detail-type": "AWS API Call via CloudTrail", "source": "aws.sagemaker",
                "detail": {"eventSource": "s3.amazonaws.com"}}),
    "[" * 100_000, "x" * (256 * 1024 + 1),
])
def test_what_is_not_such_an_event_is_refused(body):
    with pytest.raises(MalformedEvent):
        key_of(body, REGION_NAME)
