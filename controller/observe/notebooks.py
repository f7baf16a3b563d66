"""Read the region's notebook instances that the desired state names, and resolve their
references (role, VPC, subnet, security groups).

Per NotebookInstance document of this region: one DescribeNotebookInstance and, when
the instance exists, one ListTags; references are resolved with the same lookups as
the domains' (by id, or by Name tag within the VPC, never picking one of several
carriers of a tag). The instance read is the one its migration record names (the new
one once a migration is complete). While a migration is due or under way, also the new
instance and the notebook's snapshots and restore markers in its policy's bucket
(controller.observe.notebook_snapshots). Reads only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.notebooks.configs import backup_config
from controller.notebooks.migration import NotebookMigration
from controller.notebooks.observed import NotebookObservation, ObservedNotebookInstance
from controller.notebooks.spec import NotebookInstanceSpec
from controller.observe.notebook_snapshots import read_snapshot_facts
from controller.observe.references import _by_name_or_id, _roles
from controller.plan.notebooks import creation_only_changes
from controller.snapshots.manifest import policy_prefix

_TAG_PAGE = 50


def observe_notebooks(gateway: AwsGateway, desired: DesiredState, region: str,
                      migrations: Mapping[str, NotebookMigration] | None = None,
                      ) -> dict[str, NotebookObservation]:
    specs = desired.notebooks_in(region)
    if not specs:
        return {}
    sagemaker = gateway.client("sagemaker", region)
    roles = _roles(gateway, region, {s.execution_role for s in specs})
    observed: dict[str, NotebookObservation] = {}
    for spec in specs:
        subnet, groups, unresolved = _network(gateway, region, spec)
        role = roles.get(spec.execution_role)
        if role is None:
            unresolved.append(f"execution role {spec.execution_role!r} not found")
        migration = (migrations or {}).get(spec.name)
        seen = NotebookObservation(
            instance=read_instance(sagemaker, migration.current_instance if migration
                                   else spec.name),
            role_arn=role, subnet_id=subnet,
            security_group_ids=groups, unresolved=tuple(unresolved),
            backup_config_present=_config_present(sagemaker, desired, spec, region),
            seal_config_present=bool(
                migration is not None and not migration.complete
                and spec.migration.delete_old
                and _config_present(sagemaker, desired, spec, region, "seal")),
            migration=migration)
        observed[spec.name] = _with_migration(gateway, sagemaker, desired, spec, region, seen)
    return observed


def _with_migration(gateway: AwsGateway, sagemaker: Any, desired: DesiredState,
                    spec: NotebookInstanceSpec, region: str,
                    seen: NotebookObservation) -> NotebookObservation:
    """The new instance, snapshots and restore markers, while a migration is under way
    or due (a setting AWS sets only at creation differs)."""
    migration = seen.migration
    if migration is not None and not migration.complete:
        new = read_instance(sagemaker, migration.new_instance)
    elif seen.instance is not None and not seen.unresolved and creation_only_changes(
            spec, seen, seen.instance):
        new = None
    else:
        return seen
    policy = desired.snapshot_policies.get(spec.backup_policy or "")
    if policy is None or region not in policy.buckets:
        return replace(seen, new_instance=new)
    created = new.description.get("CreationTime") if new is not None else None
    facts = read_snapshot_facts(gateway.client("s3", region), policy.buckets[region],
                                policy_prefix(policy.prefix, policy.name), spec.name,
                                migration, _epoch(created) if created is not None else None)
    return replace(seen, new_instance=new, snapshots=facts.snapshots,
                   restored=facts.restored, snapshots_unreadable=facts.unreadable)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _config_present(sagemaker: Any, desired: DesiredState, spec: NotebookInstanceSpec,
                    region: str, kind: str = "start") -> bool:
    policy = desired.snapshot_policies.get(spec.backup_policy or "")
    if policy is None or region not in policy.buckets:
        return False
    name = backup_config(spec, policy, region, kind).name
    try:
        sagemaker.describe_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":
            return False
        raise
    return True


def read_instance(sagemaker: Any, name: str) -> ObservedNotebookInstance | None:
    """The instance called `name` with its tags; None when there is none (AWS answers
    ValidationException for an unknown notebook instance)."""
    try:
        description = sagemaker.describe_notebook_instance(NotebookInstanceName=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":
            return None
        raise
    description = {k: v for k, v in description.items() if k != "ResponseMetadata"}
    tags: dict[str, str] = {}
    token: str | None = None
    while True:
        page = sagemaker.list_tags(ResourceArn=description["NotebookInstanceArn"],
                                   MaxResults=_TAG_PAGE, **({"NextToken": token} if token else {}))
        tags.update({t["Key"]: t.get("Value", "") for t in page.get("Tags", [])})
        token = page.get("NextToken")
        if not token:
            break
    return ObservedNotebookInstance(name, str(description.get("NotebookInstanceStatus", "")),
                                    description, tags)


def _network(gateway: AwsGateway, region: str, spec: NotebookInstanceSpec,
             ) -> tuple[str | None, tuple[str | None, ...], list[str]]:
    network = spec.network
    if network is None:
        return None, (), []
    ec2 = gateway.client("ec2", region)
    unresolved: list[str] = []
    vpc = _by_name_or_id(ec2, "describe_vpcs", "Vpcs", "VpcId", ("vpc-", "vpc-id"),
                         {network.vpc}).get(network.vpc)
    if vpc is None:
        return None, tuple(None for _ in network.security_groups), [
            f"VPC {network.vpc!r} not found (or its Name tag is on several VPCs)"]
    within = [{"Name": "vpc-id", "Values": [vpc]}]
    subnet = _by_name_or_id(ec2, "describe_subnets", "Subnets", "SubnetId",
                            ("subnet-", "subnet-id"), {network.subnet}, within).get(network.subnet)
    if subnet is None:
        unresolved.append(f"subnet {network.subnet!r} not found in {vpc} (or its Name tag "
                          "is on several subnets)")
    found = _by_name_or_id(ec2, "describe_security_groups", "SecurityGroups", "GroupId",
                           ("sg-", "group-id"), set(network.security_groups), within,
                           name_field="GroupName") if network.security_groups else {}
    groups = tuple(found.get(g) for g in network.security_groups)
    unresolved += [f"security group {g!r} not found in {vpc}"
                   for g, gid in zip(network.security_groups, groups, strict=True) if gid is None]
    return subnet, groups, unresolved
