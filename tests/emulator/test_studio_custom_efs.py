"""Studio apps and custom EFS: a domain may name a file system no app can mount (as on
AWS); the app then ends in Failed with a reason. Mount targets start `creating`, and new
file systems and replicas have none."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tests.emulator.helpers import ROLE, create_domain, error_of, make_network, wait_for

DENY_WRITE = {"Sid": "Fence", "Effect": "Deny", "Principal": {"AWS": "*"},
              "Action": ["elasticfilesystem:ClientWrite"], "Resource": "*"}
ALLOW_ALL = {"Sid": "Everyone", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
             "Resource": "*"}


@dataclass
class Studio:
    domain_id: str
    file_system_id: str
    apps_group: str
    nfs_group: str
    subnets: list[str]


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def studio(client, network) -> Studio:
    """A domain (two subnets, two AZs) whose users get a custom EFS with no mount targets
    yet, and an NFS group that lets the domain's security group in."""
    ec2, efs, sagemaker = client("ec2"), client("efs"), client("sagemaker")
    apps = ec2.create_security_group(GroupName="apps", Description="Studio apps",
                                     VpcId=network.vpc_id)["GroupId"]
    nfs = ec2.create_security_group(GroupName="nfs", Description="EFS mount targets",
                                    VpcId=network.vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=nfs, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049,
        "UserIdGroupPairs": [{"GroupId": apps}]}])
    fs = efs.create_file_system(CreationToken="custom")["FileSystemId"]
    settings = {"ExecutionRole": ROLE, "SecurityGroups": [apps], "CustomFileSystemConfigs": [
        {"EFSFileSystemConfig": {"FileSystemId": fs, "FileSystemPath": "/"}}]}
    domain_id = create_domain(sagemaker, network, DefaultUserSettings=settings)
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    return Studio(domain_id, fs, apps, nfs, list(network.subnet_ids))


def _mount_everywhere(client, studio: Studio, groups: list[str] | None = None) -> None:
    for subnet in studio.subnets:
        client("efs").create_mount_target(FileSystemId=studio.file_system_id, SubnetId=subnet,
                                          SecurityGroups=groups or [studio.nfs_group])


def _start(client, studio: Studio, name: str = "default") -> dict:
    sagemaker = client("sagemaker")
    sagemaker.create_app(DomainId=studio.domain_id, UserProfileName="alice",
                         AppType="JupyterLab", AppName=name)
    return sagemaker.describe_app(DomainId=studio.domain_id, UserProfileName="alice",
                                  AppType="JupyterLab", AppName=name)


def test_new_file_systems_and_replicas_have_no_mount_targets(aws, client):
    efs = client("efs")
    source = efs.create_file_system(CreationToken="source")["FileSystemId"]
    assert efs.describe_mount_targets(FileSystemId=source)["MountTargets"] == []
    replica = efs.create_replication_configuration(
        SourceFileSystemId=source, Destinations=[{"Region": "us-west-2"}])[
        "Destinations"][0]["FileSystemId"]
    west = client("efs", region="us-west-2")
    assert west.describe_mount_targets(FileSystemId=replica)["MountTargets"] == []
    assert west.describe_file_systems(FileSystemId=replica)["FileSystems"][0][
        "NumberOfMountTargets"] == 0


def test_mount_targets_are_creating_before_they_are_available(aws, client, network):
    aws.set_transition_seconds(0.3)
    ec2, efs = client("ec2"), client("efs")
    group = ec2.create_security_group(GroupName="nfs", Description="nfs",
                                      VpcId=network.vpc_id)["GroupId"]
    fs = efs.create_file_system(CreationToken="t")["FileSystemId"]
    target = efs.create_mount_target(FileSystemId=fs, SubnetId=network.subnet_ids[0],
                                     SecurityGroups=[group])
    assert target["LifeCycleState"] == "creating"
    assert error_of(lambda: efs.modify_mount_target_security_groups(
        MountTargetId=target["MountTargetId"], SecurityGroups=[group])) == (
        "IncorrectMountTargetState", 409)
    seen = wait_for(lambda: efs.describe_mount_targets(FileSystemId=fs)["MountTargets"][0][
        "LifeCycleState"], "available")
    assert seen == ["creating", "available"]
    efs.modify_mount_target_security_groups(MountTargetId=target["MountTargetId"],
                                            SecurityGroups=[group])


def test_security_groups_of_another_vpc_are_refused_for_a_mount_target(aws, client, network):
    ec2, efs = client("ec2"), client("efs")
    other = make_network(ec2, ("us-east-1a",))
    foreign = ec2.create_security_group(GroupName="elsewhere", Description="x",
                                        VpcId=other.vpc_id)["GroupId"]
    fs = efs.create_file_system(CreationToken="t")["FileSystemId"]
    assert error_of(lambda: efs.create_mount_target(
        FileSystemId=fs, SubnetId=network.subnet_ids[0], SecurityGroups=[foreign])) == (
        "SecurityGroupMismatch", 400)


def test_an_app_fails_without_a_mount_target_in_every_subnet_of_the_domain(aws, client, studio):
    client("efs").create_mount_target(FileSystemId=studio.file_system_id,
                                      SubnetId=studio.subnets[0],
                                      SecurityGroups=[studio.nfs_group])
    app = _start(client, studio)
    assert app["Status"] == "Failed"
    assert studio.file_system_id in app["FailureReason"]
    assert f"no mount target in subnet {studio.subnets[1]}" in app["FailureReason"]
    assert aws.mounts() == []
    client("efs").create_mount_target(FileSystemId=studio.file_system_id,
                                      SubnetId=studio.subnets[1],
                                      SecurityGroups=[studio.nfs_group])
    started = _start(client, studio, "second")
    assert started["Status"] == "InService" and "FailureReason" not in started


def test_an_app_fails_while_a_mount_target_is_still_creating(aws, client, studio):
    aws.set_transition_seconds(5)
    _mount_everywhere(client, studio)
    aws.set_transition_seconds(0)  # the app itself starts at once; the targets do not
    app = _start(client, studio)
    assert app["Status"] == "Failed" and "is creating, not available" in app["FailureReason"]


def test_an_app_fails_when_the_mount_targets_do_not_let_nfs_in_from_its_groups(aws, client,
                                                                              studio):
    closed = client("ec2").create_security_group(
        GroupName="closed", Description="no rules", VpcId=client("ec2").describe_subnets(
            SubnetIds=studio.subnets[:1])["Subnets"][0]["VpcId"])["GroupId"]
    _mount_everywhere(client, studio, [closed])
    app = _start(client, studio)
    assert app["Status"] == "Failed"
    assert "do not allow NFS (TCP 2049)" in app["FailureReason"]


def test_an_app_fails_when_its_file_system_is_gone(aws, client, studio):
    client("efs").delete_file_system(FileSystemId=studio.file_system_id)
    app = _start(client, studio)
    assert app["Status"] == "Failed" and "was not found" in app["FailureReason"]


def test_a_policy_is_evaluated_when_the_app_mounts(aws, client, studio):
    efs = client("efs")
    _mount_everywhere(client, studio)
    efs.put_file_system_policy(FileSystemId=studio.file_system_id, Policy=_policy(DENY_WRITE))
    denied = _start(client, studio, "denied")
    assert denied["Status"] == "Failed"
    assert "denies elasticfilesystem:ClientWrite" in denied["FailureReason"]
    # A policy with only an Allow for someone else also ends anonymous access.
    efs.put_file_system_policy(FileSystemId=studio.file_system_id, Policy=_policy(
        {**ALLOW_ALL, "Principal": {"AWS": "arn:aws:iam::123456789012:role/worker"}}))
    assert _start(client, studio, "not-allowed")["Status"] == "Failed"
    efs.put_file_system_policy(FileSystemId=studio.file_system_id, Policy=_policy(ALLOW_ALL))
    assert _start(client, studio, "allowed")["Status"] == "InService"
    efs.delete_file_system_policy(FileSystemId=studio.file_system_id)
    assert _start(client, studio, "no-policy")["Status"] == "InService"


def test_an_app_that_starts_mounts_its_file_systems_until_it_is_deleted(aws, client, studio):
    _mount_everywhere(client, studio)
    sagemaker = client("sagemaker")
    app = _start(client, studio)
    assert app["Status"] == "InService"
    (mount,) = aws.mounts()
    assert (mount["client_id"], mount["file_system_id"]) == (app["AppArn"],
                                                             studio.file_system_id)
    # Mounts made before a fence keep working: only new connections are judged.
    client("efs").put_file_system_policy(FileSystemId=studio.file_system_id,
                                         Policy=_policy(DENY_WRITE))
    assert len(aws.mounts()) == 1
    aws.set_transition_seconds(0.3)
    sagemaker.delete_app(DomainId=studio.domain_id, UserProfileName="alice",
                         AppType="JupyterLab", AppName="default")
    assert len(aws.mounts()) == 1, "still connected while the app is Deleting"
    wait_for(lambda: len(aws.mounts()), 0)


def test_apps_without_custom_file_systems_need_no_mount_targets(aws, client, network):
    sagemaker = client("sagemaker")
    domain_id = create_domain(sagemaker, network)
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="bob")
    sagemaker.create_app(DomainId=domain_id, UserProfileName="bob", AppType="JupyterLab",
                         AppName="default")
    assert sagemaker.describe_app(DomainId=domain_id, UserProfileName="bob",
                                  AppType="JupyterLab", AppName="default")["Status"] == (
        "InService")
    assert aws.mounts() == []


def test_a_space_app_mounts_the_spaces_custom_file_systems(aws, client, studio):
    sagemaker = client("sagemaker")
    sagemaker.create_space(DomainId=studio.domain_id, SpaceName="lab",
                           OwnershipSettings={"OwnerUserProfileName": "alice"},
                           SpaceSettings={"AppType": "JupyterLab", "CustomFileSystems": [
                               {"EFSFileSystem": {"FileSystemId": studio.file_system_id}}]})

    def start(name: str) -> dict:
        sagemaker.create_app(DomainId=studio.domain_id, SpaceName="lab", AppType="JupyterLab",
                             AppName=name)
        return sagemaker.describe_app(DomainId=studio.domain_id, SpaceName="lab",
                                      AppType="JupyterLab", AppName=name)

    failed = start("first")
    assert failed["Status"] == "Failed" and "no mount target" in failed["FailureReason"]
    _mount_everywhere(client, studio)
    assert start("second")["Status"] == "InService"
    assert [m["file_system_id"] for m in aws.mounts()] == [studio.file_system_id]


def test_sagemakers_outbound_nfs_group_is_let_in_by_its_inbound_group(aws, client, studio):
    """As SageMaker sets up the domain's home EFS: apps carry the outbound group, and the
    DR sample adds the inbound one to a custom EFS's mount targets."""
    inbound = client("ec2").describe_security_groups(Filters=[{
        "Name": "group-name",
        "Values": [f"security-group-for-inbound-nfs-{studio.domain_id}"]}])["SecurityGroups"]
    _mount_everywhere(client, studio, [inbound[0]["GroupId"]])
    assert _start(client, studio)["Status"] == "InService"
