"""EFS mount targets as AWS behaves, completed on top of moto's.

moto makes a mount target `available` the moment it is created; EFS takes a minute or
two, and nothing can mount through it meanwhile. The emulator records when each one was
created and reports `creating` for the emulator's transition time (0: at once). It also
refuses what EFS refuses and moto does not: security groups of another VPC than the
subnet's (SecurityGroupMismatch), and new security groups for a mount target that is not
available yet (IncorrectMountTargetState). This module must not change moto's records,
only what the caller sees of them.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from botocore.exceptions import ClientError

from controller.emulator.efs_replication import EfsCall
from controller.emulator.lifecycle import Lifecycle
from controller.emulator.protocol import AwsError, Reply, json_reply


def create_mount_target(call: EfsCall) -> Reply:
    body = call.request.json()
    _check_groups_in_subnet_vpc(call, str(body.get("SubnetId", "")),
                                list(body.get("SecurityGroups") or []))
    status, headers, raw = call.gateway.call(call.request.environ)
    if status != 200:
        return _moto_reply(status, headers, raw)
    target = json.loads(raw)
    key = (call.account, call.region, str(target["MountTargetId"]))
    call.store.mount_targets[key] = Lifecycle.begin("creating", call.config)
    target["LifeCycleState"] = call.store.mount_target_state(key, call.config.clock())
    return json_reply(_described(_with_vpc(call, target)), protocol="rest-json")


def describe_mount_targets(call: EfsCall) -> Reply:
    status, headers, raw = call.gateway.call(call.request.environ)
    if status != 200:
        return _moto_reply(status, headers, raw)
    listing = json.loads(raw)
    now = call.config.clock()
    for target in listing.get("MountTargets", []):
        key = (call.account, call.region, str(target["MountTargetId"]))
        target["LifeCycleState"] = call.store.mount_target_state(key, now)
    listing["MountTargets"] = [_described(_with_vpc(call, t))
                               for t in listing.get("MountTargets", [])]
    return json_reply(listing, protocol="rest-json")


def modify_mount_target_security_groups(call: EfsCall) -> Reply:
    target_id = call.request.path_params.get("MountTargetId", "")
    key = (call.account, call.region, target_id)
    state = call.store.mount_target_state(key, call.config.clock())
    if state != "available":
        raise AwsError("IncorrectMountTargetState",
                       f"Mount target {target_id} is {state}; its security groups can be "
                       "changed once it is available.", 409)
    efs = call.efs()
    try:
        target = efs.describe_mount_targets(MountTargetId=target_id)["MountTargets"][0]
    except ClientError:
        return _moto_reply(*call.gateway.call(call.request.environ))  # moto says why
    _check_groups_in_subnet_vpc(call, str(target["SubnetId"]),
                                list(call.request.json().get("SecurityGroups") or []))
    return _moto_reply(*call.gateway.call(call.request.environ))


def delete_mount_target(call: EfsCall) -> Reply:
    target_id = call.request.path_params.get("MountTargetId", "")
    status, headers, raw = call.gateway.call(call.request.environ)
    if status < 300:
        call.store.mount_targets.pop((call.account, call.region, target_id), None)
    return _moto_reply(status, headers, raw)


def _check_groups_in_subnet_vpc(call: EfsCall, subnet_id: str, groups: list[str]) -> None:
    """EFS: every security group must belong to the VPC of the mount target's subnet."""
    if not groups or not subnet_id:
        return
    ec2 = call.gateway.client("ec2", call.region, call.account)
    try:
        vpc = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
        found = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
    except ClientError:
        return  # an unknown subnet or group: moto answers SubnetNotFound / SecurityGroupNotFound
    elsewhere = sorted(g["GroupId"] for g in found if g.get("VpcId") != vpc)
    if elsewhere:
        raise AwsError("SecurityGroupMismatch",
                       f"Security groups {elsewhere} are not in the VPC {vpc} of subnet "
                       f"{subnet_id}.", 400)


# MountTargetDescription's members (botocore's model); moto adds its own internals.
_FIELDS = ("OwnerId", "MountTargetId", "FileSystemId", "SubnetId", "LifeCycleState",
           "IpAddress", "Ipv6Address", "NetworkInterfaceId", "AvailabilityZoneId",
           "AvailabilityZoneName", "VpcId")


def _with_vpc(call: EfsCall, target: dict[str, Any]) -> dict[str, Any]:
    """AWS always answers VpcId; moto 5.2.5 does too, from an internal attribute that an
    upgrade could rename: fill it from the subnet then."""
    if not target.get("VpcId") and target.get("SubnetId"):
        ec2 = call.gateway.client("ec2", call.region, call.account)
        with contextlib.suppress(ClientError):  # an unknown subnet: left without
            target["VpcId"] = ec2.describe_subnets(SubnetIds=[target["SubnetId"]])[
                "Subnets"][0]["VpcId"]
    return target


def _described(target: dict[str, Any]) -> dict[str, Any]:
    return {k: target[k] for k in _FIELDS if target.get(k) is not None}


def _moto_reply(status: int, headers: dict[str, str], body: bytes) -> Reply:
    kept = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "status")}
    return Reply(status, body, kept)
