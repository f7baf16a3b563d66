"""The emulator checks every request against botocore's service model, as AWS does.

Each request below breaks one kind of constraint and is sent with botocore's own
client-side checks off (`parameter_validation=False`), as a client that skips them (or a
constraint botocore never checks, such as a maximum length) would send it. The answer
must be the service's own error, in its protocol's shape, naming the member.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from controller.emulator import Emulator
from controller.emulator.validation import _compiled, uncheckable_patterns

UNCHECKED = Config(parameter_validation=False, retries={"total_max_attempts": 1})
FS = "fs-0123456789abcdef0"


@pytest.fixture
def unchecked(aws: Emulator) -> Callable[[str], Any]:
    def make(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=aws.endpoint_url,
                            config=UNCHECKED)
    return make


def refusal(client: Any, operation: str, **params: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(**params)
    return caught.value


# (rule kind, operation, params, member path named in the message, message fragment)
JSON_CASES = [
    ("required", "describe_domain", {}, "domainId", "Member must not be null"),
    ("max length", "describe_domain", {"DomainId": "d-" + "a" * 70}, "domainId",
     "length less than or equal to 63"),
    ("min length", "create_studio_lifecycle_config",
     {"StudioLifecycleConfigName": "x", "StudioLifecycleConfigContent": "",
      "StudioLifecycleConfigAppType": "JupyterLab"}, "studioLifecycleConfigContent",
     "length greater than or equal to 1"),
    ("pattern", "describe_domain", {"DomainId": "domain_1"}, "domainId",
     "regular expression pattern"),
    ("enum", "list_user_profiles", {"SortOrder": "Sideways"}, "sortOrder",
     "enum value set: [Ascending, Descending]"),
    ("range", "list_domains", {"MaxResults": 1000}, "maxResults",
     "value less than or equal to 100"),
    ("list length", "update_domain",
     {"DomainId": "d-abcdefabcdef", "DefaultUserSettings": {"SecurityGroups": ["sg-1"] * 6}},
     "defaultUserSettings.securityGroups", "length less than or equal to 5"),
    ("nested required", "update_domain",
     {"DomainId": "d-abcdefabcdef",
      "DefaultUserSettings": {"CustomPosixUserConfig": {"Uid": 200001}}},
     "defaultUserSettings.customPosixUserConfig.gid", "Member must not be null"),
    ("nested range", "update_domain",
     {"DomainId": "d-abcdefabcdef",
      "DefaultUserSettings": {"CustomPosixUserConfig": {"Uid": 5, "Gid": 1001}}},
     "defaultUserSettings.customPosixUserConfig.uid", "value greater than or equal to 10000"),
]


@pytest.mark.parametrize(("kind", "operation", "params", "member", "fragment"), JSON_CASES,
                         ids=[c[0] for c in JSON_CASES])
def test_json_services_answer_validation_exception(unchecked, kind, operation, params,
                                                   member, fragment):
    error = refusal(unchecked("sagemaker"), operation, **params)
    assert error.response["Error"]["Code"] == "ValidationException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = error.response["Error"]["Message"]
    assert "validation error" in message and "detected" in message
    assert f"at '{member}' failed to satisfy constraint" in message and fragment in message


def test_json_enum_message_lists_the_allowed_values(unchecked):
    error = refusal(unchecked("sagemaker"), "create_domain", DomainName="research",
                    AuthMode="LDAP", DefaultUserSettings={}, SubnetIds=["subnet-1"],
                    VpcId="vpc-1")
    message = error.response["Error"]["Message"]
    assert "Value 'LDAP' at 'authMode'" in message
    assert "Member must satisfy enum value set: [SSO, IAM]" in message


def test_json_map_size_is_checked(unchecked):
    error = refusal(unchecked("dynamodb"), "batch_get_item", RequestItems={})
    assert error.response["Error"]["Code"] == "ValidationException"
    assert "at 'requestItems'" in error.response["Error"]["Message"]
    assert "length greater than or equal to 1" in error.response["Error"]["Message"]


def test_json_value_of_the_wrong_type_is_a_serialization_error(unchecked):
    error = refusal(unchecked("sagemaker"), "list_domains", MaxResults="ten")
    assert error.response["Error"]["Code"] == "SerializationException"


def test_all_violations_of_one_request_are_reported_together(unchecked):
    error = refusal(unchecked("sagemaker"), "create_domain", DomainName="bad_name",
                    AuthMode="NOPE", DefaultUserSettings={"SecurityGroups": ["sg-1"] * 6},
                    SubnetIds=[], VpcId="vpc-1")
    message = error.response["Error"]["Message"]
    assert message.startswith("4 validation errors detected: ")
    for member in ("domainName", "authMode", "defaultUserSettings.securityGroups", "subnetIds"):
        assert f"at '{member}'" in message


EFS_CASES = [
    ("required", "create_mount_target", {"FileSystemId": FS}, "subnetId",
     "Member must not be null"),
    ("max length", "create_file_system", {"CreationToken": "t" * 100}, "creationToken",
     "length less than or equal to 64"),
    ("min length", "create_access_point", {"ClientToken": "", "FileSystemId": FS},
     "clientToken", "length greater than or equal to 1"),
    ("pattern (query string)", "describe_mount_targets", {"FileSystemId": "not-an-id"},
     "fileSystemId", "regular expression pattern"),
    ("pattern (uri)", "describe_file_system_policy", {"FileSystemId": "not-an-id"},
     "fileSystemId", "regular expression pattern"),
    ("enum", "create_file_system", {"CreationToken": "t", "PerformanceMode": "fast"},
     "performanceMode", "enum value set"),
    ("range", "describe_file_systems", {"MaxItems": 0}, "maxItems",
     "value greater than or equal to 1"),
    ("list length", "create_access_point",
     {"ClientToken": "t", "FileSystemId": FS,
      "PosixUser": {"Uid": 1, "Gid": 1, "SecondaryGids": list(range(17))}},
     "posixUser.secondaryGids", "length less than or equal to 16"),
    ("nested required", "create_access_point",
     {"ClientToken": "t", "FileSystemId": FS, "PosixUser": {"Uid": 1}}, "posixUser.gid",
     "Member must not be null"),
]


@pytest.mark.parametrize(("kind", "operation", "params", "member", "fragment"), EFS_CASES,
                         ids=[c[0] for c in EFS_CASES])
def test_efs_answers_bad_request_with_an_error_code(unchecked, kind, operation, params,
                                                   member, fragment):
    error = refusal(unchecked("efs"), operation, **params)
    assert error.response["Error"]["Code"] == "BadRequest"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error.response.get("ErrorCode") == "BadRequest"  # EFS's modelled error member
    message = error.response["Error"]["Message"]
    assert f"at '{member}' failed to satisfy constraint" in message and fragment in message


def test_a_64_character_creation_token_is_still_accepted(unchecked):
    answer = unchecked("efs").create_file_system(CreationToken="t" * 64)
    assert answer["FileSystemId"].startswith("fs-")


QUERY_CASES = [
    ("required", "iam", "get_role", {}, "roleName", "Member must not be null"),
    ("max length", "iam", "create_role",
     {"RoleName": "r" * 100, "AssumeRolePolicyDocument": "{}"}, "roleName",
     "length less than or equal to 64"),
    ("min length", "sts", "assume_role",
     {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "a"},
     "roleSessionName", "length greater than or equal to 2"),
    ("pattern", "iam", "get_role", {"RoleName": "no spaces allowed"}, "roleName",
     "regular expression pattern"),
    ("enum", "iam", "list_policies", {"Scope": "Everything"}, "scope", "enum value set"),
    ("range", "iam", "list_roles", {"MaxItems": 0}, "maxItems",
     "value greater than or equal to 1"),
    ("list length", "iam", "tag_role",
     {"RoleName": "r", "Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]},
     "tags", "length less than or equal to 50"),
    ("nested required", "iam", "tag_role", {"RoleName": "r", "Tags": [{"Key": "k"}]},
     "tags.1.member.value", "Member must not be null"),
]


@pytest.mark.parametrize(("kind", "service", "operation", "params", "member", "fragment"),
                         QUERY_CASES, ids=[c[0] for c in QUERY_CASES])
def test_query_services_answer_validation_error(unchecked, kind, service, operation, params,
                                                member, fragment):
    error = refusal(unchecked(service), operation, **params)
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["Error"]["Type"] == "Sender"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = error.response["Error"]["Message"]
    assert f"at '{member}' failed to satisfy constraint" in message and fragment in message


EC2_CASES = [
    ("required", "create_subnet", {"CidrBlock": "10.0.0.0/24"}, "MissingParameter",
     "The request must contain the parameter VpcId"),
    ("range", "describe_vpcs", {"MaxResults": 2}, "InvalidParameterValue",
     "parameter MaxResults is invalid"),
    ("enum", "create_vpc", {"CidrBlock": "10.0.0.0/16", "InstanceTenancy": "shared"},
     "InvalidParameterValue", "parameter InstanceTenancy is invalid"),
    ("nested enum", "create_vpc",
     {"CidrBlock": "10.0.0.0/16",
      "TagSpecifications": [{"ResourceType": "spaceship", "Tags": []}]},
     "InvalidParameterValue", "parameter TagSpecifications.1.ResourceType"),
    ("type", "describe_vpcs", {"MaxResults": "many"}, "InvalidParameterValue",
     "must be of type integer"),
]


@pytest.mark.parametrize(("kind", "operation", "params", "code", "fragment"), EC2_CASES,
                         ids=[c[0] for c in EC2_CASES])
def test_ec2_answers_in_its_own_words(unchecked, kind, operation, params, code, fragment):
    error = refusal(unchecked("ec2"), operation, **params)
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment in error.response["Error"]["Message"]


def test_cbor_requests_are_read_and_checked_too(unchecked):
    cloudwatch = unchecked("cloudwatch")
    error = refusal(cloudwatch, "put_metric_data", Namespace="", MetricData=[])
    assert error.response["Error"]["Code"] == "InvalidParameterValue"
    assert "Namespace" in error.response["Error"]["Message"]
    assert cloudwatch.list_metrics(Namespace="AWS/EFS")["Metrics"] == []


def test_refused_requests_reach_neither_the_extensions_nor_moto(aws, unchecked):
    efs = unchecked("efs")
    refusal(efs, "create_file_system", CreationToken="t" * 65)
    assert efs.describe_file_systems()["FileSystems"] == []
    assert aws.request_counts()["efs:CreateFileSystem"] == 1  # AWS saw (and refused) it


def test_every_pattern_of_the_services_the_operator_uses_is_enforced():
    session = botocore.session.get_session()
    for service in ("sagemaker", "efs", "ec2", "iam", "sts", "dynamodb", "cloudwatch"):
        model = session.get_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern:
                assert _compiled(pattern) is not None, f"{service} {name}: {pattern}"
    assert not uncheckable_patterns() & {"[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"}
