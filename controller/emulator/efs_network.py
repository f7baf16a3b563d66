"""Whether a client in some subnets, with some security groups, can reach a file system.

A client reaches EFS through a mount target; Studio needs one in every subnet of the
domain (the stricter reading of "a mount target in each subnet associated with the
domain": a second subnet in an availability zone that already has one gets none, since
EFS allows one mount target per zone). The mount target must be `available`, and one of
its security groups must let NFS (TCP 2049) in from one of the client's security groups
(or from a CIDR that holds the client's subnet). Egress rules and network ACLs are not
modelled. This module reads moto through the in-process gateway; it must not change
anything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from controller.emulator.efs_store import EfsStore
from controller.emulator.moto_gateway import MotoGateway

NFS_PORT = 2049


def network_refusal(gateway: MotoGateway, store: EfsStore, account: str, region: str,
                    file_system_id: str, subnet_ids: Sequence[str],
                    client_groups: Iterable[str], now: float) -> str | None:
    """Why the client cannot reach the file system, or None when it can.

    With no subnets given, any available mount target will do (a client whose network
    the caller does not model); with no client groups, security groups are not checked.
    """
    efs = gateway.client("efs", region, account)
    ec2 = gateway.client("ec2", region, account)
    try:
        efs.describe_file_systems(FileSystemId=file_system_id)
    except efs.exceptions.FileSystemNotFound:
        return f"Amazon EFS file system {file_system_id} was not found in {region}."
    targets = [t for page in efs.get_paginator("describe_mount_targets").paginate(
        FileSystemId=file_system_id) for t in page["MountTargets"]]
    states = {t["MountTargetId"]: store.mount_target_state(
        (account, region, t["MountTargetId"]), now) for t in targets}
    if not subnet_ids:
        if any(state == "available" for state in states.values()):
            return None
        return f"Amazon EFS file system {file_system_id} has no available mount target."
    try:
        subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(
            SubnetIds=list(subnet_ids))["Subnets"]}
    except ClientError:
        return f"subnets {list(subnet_ids)} were not found in {region}."
    groups = set(client_groups)
    for subnet_id in subnet_ids:
        target = next((t for t in targets if t["SubnetId"] == subnet_id), None)
        zone = subnets[subnet_id]["AvailabilityZone"]
        if target is None:
            return (f"Amazon EFS file system {file_system_id} has no mount target in subnet "
                    f"{subnet_id} ({zone}).")
        state = states[target["MountTargetId"]]
        if state != "available":
            return (f"mount target {target['MountTargetId']} of {file_system_id} in subnet "
                    f"{subnet_id} is {state}, not available.")
        if groups and not _lets_nfs_in(efs, ec2, target["MountTargetId"], groups,
                                        subnets[subnet_id].get("CidrBlock", "")):
            return (f"the security groups of mount target {target['MountTargetId']} "
                    f"({file_system_id}, subnet {subnet_id}) do not allow NFS (TCP "
                    f"{NFS_PORT}) in from the security groups {sorted(groups)}.")
    return None


def _lets_nfs_in(efs: Any, ec2: Any, target_id: str, client_groups: set[str],
                 client_cidr: str) -> bool:
    target_groups = efs.describe_mount_target_security_groups(
        MountTargetId=target_id)["SecurityGroups"]
    if not target_groups:
        return False
    described = ec2.describe_security_groups(GroupIds=list(target_groups))["SecurityGroups"]
    return any(_permits(rule, client_groups, client_cidr)
               for group in described for rule in group.get("IpPermissions", []))


def _permits(rule: dict[str, Any], client_groups: set[str], client_cidr: str) -> bool:
    protocol = str(rule.get("IpProtocol", ""))
    if protocol not in ("tcp", "6", "-1"):
        return False
    if protocol != "-1" and not (
            int(rule.get("FromPort", -1)) <= NFS_PORT <= int(rule.get("ToPort", -1))):
        return False
    if any(pair.get("GroupId") in client_groups for pair in rule.get("UserIdGroupPairs", [])):
        return True
    return any(_contains(r.get("CidrIp", ""), client_cidr) for r in rule.get("IpRanges", []))


def _contains(outer: str, inner: str) -> bool:
    try:
        return ipaddress.ip_network(inner).subnet_of(ipaddress.ip_network(outer))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
