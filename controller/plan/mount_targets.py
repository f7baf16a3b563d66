"""Mount targets in the plan: one in each subnet where a domain's apps mount a file
system, with the domains' NFS security groups on it. Pure.

An existing mount target is adopted as it is, with only the missing NFS groups added
(AddMountTargetSecurityGroups; the groups already there are kept); one still `creating`
is waited for (AwaitMountTarget requeues, no hot loop); a missing one is made
(CreateMountTarget). EFS's limits are problems the plan reports, never worked around:
one mount target per availability zone (another subnet of the zone already has it), all
of a file system's mount targets in one VPC, at most five security groups on one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.observed import ObservedMountTarget, ObservedNfsAccess
from controller.plan.types import Action, Difference, Kind, Ref, ResourceKey, Verb

MAX_GROUPS = 5
WAITING_STATES = ("creating", "updating")


@dataclass
class _Subnet:
    name: str
    subnet_id: str
    vpc_id: str
    zone: str
    groups: dict[str | Ref, str] = field(default_factory=dict)  # NFS group -> its label


@dataclass
class Needs:
    """What the domains using one file system need of its mount targets."""

    logical: str
    file_system_id: str | Ref
    domains: dict[str, list[str]] = field(default_factory=dict)  # domain -> its subnet ids
    subnets: dict[str, _Subnet] = field(default_factory=dict)

    def add(self, domain: str, vpc_id: str, subnets: list[tuple[str, str]],
            nfs_group: str | Ref | None, nfs_label: str,
            observed: Mapping[str, tuple[str, str]]) -> None:
        self.domains[domain] = [subnet_id for _, subnet_id in subnets]
        for name, subnet_id in subnets:
            zone = observed.get(subnet_id, (vpc_id, ""))[1]
            entry = self.subnets.setdefault(subnet_id, _Subnet(name, subnet_id, vpc_id, zone))
            if nfs_group is not None:
                entry.groups[nfs_group] = nfs_label


def plan_mount_targets(need: Needs, nfs: ObservedNfsAccess, region: str,
                       actions: list[Action], problems: list[str]) -> dict[str, list[str]]:
    """Adds the mount target actions one file system needs; returns, per domain, why its
    apps could not mount it yet."""
    fs_id = need.file_system_id
    targets = nfs.mount_targets.get(fs_id, ()) if isinstance(fs_id, str) else ()
    shown = fs_id if isinstance(fs_id, str) else "(made in this pass)"
    not_ready: dict[str, str] = {}  # subnet id -> why
    target_vpcs = sorted({t.vpc_id for t in targets})
    for subnet_id, subnet in sorted(need.subnets.items(), key=lambda kv: kv[1].name):
        key = ResourceKey(Kind.MOUNT_TARGET, region, f"{need.logical}/{subnet.name}")
        if target_vpcs and subnet.vpc_id not in target_vpcs:
            problems.append(
                f"{key}: {need.logical} ({shown}) has its mount targets in {target_vpcs[0]}, "
                f"not in the VPC {subnet.vpc_id} of subnet {subnet.name}; EFS serves one VPC "
                "per file system")
            not_ready[subnet_id] = f"its mount targets are in another VPC ({target_vpcs[0]})"
            continue
        target = next((t for t in targets if t.subnet_id == subnet_id), None)
        why = (_missing(key, need, shown, subnet, targets, actions, problems) if target is None
               else _adopted(key, subnet, target, actions, problems))
        if why is not None:
            not_ready[subnet_id] = why
    return {domain: [f"{need.logical} {not_ready[s]}" for s in subnets if s in not_ready]
            for domain, subnets in need.domains.items()}


def _missing(key: ResourceKey, need: Needs, shown: str, subnet: _Subnet,
             targets: tuple[ObservedMountTarget, ...], actions: list[Action],
             problems: list[str]) -> str:
    taken = next((t for t in targets if t.availability_zone == subnet.zone), None)
    if taken is not None:
        problems.append(
            f"{key}: {need.logical} ({shown}) already has its mount target for "
            f"{subnet.zone} in subnet {taken.subnet_id}; EFS allows one per availability "
            f"zone, so Studio apps in {subnet.name} could not mount it")
        return f"has no mount target in {subnet.name} (its zone's is in {taken.subnet_id})"
    groups = _ordered(subnet.groups)
    actions.append(Action(
        "CreateMountTarget", Verb.CREATE, key,
        (Difference("Subnet", subnet.name, None),
         Difference("SecurityGroups", [subnet.groups[g] for g in groups], None)),
        {"FileSystemId": need.file_system_id, "SubnetId": subnet.subnet_id,
         "SecurityGroups": groups, "LogicalName": need.logical}))
    return f"gets a mount target in {subnet.name}"


def _adopted(key: ResourceKey, subnet: _Subnet, target: ObservedMountTarget,
             actions: list[Action], problems: list[str]) -> str | None:
    state = target.lifecycle_state
    if state in WAITING_STATES:
        actions.append(Action(
            "AwaitMountTarget", Verb.UPDATE, key,
            (Difference("LifeCycleState", "available", state),),
            {"MountTargetId": target.mount_target_id, "SubnetId": subnet.subnet_id}))
        return f"mount target {target.mount_target_id} in {subnet.name} is {state}"
    if state != "available":
        return f"mount target {target.mount_target_id} in {subnet.name} is {state}"
    missing = [g for g in _ordered(subnet.groups) if g not in target.security_groups]
    if not missing:
        return None
    wanted = [*target.security_groups, *missing]
    if len(wanted) > MAX_GROUPS:
        problems.append(
            f"{key}: mount target {target.mount_target_id} already has "
            f"{len(target.security_groups)} security groups; adding "
            f"{', '.join(subnet.groups[g] for g in missing)} would pass EFS's limit of "
            f"{MAX_GROUPS}")
        return f"mount target {target.mount_target_id} cannot take the NFS security group"
    actions.append(Action(
        "AddMountTargetSecurityGroups", Verb.UPDATE, key,
        (Difference("SecurityGroups", [*target.security_groups,
                                       *(subnet.groups[g] for g in missing)],
                    list(target.security_groups)),),
        {"MountTargetId": target.mount_target_id, "SecurityGroups": wanted}))
    return f"mount target {target.mount_target_id} in {subnet.name} gets the NFS security group"


def _ordered(groups: Mapping[str | Ref, str]) -> list[str | Ref]:
    """Known group ids first, sorted; groups made in this pass after them, by name."""
    return sorted(groups, key=lambda g: (isinstance(g, Ref), g.name if isinstance(g, Ref)
                                         else g))
