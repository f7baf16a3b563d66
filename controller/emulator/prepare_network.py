"""The network part of prepare_estate: VPCs, subnets and NFS security groups by Name tag.

Looks before it creates, so a second run creates nothing; a value that looks like an id
(vpc-, subnet-, sg-) is only checked, never created. Subnets of one VPC land in distinct
availability zones, as EFS mount targets need. This module must not create anything the
operator owns, and talks to the emulator only through its public endpoint.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from controller.model import NetworkSpec

ID_PREFIXES = ("vpc-", "subnet-", "sg-", "fs-", "arn:")


def is_id(value: str) -> bool:
    return value.startswith(ID_PREFIXES)


@dataclass
class PreparedRegion:
    """What has been made or found in one region so far: names -> ids."""

    name: str
    ec2: BaseClient
    efs: BaseClient
    lines: list[str]
    vpcs: dict[str, str | None] = field(default_factory=dict)
    subnets: dict[tuple[str, str], str | None] = field(default_factory=dict)
    groups: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def say(self, verb: str, kind: str, name: str, resource_id: str | None) -> None:
        label = name if resource_id in (None, name) else f"{name} ({resource_id})"
        self.lines.append(f"{verb} {kind} {label} in {self.name}")


def ensure_network(region: PreparedRegion, network: NetworkSpec) -> None:
    vpc_id = _ensure_vpc(region, network.vpc)
    for name in network.subnets:
        if (network.vpc, name) not in region.subnets:
            region.subnets[(network.vpc, name)] = _ensure_subnet(region, vpc_id, name)
    for name in (*network.security_groups, *filter(None, [network.nfs_security_group])):
        if (network.vpc, name) not in region.groups:
            region.groups[(network.vpc, name)] = _ensure_group(region, vpc_id, name)


def check_exists(region: PreparedRegion, kind: str, value: str, call: Any) -> str | None:
    try:
        call()
    except ClientError:
        region.say("missing", kind, value, None)
        region.lines[-1] += " (given as an id: not created)"
        return None
    region.say("found", kind, value, None)
    return value


def _by_name(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    return items[0] if items else None


def _name_filter(name: str, vpc_id: str | None = None) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:Name", "Values": [name]}]
    return filters + ([{"Name": "vpc-id", "Values": [vpc_id]}] if vpc_id else [])


def _tags(resource_type: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}]


def _ensure_vpc(region: PreparedRegion, name: str) -> str | None:
    if name in region.vpcs:
        return region.vpcs[name]
    ec2 = region.ec2
    if is_id(name):
        found = check_exists(region, "vpc", name, lambda: ec2.describe_vpcs(VpcIds=[name]))
    elif existing := _by_name(ec2.describe_vpcs(Filters=_name_filter(name))["Vpcs"]):
        found = existing["VpcId"]
        region.say("found", "vpc", name, found)
    else:
        cidr = f"10.{len(region.vpcs)}.0.0/16"
        found = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_tags("vpc", name))["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=found, EnableDnsSupport={"Value": True})
        ec2.modify_vpc_attribute(VpcId=found, EnableDnsHostnames={"Value": True})
        region.say("created", "vpc", name, found)
    region.vpcs[name] = found
    return found


def _ensure_subnet(region: PreparedRegion, vpc_id: str | None, name: str) -> str | None:
    ec2 = region.ec2
    if is_id(name):
        return check_exists(region, "subnet", name, lambda: ec2.describe_subnets(SubnetIds=[name]))
    if vpc_id is None:
        region.say("skipped", "subnet", name, None)
        return None
    if existing := _by_name(ec2.describe_subnets(Filters=_name_filter(name, vpc_id))["Subnets"]):
        region.say("found", "subnet", name, existing["SubnetId"])
        return str(existing["SubnetId"])
    in_vpc = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    used_zones = {s["AvailabilityZone"] for s in in_vpc}
    zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])
    zone = next((z for z in zones if z not in used_zones), zones[len(in_vpc) % len(zones)])
    vpc_cidr = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    used = {s["CidrBlock"] for s in in_vpc}
    cidr = next(
        str(n) for n in ipaddress.ip_network(vpc_cidr).subnets(new_prefix=24) if str(n) not in used
    )
    subnet_id = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock=cidr,
        AvailabilityZone=zone,
        TagSpecifications=_tags("subnet", name),
    )["Subnet"]["SubnetId"]
    region.say("created", "subnet", name, f"{subnet_id}, {zone}")
    return str(subnet_id)


def _ensure_group(region: PreparedRegion, vpc_id: str | None, name: str) -> str | None:
    ec2 = region.ec2
    if is_id(name):
        return check_exists(
            region, "security group", name, lambda: ec2.describe_security_groups(GroupIds=[name])
        )
    if vpc_id is None:
        region.say("skipped", "security group", name, None)
        return None
    filters = [{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    if existing := _by_name(ec2.describe_security_groups(Filters=filters)["SecurityGroups"]):
        region.say("found", "security group", name, existing["GroupId"])
        return str(existing["GroupId"])
    group_id = ec2.create_security_group(
        GroupName=name,
        Description=f"NFS to EFS for SageMaker Studio ({name})",
        VpcId=vpc_id,
        TagSpecifications=_tags("security-group", name),
    )["GroupId"]
    # The NFS rule the write-ups use: members of the group reach each other on 2049.
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 2049,
                "ToPort": 2049,
                "UserIdGroupPairs": [{"GroupId": group_id}],
            }
        ],
    )
    region.say("created", "security group", name, group_id)
    return str(group_id)
