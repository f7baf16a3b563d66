"""What Studio needs to mount a file system: the NFS security group, its ingress rules
and the mount targets (see controller.plan.nfs_access for when each is planned).

Each executor is idempotent: a group that already exists under the operator's name is
adopted, an ingress rule that is already there is success, a mount target that a lost
answer already made in the subnet is adopted. A mount target that is still `creating`
is an expected wait (RequeueAfter), never a hot loop. Nothing here deletes anything.
"""

from __future__ import annotations

from typing import Any

from controller.actions.classify import classify, error_code
from controller.actions.context import MANAGED_TAGS, SETTLE_SECONDS, ExecutionContext
from controller.errors import RequeueAfter, TerminalError
from controller.plan.types import Action, Kind

# EFS and EC2 codes no retry can fix: the desired state (or the account) must change.
TERMINAL = frozenset({"SecurityGroupNotFound", "SecurityGroupMismatch", "SubnetNotFound",
                      "SecurityGroupLimitExceeded", "NoFreeAddressesInSubnet",
                      "NetworkInterfaceLimitExceeded", "MountTargetNotFound",
                      "InvalidGroup.NotFound", "InvalidVpcID.NotFound",
                      "RulesPerSecurityGroupLimitExceeded"})
# The file system or mount target is between states: it settles on its own.
SETTLING = frozenset({"IncorrectFileSystemLifeCycleState", "IncorrectMountTargetState"})


def create_nfs_security_group(action: Action, ctx: ExecutionContext) -> str:
    ec2 = ctx.client("ec2")
    params = action.params
    found = _operator_group(ec2, params["GroupName"], params["VpcId"])
    outcome = "adopted"
    if found is None:
        try:
            found = ec2.create_security_group(
                GroupName=params["GroupName"], VpcId=params["VpcId"],
                Description=f"NFS (TCP 2049) into the EFS mount targets of the studio-operator "
                            f"estate {params['Estate']}, from its Studio domains",
                TagSpecifications=[{"ResourceType": "security-group", "Tags": [
                    {"Key": "Name", "Value": params["GroupName"]}, *MANAGED_TAGS]}])["GroupId"]
            outcome = "created"
        except Exception as error:
            if error_code(error) != "InvalidGroup.Duplicate":
                raise _classified(error) from error
            found = _operator_group(ec2, params["GroupName"], params["VpcId"])
            if found is None:
                raise
    ctx.learn(Kind.NFS_SECURITY_GROUP, action.key.name, "GroupId", found)
    return f"{outcome} {found} in {params['VpcId']}"


def allow_nfs_ingress(action: Action, ctx: ExecutionContext) -> str:
    params = ctx.resolve(dict(action.params))
    port = int(params["Port"])
    try:
        ctx.client("ec2").authorize_security_group_ingress(
            GroupId=params["GroupId"], IpPermissions=[{
                "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                "UserIdGroupPairs": [{"GroupId": params["SourceGroupId"],
                                      "Description": "NFS from Studio (studio-operator)"}]}])
    except Exception as error:
        if error_code(error) == "InvalidPermission.Duplicate":
            return f"NFS from {params['SourceGroupId']} already allowed into {params['GroupId']}"
        raise _classified(error) from error
    return f"NFS (TCP {port}) from {params['SourceGroupId']} allowed into {params['GroupId']}"


def create_mount_target(action: Action, ctx: ExecutionContext) -> str:
    efs = ctx.client("efs")
    params = ctx.resolve(dict(action.params))
    try:
        target = efs.create_mount_target(FileSystemId=params["FileSystemId"],
                                         SubnetId=params["SubnetId"],
                                         SecurityGroups=params["SecurityGroups"])
        outcome = "created"
    except Exception as error:
        if error_code(error) != "MountTargetConflict":
            raise _classified(error) from error
        # A retry after a lost answer: the first attempt made it. Anything else in the
        # zone is the plan's business (it reports it), not adopted here.
        target = _in_subnet(efs, params["FileSystemId"], params["SubnetId"])
        if target is None:
            raise TerminalError("MountTargetConflict", str(error)) from error
        outcome = "adopted"
    return (f"{outcome} {target['MountTargetId']} for {params['FileSystemId']} in "
            f"{params['SubnetId']} ({target.get('LifeCycleState', 'unknown')})")


def await_mount_target(action: Action, ctx: ExecutionContext) -> str:
    efs = ctx.client("efs")
    target_id = action.params["MountTargetId"]
    try:
        (target,) = efs.describe_mount_targets(MountTargetId=target_id)["MountTargets"]
    except Exception as error:
        if error_code(error) == "MountTargetNotFound":
            return f"{target_id} is gone; the next pass makes a new one"
        raise _classified(error) from error
    state = target.get("LifeCycleState", "unknown")
    if state != "available":
        raise RequeueAfter(SETTLE_SECONDS, f"mount target {target_id} is {state}")
    return f"{target_id} is available"


def add_mount_target_security_groups(action: Action, ctx: ExecutionContext) -> str:
    params = ctx.resolve(dict(action.params))
    try:
        ctx.client("efs").modify_mount_target_security_groups(
            MountTargetId=params["MountTargetId"], SecurityGroups=params["SecurityGroups"])
    except Exception as error:
        raise _classified(error) from error
    return f"{params['MountTargetId']} now has {', '.join(params['SecurityGroups'])}"


def _operator_group(ec2: Any, name: str, vpc_id: str) -> str | None:
    groups = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [name]},
        {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    return min((g["GroupId"] for g in groups), default=None)


def _in_subnet(efs: Any, file_system_id: str, subnet_id: str) -> dict[str, Any] | None:
    for page in efs.get_paginator("describe_mount_targets").paginate(
            FileSystemId=file_system_id):
        for target in page["MountTargets"]:
            if target["SubnetId"] == subnet_id:
                return dict(target)
    return None


def _classified(error: BaseException) -> BaseException:
    code = error_code(error)
    if code in SETTLING:
        return RequeueAfter(SETTLE_SECONDS, f"{code}: not ready for this yet")
    if code in TERMINAL:
        message = error.response.get("Error", {}).get("Message", str(error))  # type: ignore[attr-defined]
        return TerminalError(code or "Terminal", f"{code}: {message}")
    return classify(error)
