"""prepare_estate creates what infra/cloudformation would, once, and nothing the operator owns."""

from __future__ import annotations

from controller.emulator import prepare_estate
from controller.model import (
    DesiredState,
    DomainSpec,
    EstateSpec,
    FileSystemCreateSettings,
    FileSystemPlacement,
    FileSystemSpec,
    NetworkSpec,
    Posix,
    ShareScope,
    ShareSpec,
    UserProfileSpec,
)

NETWORK = NetworkSpec("studio-vpc", ("studio-private-a", "studio-private-b"), ("studio-nfs",))


def estate(**domain_changes) -> DesiredState:
    domain = DomainSpec(
        name="research",
        execution_role="studio-execution-role",
        networks={"us-east-1": NETWORK, "us-west-2": NETWORK},
        shares=("home",),
    )
    for key, value in domain_changes.items():
        domain = DomainSpec(**{**domain.__dict__, key: value})
    return DesiredState(
        revision="test",
        estate=EstateSpec("ml-platform", "us-east-1", "us-west-2", "us-east-1"),
        file_systems={
            "studio-efs": FileSystemSpec(
                "studio-efs", {"us-east-1": FileSystemPlacement(name_tag="studio-efs")}, True
            ),
            "scratch": FileSystemSpec(
                "scratch",
                {
                    "us-east-1": FileSystemPlacement(
                        name_tag="scratch", create=FileSystemCreateSettings()
                    ),
                },
            ),
        },
        shares={
            "home": ShareSpec("home", "studio-efs", ShareScope.USER, "/home/{domain}/{profile}")
        },
        domains={"research": domain},
        profiles={"research/alice": UserProfileSpec("alice", "research", Posix(200101, 1001))},
    )


def test_prepare_creates_the_network_role_and_adopted_file_system(aws, client):
    lines = prepare_estate(aws.endpoint_url, estate(), aws.efs_root)
    ec2 = client("ec2")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["studio-vpc"]}])["Vpcs"]
    assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"
    ]["Value"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "Subnets"
    ]
    assert sorted(t["Value"] for s in subnets for t in s["Tags"] if t["Key"] == "Name") == [
        "studio-private-a",
        "studio-private-b",
    ]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["studio-nfs"]}]
    )["SecurityGroups"]
    assert client("iam").get_role(RoleName="studio-execution-role")["Role"][
        "AssumeRolePolicyDocument"
    ]
    efs = client("efs")
    (fs,) = efs.describe_file_systems()["FileSystems"]
    assert fs["Name"] == "studio-efs"
    assert (aws.efs_root / fs["FileSystemId"]).is_dir()
    targets = efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
    assert sorted(t["SubnetId"] for t in targets) == sorted(s["SubnetId"] for s in subnets)
    assert efs.describe_mount_target_security_groups(MountTargetId=targets[0]["MountTargetId"])[
        "SecurityGroups"
    ] == [group["GroupId"]]
    assert (
        len(
            client("ec2", "us-west-2").describe_vpcs(
                Filters=[{"Name": "tag:Name", "Values": ["studio-vpc"]}]
            )["Vpcs"]
        )
        == 1
    )
    assert client("efs", "us-west-2").describe_file_systems()["FileSystems"] == []
    assert f"created vpc studio-vpc ({vpc['VpcId']}) in us-east-1" in lines
    assert any("left efs scratch in us-east-1 to the operator" in line for line in lines)


def test_prepare_twice_creates_nothing_new(aws, client):
    prepare_estate(aws.endpoint_url, estate(), aws.efs_root)
    aws.reset_request_counts()
    again = prepare_estate(aws.endpoint_url, estate(), aws.efs_root)
    assert not [line for line in again if line.startswith("created")]
    assert any(line.startswith("found vpc studio-vpc") for line in again)
    assert not [key for key in aws.request_counts() if ":Create" in key]
    assert (
        len(
            client("ec2").describe_subnets(
                Filters=[{"Name": "tag:Name", "Values": ["studio-private-a"]}]
            )["Subnets"]
        )
        == 1
    )


def test_ids_are_only_checked_never_created(aws, client):
    by_id = NetworkSpec(
        "vpc-0123456789abcdef0", ("subnet-0123456789abcdef0",), ("sg-0123456789abcdef0",)
    )
    role = "arn:aws:iam::123456789012:role/made-elsewhere"
    lines = prepare_estate(
        aws.endpoint_url, estate(networks={"us-east-1": by_id}, execution_role=role), aws.efs_root
    )
    assert "missing vpc vpc-0123456789abcdef0 in us-east-1 (given as an id: not created)" in lines
    assert any(line.startswith("missing subnet subnet-0123456789abcdef0") for line in lines)
    assert any(line.startswith(f"missing iam role {role}") for line in lines)
    assert (
        client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["*"]}])["Vpcs"] == []
    )


def test_prepare_never_creates_domains_or_profiles(aws, client):
    prepare_estate(aws.endpoint_url, estate(), aws.efs_root)
    assert not [key for key in aws.request_counts() if key.startswith("sagemaker:")]
    assert client("sagemaker").list_domains()["Domains"] == []
