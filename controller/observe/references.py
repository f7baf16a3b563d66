"""Resolve the desired state's names (Name tags, role names) to ids in one region.

A handful of list/describe calls per pass, batched by filter, whatever the number of
domains. A reference that starts with an id prefix is looked up as an id. A Name tag
that several resources carry resolves to nothing and is reported (AmbiguousName): tags
are not unique, and the first match is whichever AWS happened to list first. File
systems are found by controller.observe.efs. Reads only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.observe.efs import find_file_systems, read_remote, replica_ids
from controller.observed import AmbiguousName, ResolvedReferences


def resolve_references(gateway: AwsGateway, desired: DesiredState, region: str,
                       acting: bool = True) -> ResolvedReferences:
    """Every reference, resolved in `region`; when not `acting` (a standby region), only
    the region's own file systems, which is all a standby controller looks at."""
    file_systems = find_file_systems(gateway, desired, region)
    if not acting:
        return ResolvedReferences(file_systems=file_systems.copies,
                                  working_copies=file_systems.working,
                                  superseded=file_systems.superseded,
                                  ambiguous=tuple(file_systems.ambiguous))
    networks = [d.networks[region] for _, d in sorted(desired.domains.items())
                if region in d.networks]
    ec2 = gateway.client("ec2", region)
    ambiguous: list[AmbiguousName] = list(file_systems.ambiguous)
    vpcs = _by_name_or_id(ec2, "describe_vpcs", "Vpcs", "VpcId", ("vpc-", "vpc-id"),
                          {n.vpc for n in networks}, ambiguous=(ambiguous, "VPC", region))
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
                                           ("subnet-", "subnet-id"), wanted_subnets, within,
                                           ambiguous=(ambiguous, "subnet", region))
            found_groups = _by_name_or_id(ec2, "describe_security_groups", "SecurityGroups",
                                          "GroupId", ("sg-", "group-id"), wanted_groups, within,
                                          name_field="GroupName",
                                          ambiguous=(ambiguous, "security group", region))
        subnets.update({(vpc_ref, s): found_subnets.get(s) for s in wanted_subnets})
        groups.update({(vpc_ref, g): found_groups.get(g) for g in wanted_groups})
    remote = read_remote(gateway, desired, region, replica_ids(file_systems.copies, region))
    return ResolvedReferences(
        vpcs=vpcs,
        subnets=subnets,
        security_groups=groups,
        roles=_roles(gateway, region, {d.execution_role for d in desired.domains.values()}
                     | {p.settings.execution_role for p in desired.profiles.values()
                        if p.settings.execution_role}),
        file_systems=file_systems.copies,
        remote_file_systems=remote.copies,
        working_copies=file_systems.working,
        superseded=file_systems.superseded,
        ambiguous=tuple([*ambiguous, *remote.ambiguous]),
        remote_read=remote.outcome,
    )


def _by_name_or_id(client: Any, operation: str, result_key: str, id_field: str,
                   id_form: tuple[str, str], references: Iterable[str],
                   extra_filters: list[dict[str, Any]] | None = None,
                   name_field: str | None = None,
                   ambiguous: tuple[list[AmbiguousName], str, str] | None = None,
                   ) -> dict[str, str | None]:
    """One call per kind of reference: ids by id filter, names by Name tag (or name field).

    `id_form` is (the id prefix, the filter that matches ids), e.g. ("vpc-", "vpc-id").
    A Name tag on several resources stays None and is added to `ambiguous` (the list,
    with the kind and region to report it under).
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
        tagged: dict[str, set[str]] = {}
        for page in paginator.paginate(Filters=filters):
            for item in page[result_key]:
                tag = _name_tag(item.get("Tags"))
                if tag in found:
                    tagged.setdefault(tag, set()).add(item[id_field])
        for tag, carriers in sorted(tagged.items()):
            if len(carriers) == 1:
                found[tag] = next(iter(carriers))
            elif ambiguous is not None:
                into, kind, region = ambiguous
                into.append(AmbiguousName(kind, tag, region, tuple(sorted(carriers))))
        missing = [n for n in names if found[n] is None and n not in tagged]
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
