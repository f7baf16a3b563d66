"""What AWS refuses in a notebook instance request: a status that does not allow the
transition, a role that does not exist, network settings that do not exist or do not
belong together, an update AWS cannot make in place (AWS's wording, ValidationException).
Used by sagemaker_notebooks.py; this module changes no instance itself.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from controller.emulator.notebook_runtime import platform_generation
from controller.emulator.protocol import AwsError
from controller.emulator.sagemaker_notebook_configs import lifecycle_config
from controller.emulator.sagemaker_store import StudioCall


def require_status(instance: Any, allowed: tuple[str, ...], target: str) -> None:
    if instance.status not in allowed:
        raise AwsError("ValidationException",
                       f"Status ({instance.status}) not in ([{', '.join(allowed)}]). Unable to "
                       f"transition to ({target}) for Notebook Instance ({instance.arn}).")


def require_role(call: StudioCall, role_arn: str) -> None:
    iam = call.gateway.client("iam", call.part.region, call.part.account)
    name = role_arn.rsplit("/", 1)[-1]
    try:
        iam.get_role(RoleName=name)
    except ClientError:
        raise AwsError("ValidationException",
                       f"The role {role_arn} does not exist or cannot be assumed by "
                       "SageMaker") from None


def check_network(call: StudioCall, subnet_id: str | None, groups: list[str],
                   internet: str) -> list[str]:
    """The security groups the instance gets: those given (in the subnet's VPC), or the
    VPC's default group; none without a subnet."""
    if subnet_id is None:
        if groups:
            raise AwsError("ValidationException",
                           "SecurityGroupIds can only be given with a SubnetId")
        if internet == "Disabled":
            raise AwsError("ValidationException", "DirectInternetAccess can only be Disabled "
                           "for a notebook instance in a VPC (give a SubnetId)")
        return []
    ec2 = call.gateway.client("ec2", call.part.region, call.part.account)
    try:
        subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    except (ClientError, IndexError):
        raise AwsError("ValidationException", f"Subnet {subnet_id} does not exist") from None
    vpc = subnet["VpcId"]
    if not groups:
        default = ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])
        return [g["GroupId"] for g in default["SecurityGroups"]][:1]
    try:
        found = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
    except ClientError:
        raise AwsError("ValidationException",
                       f"Security groups {groups} do not all exist") from None
    elsewhere = sorted(g["GroupId"] for g in found if g["VpcId"] != vpc)
    if elsewhere:
        raise AwsError("ValidationException",
                       f"Security groups {elsewhere} are not in the subnet's VPC {vpc}")
    return list(groups)


def updated_settings(call: StudioCall, current: dict[str, Any], config_name: str | None,
                     ) -> tuple[dict[str, Any], str | None]:
    """UpdateNotebookInstance's result (settings, lifecycle config), or AWS's refusal: a
    volume that would shrink, a platform of another Amazon Linux generation in place,
    a config that does not exist."""
    body, settings = call.body, dict(current)
    for key in ("InstanceType", "RoleArn", "RootAccess", "DefaultCodeRepository",
                "AdditionalCodeRepositories", "InstanceMetadataServiceConfiguration",
                "IpAddressType"):
        if key in body:
            settings[key] = body[key]
    if "RoleArn" in body:
        require_role(call, str(body["RoleArn"]))
    size = body.get("VolumeSizeInGB")
    if size is not None and int(size) < int(settings["VolumeSizeInGB"]):
        raise AwsError("ValidationException",
                       f"VolumeSizeInGB cannot be decreased (from "
                       f"{settings['VolumeSizeInGB']} to {size}); the volume can only grow")
    if size is not None:
        settings["VolumeSizeInGB"] = int(size)
    platform = body.get("PlatformIdentifier")
    if platform and platform_generation(platform) != platform_generation(
            settings["PlatformIdentifier"]):
        raise AwsError("ValidationException",
                       f"PlatformIdentifier {platform} cannot replace "
                       f"{settings['PlatformIdentifier']} in place: a different Amazon "
                       "Linux generation needs a new notebook instance")
    if platform:
        settings["PlatformIdentifier"] = platform
    if body.get("LifecycleConfigName") and body.get("DisassociateLifecycleConfig"):
        raise AwsError("ValidationException", "LifecycleConfigName and "
                       "DisassociateLifecycleConfig cannot be given together")
    config = config_name
    if body.get("LifecycleConfigName"):
        config = lifecycle_config(call, str(body["LifecycleConfigName"])).name
    elif body.get("DisassociateLifecycleConfig"):
        config = None
    if body.get("DisassociateDefaultCodeRepository"):
        settings.pop("DefaultCodeRepository", None)
    if body.get("DisassociateAdditionalCodeRepositories"):
        settings.pop("AdditionalCodeRepositories", None)
    return settings, config
