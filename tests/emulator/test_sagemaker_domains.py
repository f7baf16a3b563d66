"""SageMaker domains behave as AWS's do, through real boto3 clients."""

from __future__ import annotations

import re

from tests.emulator.helpers import ROLE, create_domain, error_of, make_network, wait_for


def test_create_domain_answers_a_real_domain_id_and_arn(aws, client, network):
    sagemaker = client("sagemaker")
    answer = sagemaker.create_domain(
        DomainName="research",
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": ROLE},
        VpcId=network.vpc_id,
        SubnetIds=network.subnet_ids,
    )
    assert re.fullmatch(r"d-[a-z0-9]{12}", answer["DomainId"])
    assert (
        answer["DomainArn"]
        == f"arn:aws:sagemaker:us-east-1:123456789012:domain/{answer['DomainId']}"
    )
    assert answer["Url"].startswith(f"https://{answer['DomainId']}.studio.us-east-1.")


def test_a_second_domain_with_the_same_name_in_a_region_is_refused_but_another_region_is_separate(
    aws, client, network
):
    create_domain(client("sagemaker"), network)
    assert error_of(lambda: create_domain(client("sagemaker"), network)) == ("ResourceInUse", 400)
    west = make_network(client("ec2", "us-west-2"), ("us-west-2a",))
    west_id = create_domain(client("sagemaker", "us-west-2"), west)
    assert [d["DomainId"] for d in client("sagemaker", "us-west-2").list_domains()["Domains"]] == [
        west_id
    ]
    assert len(client("sagemaker").list_domains()["Domains"]) == 1


def test_the_home_file_system_is_a_real_efs_with_a_folder_and_mount_targets(aws, client, network):
    domain_id = create_domain(client("sagemaker"), network)
    home = client("sagemaker").describe_domain(DomainId=domain_id)["HomeEfsFileSystemId"]
    efs = client("efs")
    described = efs.describe_file_systems(FileSystemId=home)["FileSystems"][0]
    assert described["Tags"] == [
        {
            "Key": "ManagedByAmazonSageMakerResource",
            "Value": f"arn:aws:sagemaker:us-east-1:123456789012:domain/{domain_id}",
        }
    ]
    assert (aws.efs_root / home).is_dir()
    targets = efs.describe_mount_targets(FileSystemId=home)["MountTargets"]
    assert sorted(t["SubnetId"] for t in targets) == sorted(network.subnet_ids)


def test_an_unknown_domain_id_is_resource_not_found(aws, client):
    assert error_of(lambda: client("sagemaker").describe_domain(DomainId="d-000000000000")) == (
        "ResourceNotFound",
        400,
    )


def test_subnets_must_exist_in_the_given_vpc(aws, client, network):
    other = make_network(client("ec2"), ("us-east-1c",))
    sagemaker = client("sagemaker")
    assert (
        error_of(
            lambda: sagemaker.create_domain(
                DomainName="x",
                AuthMode="IAM",
                DefaultUserSettings={"ExecutionRole": ROLE},
                VpcId=network.vpc_id,
                SubnetIds=other.subnet_ids,
            )
        )[0]
        == "ValidationException"
    )
    assert (
        error_of(
            lambda: sagemaker.create_domain(
                DomainName="x",
                AuthMode="IAM",
                DefaultUserSettings={"ExecutionRole": ROLE},
                VpcId=network.vpc_id,
                SubnetIds=["subnet-0123456789abcdef0"],
            )
        )[0]
        == "ValidationException"
    )


def test_describe_echoes_settings_and_fills_in_aws_defaults(aws, client, network):
    efs = client("efs").create_file_system(CreationToken="shared")["FileSystemId"]
    user = {
        "ExecutionRole": ROLE,
        "CustomPosixUserConfig": {"Uid": 200001, "Gid": 1001},
        "CustomFileSystemConfigs": [
            {"EFSFileSystemConfig": {"FileSystemId": efs, "FileSystemPath": "/"}}
        ],
        "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}},
        "CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}},
    }
    space = {"ExecutionRole": ROLE, "CustomFileSystemConfigs": user["CustomFileSystemConfigs"]}
    domain_id = create_domain(
        client("sagemaker"),
        network,
        DefaultUserSettings=user,
        DefaultSpaceSettings=space,
        AppNetworkAccessType="VpcOnly",
    )
    described = client("sagemaker").describe_domain(DomainId=domain_id)
    assert {k: described["DefaultUserSettings"][k] for k in user} == user
    assert described["DefaultUserSettings"]["StudioWebPortal"] == "ENABLED"
    assert described["DefaultSpaceSettings"] == space
    assert (described["AuthMode"], described["VpcId"], described["SubnetIds"]) == (
        "IAM",
        network.vpc_id,
        network.subnet_ids,
    )
    assert described["AppNetworkAccessType"] == "VpcOnly"
    assert described["CreationTime"] <= described["LastModifiedTime"]


def test_custom_file_systems_must_exist_in_the_domains_region(aws, client, network):
    west_fs = client("efs", "us-west-2").create_file_system(CreationToken="w")["FileSystemId"]
    settings = {
        "ExecutionRole": ROLE,
        "CustomFileSystemConfigs": [{"EFSFileSystemConfig": {"FileSystemId": west_fs}}],
    }
    code, _ = error_of(
        lambda: create_domain(client("sagemaker"), network, DefaultUserSettings=settings)
    )
    assert code == "ValidationException"


def test_status_goes_pending_then_in_service_and_updating_then_in_service(aws, client, network):
    aws.set_transition_seconds(0.3)
    sagemaker = client("sagemaker")
    domain_id = create_domain(sagemaker, network)
    status = lambda: sagemaker.describe_domain(DomainId=domain_id)["Status"]  # noqa: E731
    assert wait_for(status, "InService") == ["Pending", "InService"]
    sagemaker.update_domain(DomainId=domain_id, DefaultUserSettings={"ExecutionRole": ROLE})
    assert error_of(lambda: sagemaker.update_domain(DomainId=domain_id)) == ("ResourceInUse", 400)
    assert wait_for(status, "InService") == ["Updating", "InService"]


def test_update_replaces_the_top_level_keys_given_and_keeps_the_others(aws, client, network):
    sagemaker = client("sagemaker")
    domain_id = create_domain(
        sagemaker,
        network,
        DefaultUserSettings={
            "ExecutionRole": ROLE,
            "JupyterLabAppSettings": {
                "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"},
                "CodeRepositories": [],
            },
        },
    )
    sagemaker.update_domain(
        DomainId=domain_id,
        DefaultUserSettings={
            "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.m5.large"}},
            "CustomPosixUserConfig": {"Uid": 10000, "Gid": 1001},
        },
    )
    settings = sagemaker.describe_domain(DomainId=domain_id)["DefaultUserSettings"]
    assert settings["ExecutionRole"] == ROLE
    assert settings["JupyterLabAppSettings"] == {
        "DefaultResourceSpec": {"InstanceType": "ml.m5.large"}
    }
    assert settings["CustomPosixUserConfig"] == {"Uid": 10000, "Gid": 1001}


def test_posix_ids_outside_the_aws_ranges_are_refused(aws, client, network):
    sagemaker = client("sagemaker")
    domain_id = create_domain(sagemaker, network)
    for posix in ({"Uid": 4000001, "Gid": 1001}, {"Uid": 200001, "Gid": 4000001}):
        update = lambda p=posix: sagemaker.update_domain(  # noqa: E731
            DomainId=domain_id, DefaultUserSettings={"CustomPosixUserConfig": p}
        )
        assert error_of(update) == ("ValidationException", 400)


def test_tags_given_at_creation_are_kept_and_tags_work_on_untagged_domains(aws, client, network):
    sagemaker = client("sagemaker")
    tagged = create_domain(sagemaker, network, "a", Tags=[{"Key": "team", "Value": "ml"}])
    plain = create_domain(sagemaker, network, "b")
    arn = lambda d: sagemaker.describe_domain(DomainId=d)["DomainArn"]  # noqa: E731
    assert sagemaker.list_tags(ResourceArn=arn(tagged))["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert sagemaker.list_tags(ResourceArn=arn(plain))["Tags"] == []
    sagemaker.add_tags(
        ResourceArn=arn(plain), Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    )
    sagemaker.delete_tags(ResourceArn=arn(plain), TagKeys=["a"])
    assert sagemaker.list_tags(ResourceArn=arn(plain))["Tags"] == [{"Key": "b", "Value": "2"}]


def test_list_domains_pages(aws, client, network):
    sagemaker = client("sagemaker")
    created = [create_domain(sagemaker, network, f"domain-{i}") for i in range(5)]
    first = sagemaker.list_domains(MaxResults=2)
    pages = [
        d["DomainId"]
        for page in sagemaker.get_paginator("list_domains").paginate(
            PaginationConfig={"PageSize": 2}
        )
        for d in page["Domains"]
    ]
    assert len(first["Domains"]) == 2 and "NextToken" in first
    assert pages == created


def test_delete_goes_through_deleting_then_the_domain_is_gone(aws, client, network):
    aws.set_transition_seconds(0.3)
    sagemaker = client("sagemaker")
    domain_id = create_domain(sagemaker, network)
    wait_for(lambda: sagemaker.describe_domain(DomainId=domain_id)["Status"], "InService")
    sagemaker.delete_domain(DomainId=domain_id)

    def status() -> str:
        try:
            return sagemaker.describe_domain(DomainId=domain_id)["Status"]
        except sagemaker.exceptions.ResourceNotFound:
            return "gone"

    assert wait_for(status, "gone") == ["Deleting", "gone"]


def test_a_domain_with_profiles_cannot_be_deleted_and_retention_delete_removes_the_home_efs(
    aws, client, network
):
    sagemaker = client("sagemaker")
    domain_id = create_domain(sagemaker, network)
    home = sagemaker.describe_domain(DomainId=domain_id)["HomeEfsFileSystemId"]
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert error_of(lambda: sagemaker.delete_domain(DomainId=domain_id)) == ("ResourceInUse", 400)
    sagemaker.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    sagemaker.delete_domain(DomainId=domain_id, RetentionPolicy={"HomeEfsFileSystem": "Delete"})
    assert error_of(lambda: client("efs").describe_file_systems(FileSystemId=home)) == (
        "FileSystemNotFound",
        404,
    )
    assert not (aws.efs_root / home).exists()
