"""Studio rules beyond the service model: one entry per file system, VpcOnly's security
group allowance, SSO profiles, and no network change under running apps."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import ROLE, create_domain, error_of, make_network


def _file_systems(client, count: int, region: str = "us-east-1") -> list[str]:
    efs = client("efs", region)
    return [efs.create_file_system(CreationToken=f"t{i}")["FileSystemId"] for i in range(count)]


def _configs(*file_systems: str, path: str = "/home") -> list[dict]:
    return [{"EFSFileSystemConfig": {"FileSystemId": fs, "FileSystemPath": path}}
            for fs in file_systems]


@pytest.fixture
def sagemaker(client):
    return client("sagemaker")


def test_the_same_file_system_twice_in_one_list_is_refused(client, network, sagemaker):
    domain = create_domain(sagemaker, network)
    (fs,) = _file_systems(client, 1)
    twice = {"CustomFileSystemConfigs": [*_configs(fs, path="/home/a"),
                                         *_configs(fs, path="/teams/a")]}
    create = lambda: sagemaker.create_user_profile(  # noqa: E731
        DomainId=domain, UserProfileName="alice", UserSettings=twice)
    assert error_of(create) == ("ValidationException", 400)
    update = lambda: sagemaker.update_domain(  # noqa: E731
        DomainId=domain, DefaultSpaceSettings={"ExecutionRole": ROLE, **twice})
    assert error_of(update) == ("ValidationException", 400)
    sagemaker.create_user_profile(DomainId=domain, UserProfileName="alice",
                                  UserSettings={"CustomFileSystemConfigs": _configs(fs)})


def test_more_than_ten_file_systems_are_refused(client, network, sagemaker):
    domain = create_domain(sagemaker, network)
    eleven = _file_systems(client, 11)
    create = lambda: sagemaker.create_user_profile(  # noqa: E731
        DomainId=domain, UserProfileName="alice",
        UserSettings={"CustomFileSystemConfigs": _configs(*eleven)})
    assert error_of(create) == ("ValidationException", 400)
    sagemaker.create_user_profile(DomainId=domain, UserProfileName="alice", UserSettings={
        "CustomFileSystemConfigs": _configs(*eleven[:10])})


def _groups(client, network, count: int) -> list[str]:
    ec2 = client("ec2")
    return [ec2.create_security_group(GroupName=f"g{i}", Description="d",
                                      VpcId=network.vpc_id)["GroupId"] for i in range(count)]


def test_more_than_five_security_groups_are_refused(client, network, sagemaker):
    groups = _groups(client, network, 6)
    create = lambda: create_domain(  # noqa: E731
        sagemaker, network, DefaultUserSettings={"ExecutionRole": ROLE, "SecurityGroups": groups})
    assert error_of(create) == ("ValidationException", 400)
    create_domain(sagemaker, network,
                  DefaultUserSettings={"ExecutionRole": ROLE, "SecurityGroups": groups[:5]})


def test_a_vpc_only_domain_leaves_one_security_group_to_sagemaker(client, network, sagemaker):
    groups = _groups(client, network, 5)
    five = {"ExecutionRole": ROLE, "SecurityGroups": groups}
    vpc_only = lambda: create_domain(  # noqa: E731
        sagemaker, network, DefaultUserSettings=five, AppNetworkAccessType="VpcOnly")
    code, status = error_of(vpc_only)
    assert (code, status) == ("ValidationException", 400)
    domain = create_domain(sagemaker, network, DefaultUserSettings={**five, "SecurityGroups":
                                                                    groups[:4]},
                           AppNetworkAccessType="VpcOnly")
    profile = lambda: sagemaker.create_user_profile(  # noqa: E731
        DomainId=domain, UserProfileName="alice", UserSettings={"SecurityGroups": groups})
    assert error_of(profile) == ("ValidationException", 400)
    public = create_domain(sagemaker, network, name="public", DefaultUserSettings=five)
    assert sagemaker.describe_domain(DomainId=public)["DefaultUserSettings"][
        "SecurityGroups"] == groups


def test_sso_profiles_need_their_identity_and_iam_profiles_must_not_have_one(
        network, sagemaker):
    sso = create_domain(sagemaker, network, name="sso", AuthMode="SSO")
    iam = create_domain(sagemaker, network, name="iam")
    bare = lambda: sagemaker.create_user_profile(  # noqa: E731
        DomainId=sso, UserProfileName="alice")
    assert error_of(bare) == ("ValidationException", 400)
    half = lambda: sagemaker.create_user_profile(  # noqa: E731
        DomainId=sso, UserProfileName="alice", SingleSignOnUserIdentifier="UserName")
    assert error_of(half) == ("ValidationException", 400)
    sagemaker.create_user_profile(DomainId=sso, UserProfileName="alice",
                                  SingleSignOnUserIdentifier="UserName",
                                  SingleSignOnUserValue="alice@example.com")
    described = sagemaker.describe_user_profile(DomainId=sso, UserProfileName="alice")
    assert (described["SingleSignOnUserIdentifier"], described["SingleSignOnUserValue"]) == (
        "UserName", "alice@example.com")
    on_iam = lambda: sagemaker.create_user_profile(  # noqa: E731
        DomainId=iam, UserProfileName="bob", SingleSignOnUserIdentifier="UserName",
        SingleSignOnUserValue="bob@example.com")
    assert error_of(on_iam) == ("ValidationException", 400)


@pytest.fixture
def running(client, sagemaker):
    """A domain in three subnets with alice's JupyterLab app InService."""
    network = make_network(client("ec2"), ("us-east-1a", "us-east-1b", "us-east-1c"))
    domain = create_domain(sagemaker, network)
    sagemaker.create_user_profile(DomainId=domain, UserProfileName="alice")
    sagemaker.create_app(DomainId=domain, UserProfileName="alice", AppType="JupyterLab",
                         AppName="default")
    return domain, network


def test_network_changes_are_refused_whole_while_an_app_runs(running, sagemaker):
    domain, network = running
    before = sagemaker.describe_domain(DomainId=domain)
    change_access = lambda: sagemaker.update_domain(  # noqa: E731
        DomainId=domain, AppNetworkAccessType="VpcOnly",
        DefaultUserSettings={"DefaultLandingUri": "studio::jupyterlab"})
    assert error_of(change_access) == ("ResourceInUse", 400)
    remove_subnet = lambda: sagemaker.update_domain(  # noqa: E731
        DomainId=domain, SubnetIds=network.subnet_ids[:2])
    assert error_of(remove_subnet) == ("ResourceInUse", 400)
    after = sagemaker.describe_domain(DomainId=domain)
    assert after["DefaultUserSettings"] == before["DefaultUserSettings"]
    assert (after["AppNetworkAccessType"], after["SubnetIds"]) == (
        before["AppNetworkAccessType"], before["SubnetIds"])
    # Other changes, and the same access type again, are fine while apps run.
    sagemaker.update_domain(DomainId=domain, AppNetworkAccessType=before["AppNetworkAccessType"],
                            SubnetIds=network.subnet_ids,
                            DefaultUserSettings={"DefaultLandingUri": "studio::jupyterlab"})


def test_network_changes_go_through_once_every_app_is_deleted(running, sagemaker, aws):
    domain, network = running
    sagemaker.delete_app(DomainId=domain, UserProfileName="alice", AppType="JupyterLab",
                         AppName="default")
    sagemaker.update_domain(DomainId=domain, AppNetworkAccessType="VpcOnly",
                            SubnetIds=network.subnet_ids[:1])
    described = sagemaker.describe_domain(DomainId=domain)
    assert (described["AppNetworkAccessType"], described["SubnetIds"]) == (
        "VpcOnly", network.subnet_ids[:1])


def test_a_deleting_app_still_blocks_network_changes(running, sagemaker, aws):
    domain, _ = running
    aws.set_transition_seconds(30)
    sagemaker.delete_app(DomainId=domain, UserProfileName="alice", AppType="JupyterLab",
                         AppName="default")
    assert sagemaker.describe_app(DomainId=domain, UserProfileName="alice",
                                  AppType="JupyterLab", AppName="default")["Status"] == "Deleting"
    change = lambda: sagemaker.update_domain(  # noqa: E731
        DomainId=domain, AppNetworkAccessType="VpcOnly")
    assert error_of(change) == ("ResourceInUse", 400)


def test_studio_arns_carry_the_partition_of_their_region(client):
    ec2 = client("ec2", "us-gov-west-1")
    network = make_network(ec2, ("us-gov-west-1a",))
    iam = client("iam", "us-gov-west-1")
    role = iam.create_role(RoleName="studio", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sagemaker = client("sagemaker", "us-gov-west-1")
    domain = create_domain(sagemaker, network, DefaultUserSettings={"ExecutionRole": role})
    arn = sagemaker.describe_domain(DomainId=domain)["DomainArn"]
    assert role.startswith("arn:aws-us-gov:iam::") and arn.startswith("arn:aws-us-gov:sagemaker:")
    profile = sagemaker.create_user_profile(DomainId=domain, UserProfileName="alice")
    assert profile["UserProfileArn"].startswith("arn:aws-us-gov:sagemaker:us-gov-west-1:")
