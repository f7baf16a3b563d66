"""Read what Studio needs to mount the region's file systems: their mount targets (with
their security groups), the domains' subnets (zone and VPC) and the NFS security groups
(which groups each lets in on TCP 2049).

Only the file systems a domain here uses are looked at: one DescribeMountTargets per
file system, then for the whole region one DescribeNetworkInterfaces (the mount targets'
security groups are their interfaces'), one DescribeSubnets and at most two
DescribeSecurityGroups. Reads only.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.observed import ObservedMountTarget, ObservedNfsAccess, ResolvedReferences
from controller.plan.nfs_access import NFS_PORT, operator_nfs_group_name, studio_file_systems

GONE_STATES = ("deleted",)


def observe_nfs_access(gateway: AwsGateway, desired: DesiredState, region: str,
                       references: ResolvedReferences) -> ObservedNfsAccess:
    efs, ec2 = gateway.client("efs", region), gateway.client("ec2", region)
    raw: dict[str, list[dict[str, Any]]] = {}
    for fs_id in sorted(set(studio_file_systems(desired, region, references).values())):
        try:
            raw[fs_id] = _mount_targets(efs, fs_id)
        except efs.exceptions.FileSystemNotFound:
            continue  # gone since it was resolved: looked at again next pass
    targets = _with_groups(ec2, raw)
    networks = [d.networks[region] for _, d in sorted(desired.domains.items())
                if region in d.networks]
    subnet_ids = sorted({i for n in networks for s in n.subnets
                         if (i := references.subnets.get((n.vpc, s)))})
    vpc_ids = sorted({i for n in networks if (i := references.vpcs.get(n.vpc))})
    named = sorted({i for n in networks if n.nfs_security_group
                    if (i := references.security_groups.get((n.vpc, n.nfs_security_group)))})
    subnets: dict[str, tuple[str, str]] = {}
    if subnet_ids:
        for subnet in _subnets(ec2, subnet_ids):
            subnets[subnet["SubnetId"]] = (subnet["VpcId"], subnet["AvailabilityZone"])
    groups: list[dict[str, Any]] = []
    operator: dict[str, str] = {}
    if vpc_ids:
        found = _groups(ec2, Filters=[
            {"Name": "group-name", "Values": [operator_nfs_group_name(desired)]},
            {"Name": "vpc-id", "Values": vpc_ids}])
        operator = {g["VpcId"]: g["GroupId"] for g in sorted(found, key=lambda g: g["GroupId"])}
        groups += found
    if named:
        groups += _groups(ec2, GroupIds=named)
    return ObservedNfsAccess(
        mount_targets=targets,
        subnets=subnets,
        nfs_sources={g["GroupId"]: _nfs_sources(g) for g in groups},
        operator_groups=operator,
    )


def _mount_targets(efs: Any, fs_id: str) -> list[dict[str, Any]]:
    return [t for page in efs.get_paginator("describe_mount_targets").paginate(
        FileSystemId=fs_id) for t in page["MountTargets"]
        if t.get("LifeCycleState", "unknown") not in GONE_STATES]


def _with_groups(ec2: Any, raw: dict[str, list[dict[str, Any]]]
                 ) -> dict[str, tuple[ObservedMountTarget, ...]]:
    """Mount targets with their security groups: those of their network interfaces
    (what DescribeMountTargetSecurityGroups reads), in one call for all of them."""
    interfaces = sorted({t["NetworkInterfaceId"] for targets in raw.values() for t in targets
                         if t.get("NetworkInterfaceId")})
    groups: dict[str, tuple[str, ...]] = {}
    if interfaces:
        for page in ec2.get_paginator("describe_network_interfaces").paginate(
                NetworkInterfaceIds=interfaces):
            for interface in page["NetworkInterfaces"]:
                groups[interface["NetworkInterfaceId"]] = tuple(
                    g["GroupId"] for g in interface.get("Groups", []))
    return {fs_id: tuple(sorted((ObservedMountTarget(
        mount_target_id=t["MountTargetId"], subnet_id=t["SubnetId"],
        availability_zone=t.get("AvailabilityZoneName", ""), vpc_id=t.get("VpcId", ""),
        lifecycle_state=t.get("LifeCycleState", "unknown"),
        security_groups=groups.get(t.get("NetworkInterfaceId", ""), ()))
        for t in targets), key=lambda t: t.subnet_id)) for fs_id, targets in raw.items()}


def _subnets(ec2: Any, subnet_ids: list[str]) -> list[dict[str, Any]]:
    try:
        return list(ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"])
    except ClientError:
        return []  # a subnet deleted since it was resolved: looked at again next pass


def _groups(ec2: Any, **query: Any) -> list[dict[str, Any]]:
    try:
        return [g for page in ec2.get_paginator("describe_security_groups").paginate(**query)
                for g in page["SecurityGroups"]]
    except ClientError:
        return []


def _nfs_sources(group: dict[str, Any]) -> frozenset[str]:
    """The security groups this group lets in on TCP 2049 (rules by group, not CIDR)."""
    sources: set[str] = set()
    for rule in group.get("IpPermissions", []):
        protocol = str(rule.get("IpProtocol", ""))
        if protocol not in ("tcp", "6", "-1"):
            continue
        if protocol != "-1" and not (
                int(rule.get("FromPort", -1)) <= NFS_PORT <= int(rule.get("ToPort", -1))):
            continue
        sources |= {p["GroupId"] for p in rule.get("UserIdGroupPairs", []) if "GroupId" in p}
    return frozenset(sources)
