"""SageMaker Studio domains as AWS behaves: create, describe, list, update, delete.

What moto gets wrong and this fixes: real `d-` ids and a DomainId in the create answer,
one domain per name per region, a real home EFS file system (with its folder, mount
targets and NFS security groups) created in the domain's VPC, Pending/Updating/Deleting
transitions, ResourceNotFound for unknown ids, AWS's top-level merge of settings on
update, and the update refused whole when it changes the network under running apps
(sagemaker_rules.py). This module must not touch user profiles' own settings or moto internals.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from controller.emulator.efs_store import EfsFolders
from controller.emulator.lifecycle import epoch, random_suffix
from controller.emulator.moto_gateway import client_error_to_aws
from controller.emulator.protocol import AwsError
from controller.emulator.sagemaker_rules import check_network_update, check_settings, is_vpc_only
from controller.emulator.sagemaker_store import (
    Domain,
    StudioCall,
    merge_settings,
    merge_tags,
    page,
    validate_settings,
)

# Fields of CreateDomain/UpdateDomain that DescribeDomain echoes back as given.
ECHOED_FIELDS = (
    "AuthMode",
    "DefaultUserSettings",
    "DefaultSpaceSettings",
    "DomainSettings",
    "SubnetIds",
    "VpcId",
    "AppNetworkAccessType",
    "AppSecurityGroupManagement",
    "TagPropagation",
    "KmsKeyId",
    "HomeEfsFileSystemKmsKeyId",
)
# Values AWS fills in when the caller leaves them out ("late initialisation"): an operator
# must not read them as drift.
USER_SETTINGS_DEFAULTS: dict[str, Any] = {
    "StudioWebPortal": "ENABLED",
    "DefaultLandingUri": "studio::",
    "SpaceStorageSettings": {
        "DefaultEbsStorageSettings": {
            "DefaultEbsVolumeSizeInGb": 5,
            "MaximumEbsVolumeSizeInGb": 100,
        }
    },
}


def create_domain(call: StudioCall, folders: EfsFolders) -> dict[str, Any]:
    call.require("DomainName", "AuthMode", "DefaultUserSettings", "VpcId", "SubnetIds")
    body, part = call.body, call.part
    name = call.name("DomainName")
    if body["AuthMode"] not in ("IAM", "SSO"):
        raise AwsError("ValidationException", "AuthMode must be IAM or SSO")
    if not body["DefaultUserSettings"].get("ExecutionRole"):
        raise AwsError("ValidationException", "DefaultUserSettings.ExecutionRole is required")
    validate_settings(call, body["DefaultUserSettings"], "defaultUserSettings")
    validate_settings(call, body.get("DefaultSpaceSettings"), "defaultSpaceSettings")
    vpc_only = is_vpc_only(None, body)
    check_settings(body["DefaultUserSettings"], "defaultUserSettings", vpc_only)
    check_settings(body.get("DefaultSpaceSettings"), "defaultSpaceSettings", vpc_only)
    if any(d.name == name for d in part.domains.values()):
        raise AwsError("ResourceInUse", f"Domain with name {name} already exists in {part.region}")
    zones = _subnet_zones(call, body["VpcId"], body["SubnetIds"])
    domain_id = "d-" + random_suffix(12)
    arn = part.arn("domain", domain_id)
    spec = {k: body[k] for k in ECHOED_FIELDS if body.get(k) is not None}
    spec["DefaultUserSettings"] = merge_settings(
        USER_SETTINGS_DEFAULTS, body["DefaultUserSettings"]
    )
    spec.setdefault("AppNetworkAccessType", "PublicInternetOnly")
    spec.setdefault("TagPropagation", "DISABLED")
    home = _create_home_file_system(call, domain_id, arn, zones, body.get("VpcId", ""))
    folders.ensure(home)
    part.domains[domain_id] = Domain(
        arn=arn,
        lifecycle=call.lifecycle("Pending"),
        tags=merge_tags([], body.get("Tags") or []),
        domain_id=domain_id,
        name=name,
        spec=spec,
        home_efs_id=home,
    )
    return {"DomainArn": arn, "DomainId": domain_id, "Url": _url(domain_id, part.region)}


def describe_domain(call: StudioCall) -> dict[str, Any]:
    call.require("DomainId")
    domain = call.domain(call.body["DomainId"])
    life = domain.lifecycle
    return {
        "DomainArn": domain.arn,
        "DomainId": domain.domain_id,
        "DomainName": domain.name,
        "HomeEfsFileSystemId": domain.home_efs_id,
        "Status": life.current(call.now),
        "CreationTime": epoch(life.created_at),
        "LastModifiedTime": epoch(life.last_modified(call.now)),
        "Url": _url(domain.domain_id, call.part.region),
        **domain.spec,
    }


def list_domains(call: StudioCall) -> dict[str, Any]:
    domains = sorted(
        call.part.domains.values(), key=lambda d: (d.lifecycle.created_at, d.domain_id)
    )
    chunk, token = page(domains, call.body)
    summaries = [
        {
            "DomainArn": d.arn,
            "DomainId": d.domain_id,
            "DomainName": d.name,
            "Status": d.lifecycle.current(call.now),
            "CreationTime": epoch(d.lifecycle.created_at),
            "LastModifiedTime": epoch(d.lifecycle.last_modified(call.now)),
            "Url": _url(d.domain_id, call.part.region),
        }
        for d in chunk
    ]
    return {"Domains": summaries, **({"NextToken": token} if token else {})}


def update_domain(call: StudioCall) -> dict[str, Any]:
    call.require("DomainId")
    body = call.body
    domain = call.domain(body["DomainId"])
    status = domain.lifecycle.current(call.now)
    if status != "InService":
        raise AwsError(
            "ResourceInUse",
            f"Domain {domain.domain_id} is {status}; it can only be updated when InService",
        )
    validate_settings(call, body.get("DefaultUserSettings"), "defaultUserSettings")
    validate_settings(call, body.get("DefaultSpaceSettings"), "defaultSpaceSettings")
    vpc_only = is_vpc_only(domain, body)
    check_settings(body.get("DefaultUserSettings"), "defaultUserSettings", vpc_only)
    check_settings(body.get("DefaultSpaceSettings"), "defaultSpaceSettings", vpc_only)
    check_network_update(call, domain, body)
    spec = domain.spec
    if body.get("SubnetIds"):
        _subnet_zones(call, str(spec.get("VpcId", body.get("VpcId", ""))), body["SubnetIds"])
    for key in ("DefaultUserSettings", "DefaultSpaceSettings"):
        if body.get(key) is not None:
            spec[key] = merge_settings(spec.get(key), body[key])
    if body.get("DomainSettingsForUpdate") is not None:
        spec["DomainSettings"] = merge_settings(
            spec.get("DomainSettings"), body["DomainSettingsForUpdate"]
        )
    for key in (
        "SubnetIds",
        "AppNetworkAccessType",
        "AppSecurityGroupManagement",
        "TagPropagation",
        "VpcId",
    ):
        if body.get(key) is not None:
            spec[key] = body[key]
    domain.lifecycle.move("Updating", call.config)
    return {"DomainArn": domain.arn}


def delete_domain(call: StudioCall, folders: EfsFolders) -> dict[str, Any]:
    call.require("DomainId")
    domain = call.domain(call.body["DomainId"])
    status = domain.lifecycle.current(call.now)
    if status not in ("InService", "Failed", "Update_Failed", "Delete_Failed"):
        raise AwsError(
            "ResourceInUse", f"Domain {domain.domain_id} is {status} and cannot be deleted now"
        )
    part, domain_id = call.part, domain.domain_id
    in_use = [f"user profile {n}" for (d, n) in part.profiles if d == domain_id]
    in_use += [f"space {n}" for (d, n) in part.spaces if d == domain_id]
    in_use += [
        f"app {a.name}"
        for a in part.apps.values()
        if a.domain_id == domain_id and a.status(call.now) != "Deleted"
    ]
    if in_use:
        raise AwsError(
            "ResourceInUse",
            f"Domain {domain_id} still has {', '.join(sorted(in_use))}; delete them first",
        )
    retention = (call.body.get("RetentionPolicy") or {}).get("HomeEfsFileSystem", "Retain")
    if retention == "Delete":
        _delete_home_file_system(call, domain.home_efs_id)
        folders.remove(domain.home_efs_id)
    domain.lifecycle.move("Deleting", call.config)
    return {}


def _url(domain_id: str, region: str) -> str:
    return f"https://{domain_id}.studio.{region}.sagemaker.aws"


def _subnet_zones(call: StudioCall, vpc_id: str, subnet_ids: list[str]) -> dict[str, str]:
    """Subnet id -> availability zone, after checking that they exist in that VPC."""
    ec2 = call.gateway.client("ec2", call.part.region, call.part.account)
    try:
        subnets = ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]
    except ClientError as error:
        raise AwsError("ValidationException", f"Invalid SubnetIds {subnet_ids}: {error}") from None
    wrong = [s["SubnetId"] for s in subnets if s["VpcId"] != vpc_id]
    if wrong:
        raise AwsError("ValidationException", f"Subnets {wrong} are not in VPC {vpc_id}")
    return {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}


def _create_home_file_system(
    call: StudioCall, domain_id: str, arn: str, zones: dict[str, str], vpc_id: str
) -> str:
    """The domain's home EFS, made the way SageMaker makes it: tagged, mounted in each AZ."""
    region, account = call.part.region, call.part.account
    efs = call.gateway.client("efs", region, account)
    ec2 = call.gateway.client("ec2", region, account)
    try:
        groups = []
        for direction in ("inbound", "outbound"):
            groups.append(
                ec2.create_security_group(
                    GroupName=f"security-group-for-{direction}-nfs-{domain_id}",
                    VpcId=vpc_id,
                    Description=f"[DO NOT DELETE] Security Group that allows {direction} NFS "
                    f"traffic for SageMaker Notebooks Domain [{domain_id}]",
                )["GroupId"]
            )
        file_system = efs.create_file_system(
            CreationToken=domain_id,
            Encrypted=True,
            PerformanceMode="generalPurpose",
            Tags=[{"Key": "ManagedByAmazonSageMakerResource", "Value": arn}],
        )["FileSystemId"]
        used_zones: set[str] = set()
        for subnet, zone in sorted(zones.items()):
            if zone not in used_zones:  # EFS allows one mount target per zone
                used_zones.add(zone)
                efs.create_mount_target(
                    FileSystemId=file_system, SubnetId=subnet, SecurityGroups=groups[:1]
                )
    except ClientError as error:
        raise client_error_to_aws(error) from None
    return str(file_system)


def _delete_home_file_system(call: StudioCall, file_system_id: str) -> None:
    efs = call.gateway.client("efs", call.part.region, call.part.account)
    try:
        for target in efs.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]:
            efs.delete_mount_target(MountTargetId=target["MountTargetId"])
        efs.delete_file_system(FileSystemId=file_system_id)
    except efs.exceptions.FileSystemNotFound:
        pass  # already deleted by someone else: nothing left to retain or remove
