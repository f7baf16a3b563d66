"""Create in the emulator what infra/cloudformation creates on AWS before the operator runs.

For a validated desired state, in each region of the estate: the VPCs, subnets (one per
availability zone) and NFS security groups the domains name, the IAM execution role
(once: IAM is global), and each custom EFS file system that is adopted by its Name tag
and not created by the operator, with its folder and mount targets in the domains'
subnets (the controller's own task mounts it at first start; Studio's mount targets are
the operator's job, which adopts these). Every step looks before it creates, so a second
run creates nothing. A value that looks like an id (vpc-, subnet-, sg-, fs-, arn:) is
only checked, never created.
This module must not create domains, profiles or anything else the operator owns; it
talks to the emulator through its public endpoint only, like any AWS client.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from controller.emulator.prepare_events import create_bucket, ensure_event_queue, ensure_trail
from controller.emulator.prepare_network import (
    PreparedRegion,
    check_exists,
    ensure_network,
    is_id,
)
from controller.model import DesiredState, DomainSpec, FileSystemSpec

_SESSIONS: dict[tuple[str, str, str | None], boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()
SAGEMAKER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _session() -> boto3.session.Session:
    """One session per set of credentials: a new one would reload the service models."""
    credentials = (
        os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        os.environ.get("AWS_SESSION_TOKEN"),
    )
    with _SESSIONS_LOCK:
        if credentials not in _SESSIONS:
            _SESSIONS[credentials] = boto3.session.Session(*credentials)
        return _SESSIONS[credentials]


def prepare_estate(endpoint_url: str, desired: DesiredState, efs_root: Path) -> list[str]:
    session = _session()
    config = Config(retries={"max_attempts": 3, "mode": "standard"})

    def client(service: str, region: str) -> BaseClient:
        with _SESSIONS_LOCK:  # boto3 sessions are not thread-safe; their clients are
            return session.client(
                service, region_name=region, endpoint_url=endpoint_url, config=config
            )

    lines: list[str] = []
    regions = list(dict.fromkeys(desired.estate.regions))
    roles = {d.execution_role for d in desired.domains.values()} | {
        p.settings.execution_role for p in desired.profiles.values()
        if p.settings.execution_role}
    _ensure_roles(client("iam", regions[0]), roles, lines)
    ensure_trail(client("s3", regions[0]), client("cloudtrail", regions[0]), lines)
    _ensure_snapshot_stores(client, desired, regions, lines)
    for region_name in regions:
        ec2, efs = client("ec2", region_name), client("efs", region_name)
        region = PreparedRegion(region_name, ec2, efs, lines)
        domains = [d for _, d in sorted(desired.domains.items()) if region_name in d.networks]
        for domain in domains:
            ensure_network(region, domain.networks[region_name])
        for _, file_system in sorted(desired.file_systems.items()):
            _ensure_file_system(
                region, file_system, _domains_using(desired, file_system.name, domains), efs_root
            )
        ensure_event_queue(client("sqs", region_name), client("events", region_name), lines)
    return lines


def _ensure_roles(iam: BaseClient, roles: Iterable[str], lines: list[str]) -> None:
    """The domains' and profiles' execution roles."""
    for role in sorted(set(roles)):
        name = role.rsplit("/", 1)[-1]
        try:
            arn = iam.get_role(RoleName=name)["Role"]["Arn"]
            lines.append(f"found iam role {name} ({arn})")
        except iam.exceptions.NoSuchEntityException:
            if is_id(role):
                lines.append(f"missing iam role {role} (given as an ARN: not created)")
                continue
            arn = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST),
                Description="SageMaker Studio execution role (made by the emulator)",
            )["Role"]["Arn"]
            lines.append(f"created iam role {name} ({arn})")


def _ensure_snapshot_stores(client: Any, desired: DesiredState, regions: list[str],
                            lines: list[str]) -> None:
    """The buckets and KMS keys (by alias) the SnapshotPolicies name, per region."""
    for region in regions:
        s3, kms = client("s3", region), client("kms", region)
        for policy in sorted(desired.snapshot_policies.values(), key=lambda p: p.name):
            bucket = policy.buckets.get(region)
            if bucket:
                try:
                    s3.head_bucket(Bucket=bucket)
                    lines.append(f"found s3 bucket {bucket} in {region}")
                except s3.exceptions.ClientError:
                    create_bucket(s3, bucket)
                    lines.append(f"created s3 bucket {bucket} in {region}")
            alias = policy.kms_key_id
            if alias and alias.startswith("alias/"):
                known = {a["AliasName"] for page in kms.get_paginator("list_aliases").paginate()
                         for a in page["Aliases"]}
                if alias not in known:
                    key = kms.create_key(Description=f"snapshots ({alias})")["KeyMetadata"]
                    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
                    lines.append(f"created kms key {alias} ({key['KeyId']}) in {region}")
                else:
                    lines.append(f"found kms key {alias} in {region}")


def _domains_using(
    desired: DesiredState, file_system: str, domains: list[DomainSpec]
) -> list[DomainSpec]:
    def uses(domain: DomainSpec) -> bool:
        names = set(domain.shares) | {s for p in desired.profiles_of(domain.name) for s in p.shares}
        return any(
            desired.shares[n].file_system == file_system for n in names if n in desired.shares
        )

    return [d for d in domains if uses(d)] or domains


def _ensure_file_system(
    region: PreparedRegion, spec: FileSystemSpec, domains: list[DomainSpec], efs_root: Path
) -> None:
    placement = spec.placements.get(region.name)
    if placement is None:
        return
    efs = region.efs
    if placement.file_system_id is not None:
        fs_id = placement.file_system_id
        check_exists(region, "efs", fs_id, lambda: efs.describe_file_systems(FileSystemId=fs_id))
        return
    if placement.create is not None or placement.name_tag is None:
        region.lines.append(
            f"left efs {spec.name} in {region.name} to the operator (it creates it)"
        )
        return
    name = placement.name_tag
    found = [
        fs
        for page in efs.get_paginator("describe_file_systems").paginate()
        for fs in page["FileSystems"]
        if fs.get("Name") == name
    ]
    if found:
        fs_id = str(found[0]["FileSystemId"])
        region.say("found", "efs", name, fs_id)
    else:
        fs_id = str(
            efs.create_file_system(
                CreationToken=f"studio-operator-prepare-{name}",
                PerformanceMode="generalPurpose",
                ThroughputMode="elastic",
                Encrypted=True,
                Tags=[{"Key": "Name", "Value": name}],
            )["FileSystemId"]
        )
        region.say("created", "efs", name, fs_id)
    (efs_root / fs_id).mkdir(parents=True, exist_ok=True)
    _ensure_mount_targets(region, fs_id, name, domains)


def _ensure_mount_targets(
    region: PreparedRegion, fs_id: str, name: str, domains: list[DomainSpec]
) -> None:
    efs, ec2 = region.efs, region.ec2
    targets = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
    zones_done = {t["AvailabilityZoneName"] for t in targets}
    vpc_of_targets = targets[0]["VpcId"] if targets else None
    for domain in domains:
        network = domain.networks[region.name]
        # The stack puts its NFS group on them (the one domains name as nfsSecurityGroup).
        names = [network.nfs_security_group] if network.nfs_security_group else (
            network.security_groups)
        groups = [g for g in (region.groups.get((network.vpc, n)) for n in names) if g]
        for subnet_name in network.subnets:
            subnet_id = region.subnets.get((network.vpc, subnet_name))
            if subnet_id is None:
                continue
            subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
            if vpc_of_targets is not None and subnet["VpcId"] != vpc_of_targets:
                region.lines.append(
                    f"skipped mount target of efs {name} in {subnet_name}: "
                    f"its mount targets are in {vpc_of_targets}"
                )
                continue
            if subnet["AvailabilityZone"] in zones_done:
                continue
            target = efs.create_mount_target(
                FileSystemId=fs_id, SubnetId=subnet_id, SecurityGroups=groups
            )
            zones_done.add(subnet["AvailabilityZone"])
            vpc_of_targets = subnet["VpcId"]
            region.say(
                "created",
                "mount target",
                f"of efs {name} in {subnet_name}",
                target["MountTargetId"],
            )
    if targets:
        region.say(
            "found",
            "mount targets",
            f"of efs {name}",
            ", ".join(t["MountTargetId"] for t in targets),
        )
