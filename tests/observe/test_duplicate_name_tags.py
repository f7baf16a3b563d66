"""A Name tag is not unique in AWS: a reference by Name that several resources answer is
a problem the plan reports, naming every id, never a silent pick of the first listed
(DescribeFileSystems' order is unspecified, and the emulator shuffles it)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from controller.desired import load_desired_state
from controller.emulator import prepare_estate
from controller.plan import Kind
from tests.converge.helpers import plan_now

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
REGION = "us-east-1"


@pytest.fixture
def desired(aws):
    desired = load_desired_state(EXAMPLE)
    prepare_estate(aws.endpoint_url, desired, aws.efs_root)
    return desired


def test_two_file_systems_with_the_estates_name_tag_are_reported_and_neither_used(aws, desired):
    efs = boto3.client("efs", region_name=REGION, endpoint_url=aws.endpoint_url)
    (first,) = [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]]
    second = efs.create_file_system(CreationToken="made-by-hand",
                                    Tags=[{"Key": "Name", "Value": "studio-efs"}])["FileSystemId"]
    for _ in range(3):  # whatever order the listing comes in
        plan = plan_now(aws, desired)
        (problem,) = [p for p in plan.problems if p.startswith("FileSystem/studio-efs:")]
        assert first in problem and second in problem and "Name tag studio-efs" in problem
        assert not any(a.key.kind in (Kind.FILE_SYSTEM, Kind.REPLICATION, Kind.DIRECTORY)
                       for a in plan.actions)
        assert not any(a.name == "CreateDomain" for a in plan.actions)


def test_an_ambiguous_name_tag_never_makes_another_file_system(aws, desired, tmp_path):
    folder = tmp_path / "desired_state"
    folder.mkdir()
    for source in EXAMPLE.iterdir():
        (folder / source.name).write_text(source.read_text())
    text = (folder / "filesystems.yaml").read_text()
    tagged = "      nameTag: studio-efs\n"
    (folder / "filesystems.yaml").write_text(text.replace(tagged, tagged + "      create: true\n"))
    created = load_desired_state(folder)
    efs = boto3.client("efs", region_name=REGION, endpoint_url=aws.endpoint_url)
    efs.create_file_system(CreationToken="made-by-hand",
                           Tags=[{"Key": "Name", "Value": "studio-efs"}])
    plan = plan_now(aws, created)
    assert not any(a.name == "CreateFileSystem" for a in plan.actions)
    assert any(p.startswith("FileSystem/studio-efs:") for p in plan.problems)


@pytest.mark.parametrize(("kind", "make"), [
    ("VPC", lambda ec2, vpc, tag: ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=tag(
        "vpc", "studio-vpc"))["Vpc"]["VpcId"]),
    ("subnet", lambda ec2, vpc, tag: ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.0.200.0/24", AvailabilityZone="us-east-1a",
        TagSpecifications=tag("subnet", "studio-private-a"))["Subnet"]["SubnetId"]),
    ("security group", lambda ec2, vpc, tag: ec2.create_security_group(
        VpcId=vpc, GroupName="another-nfs", Description="a second one",
        TagSpecifications=tag("security-group", "studio-nfs"))["GroupId"]),
])
def test_a_network_name_tag_on_two_resources_is_a_problem_of_each_domain_using_it(
        aws, desired, kind, make):
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=aws.endpoint_url)
    vpc = next(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]
               if {"Key": "Name", "Value": "studio-vpc"} in v.get("Tags", []))

    def tag(resource: str, name: str) -> list[dict]:
        return [{"ResourceType": resource, "Tags": [{"Key": "Name", "Value": name}]}]

    duplicate = make(ec2, vpc, tag)
    plan = plan_now(aws, desired)
    for domain in ("analytics", "research"):
        (problem,) = [p for p in plan.problems
                      if p.startswith(f"Domain/{domain}:") and "carry the Name tag" in p]
        assert f"2 {kind}s in {REGION} carry the Name tag" in problem
        assert duplicate in problem
    assert not any(a.name == "CreateDomain" for a in plan.actions)
