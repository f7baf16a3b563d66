"""Resolve the desired state's names (Name tags, role names) to ids in one region.

A handful of list/describe calls per pass, batched by filter, whatever the number of
domains. A reference that starts with an id prefix is looked up as an id. Reads only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from controller.fencing import ATTACHED_TAG, COPIED_AT_TAG, WORKING_COPY_OF_TAG, fence_stamp
from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.observed import (
    ObservedFileSystem,
    ObservedReplication,
    ObservedWorkingCopy,
    ResolvedReferences,
)


def resolve_references(gateway: AwsGateway, desired: DesiredState, region: str,
                       acting: bool = True) -> ResolvedReferences:
    """Every reference, resolved in `region`; when not `acting` (a standby region), only
    the region's own file systems, which is all a standby controller looks at."""
    if not acting:
        found = _file_systems(gateway, desired, region)
        return ResolvedReferences(file_systems=found.copies, working_copies=found.working,
                                  superseded=found.superseded)
    file_systems = _file_systems(gateway, desired, region)
    networks = [d.networks[region] for _, d in sorted(desired.domains.items())
                if region in d.networks]
    ec2 = gateway.client("ec2", region)
    vpcs = _by_name_or_id(ec2, "describe_vpcs", "Vpcs", "VpcId", ("vpc-", "vpc-id"),
                          {n.vpc for n in networks})
    subnets: dict[tuple[str, str], str | None] = {}
    groups: dict[tuple[str, str], str | None] = {}
    for vpc_ref in sorted({n.vpc for n in networks}):
        vpc_id = vpcs.get(vpc_ref)
        wanted_subnets = {s for n in networks if n.vpc == vpc_ref for s in n.subnets}
        wanted_groups = {g for n in networks if n.vpc == vpc_ref
                         for g in (*n.security_groups, *filter(None, [n.nfs_security_group]))}
        found_subnets: dict[str, str | None] = {}
        found_groups: dict[str, str | None] = {}
        if vpc_id is not None:
            within = [{"Name": "vpc-id", "Values": [vpc_id]}]
            found_subnets = _by_name_or_id(ec2, "describe_subnets", "Subnets", "SubnetId",
                                           ("subnet-", "subnet-id"), wanted_subnets, within)
            found_groups = _by_name_or_id(ec2, "describe_security_groups", "SecurityGroups",
                                          "GroupId", ("sg-", "group-id"), wanted_groups, within,
                                          name_field="GroupName")
        subnets.update({(vpc_ref, s): found_subnets.get(s) for s in wanted_subnets})
        groups.update({(vpc_ref, g): found_groups.get(g) for g in wanted_groups})
    return ResolvedReferences(
        vpcs=vpcs,
        subnets=subnets,
        security_groups=groups,
        roles=_roles(gateway, region, {d.execution_role for d in desired.domains.values()}),
        file_systems=file_systems.copies,
        remote_file_systems=remote_file_systems(gateway, desired, region),
        working_copies=file_systems.working,
        superseded=file_systems.superseded,
    )


def _by_name_or_id(client: Any, operation: str, result_key: str, id_field: str,
                   id_form: tuple[str, str], references: Iterable[str],
                   extra_filters: list[dict[str, Any]] | None = None,
                   name_field: str | None = None) -> dict[str, str | None]:
    """One call per kind of reference: ids by id filter, names by Name tag (or name field).

    `id_form` is (the id prefix, the filter that matches ids), e.g. ("vpc-", "vpc-id").
    """
    references = sorted(set(references))
    prefix, id_filter = id_form
    ids = [r for r in references if r.startswith(prefix)]
    names = [r for r in references if not r.startswith(prefix)]
    found: dict[str, str | None] = dict.fromkeys(references)
    paginator = client.get_paginator(operation)
    if ids:
        filters = [*(extra_filters or []), {"Name": id_filter, "Values": ids}]
        for page in paginator.paginate(Filters=filters):
            for item in page[result_key]:
                found[item[id_field]] = item[id_field]
    if names:
        filters = [*(extra_filters or []), {"Name": "tag:Name", "Values": names}]
        for page in paginator.paginate(Filters=filters):
            for item in page[result_key]:
                tag = _name_tag(item.get("Tags"))
                if tag in found and found[tag] is None:
                    found[tag] = item[id_field]
        missing = [n for n in names if found[n] is None]
        if missing and name_field:
            filters = [*(extra_filters or []), {"Name": "group-name", "Values": missing}]
            for page in paginator.paginate(Filters=filters):
                for item in page[result_key]:
                    if item.get(name_field) in found and found[item[name_field]] is None:
                        found[item[name_field]] = item[id_field]
    return found


def _name_tag(tags: list[dict[str, str]] | None) -> str | None:
    for tag in tags or []:
        if tag.get("Key") == "Name":
            return tag.get("Value")
    return None


def _roles(gateway: AwsGateway, region: str, references: set[str]) -> dict[str, str | None]:
    iam = gateway.client("iam", region)
    found: dict[str, str | None] = {}
    for reference in sorted(references):
        if reference.startswith("arn:"):
            found[reference] = reference
            continue
        try:
            found[reference] = iam.get_role(RoleName=reference)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            found[reference] = None
    return found


def remote_file_systems(gateway: AwsGateway, desired: DesiredState,
                         region: str) -> dict[str, ObservedFileSystem | None]:
    """The other region's copies of replicated file systems: a read that replication
    needs (never to replicate onto a copy that was not made ready for it)."""
    if not any(spec.replicate for spec in desired.file_systems.values()):
        return {}
    other = next(r for r in desired.estate.regions if r != region)
    try:
        found = _file_systems(gateway, desired, other, only_replicated=True).copies
    except (BotoCoreError, ClientError):
        return {}  # unreachable: decided again next pass
    return found


@dataclass
class _FoundFileSystems:
    copies: dict[str, ObservedFileSystem | None] = field(default_factory=dict)
    working: dict[str, ObservedWorkingCopy] = field(default_factory=dict)
    superseded: dict[str, ObservedFileSystem] = field(default_factory=dict)


def _file_systems(gateway: AwsGateway, desired: DesiredState, region: str,
                  only_replicated: bool = False) -> _FoundFileSystems:
    """Each logical file system's copy in `region`: by id or Name tag, or the working copy
    that has been attached in its place (the replica it took over from is `superseded`)."""
    efs = gateway.client("efs", region)
    by_id: dict[str, ObservedFileSystem] = {}
    by_name: dict[str, ObservedFileSystem] = {}
    working: dict[str, tuple[ObservedWorkingCopy, ObservedFileSystem]] = {}
    for page in efs.get_paginator("describe_file_systems").paginate():
        for item in page["FileSystems"]:
            tags = {t["Key"]: t["Value"] for t in item.get("Tags") or []}
            observed = ObservedFileSystem(
                file_system_id=item["FileSystemId"],
                lifecycle_state=item.get("LifeCycleState", "unknown"),
                name_tag=item.get("Name") or tags.get("Name"),
                replication_overwrite_protection=(item.get("FileSystemProtection") or {}).get(
                    "ReplicationOverwriteProtection"),
            )
            by_id[observed.file_system_id] = observed
            copy_of = tags.get(WORKING_COPY_OF_TAG)
            if copy_of and observed.lifecycle_state != "deleted":
                working.setdefault(copy_of, (ObservedWorkingCopy(
                    observed.file_system_id, observed.lifecycle_state,
                    _float(tags.get(COPIED_AT_TAG)), tags.get(ATTACHED_TAG) == "true"),
                    observed))
            elif observed.name_tag and observed.lifecycle_state != "deleted":
                by_name.setdefault(observed.name_tag, observed)
    found = _FoundFileSystems()
    for name in sorted(desired.file_systems):
        spec = desired.file_systems[name]
        if only_replicated and not spec.replicate:
            continue
        placement = spec.placement_in(region)
        copy: ObservedFileSystem | None = None
        if placement is not None and placement.file_system_id:
            copy = by_id.get(placement.file_system_id)
        elif placement is not None:
            copy = by_name.get(placement.name_tag or "")
        if spec.replicate and name in working:
            working_copy, as_file_system = working[name]
            found.working[name] = working_copy
            if working_copy.attached:
                if copy is not None:
                    found.superseded[name] = replace(
                        copy, replication=_replication(efs, copy.file_system_id))
                copy = as_file_system
        if copy is not None and spec.replicate:
            copy = replace(copy, replication=_replication(efs, copy.file_system_id))
            if not only_replicated and not copy.is_replica():
                # Fenced or not: a replica never is (it is fenced, if ever, once promoted).
                copy = replace(copy, fenced_at=_fence(efs, copy.file_system_id))
        found.copies[name] = copy
    return found


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _fence(efs: Any, file_system_id: str) -> str | None:
    try:
        policy = efs.describe_file_system_policy(FileSystemId=file_system_id)["Policy"]
    except efs.exceptions.PolicyNotFound:
        return None
    return fence_stamp(policy)


def _replication(efs: Any, file_system_id: str) -> ObservedReplication | None:
    """The replication configuration the file system is source or destination of."""
    try:
        response = efs.describe_replication_configurations(FileSystemId=file_system_id)
    except efs.exceptions.ReplicationNotFound:
        return None
    for config in response.get("Replications", []):
        for destination in config.get("Destinations", []):
            return ObservedReplication(
                source_file_system_id=config["SourceFileSystemId"],
                source_region=config["SourceFileSystemRegion"],
                destination_file_system_id=destination["FileSystemId"],
                destination_region=destination["Region"],
                status=destination.get("Status", "UNKNOWN"),
                last_replicated=destination.get("LastReplicatedTimestamp"),
            )
    return None
