"""NFS access in the plan: what Studio needs to mount a region's file systems. Pure.

For every file system a domain in the region uses (adopted, created, a promoted replica,
a working copy: whatever serves it here), Studio needs a mount target in each of the
domain's subnets whose security groups let NFS (TCP 2049) in from the domain's security
groups. The operator keeps that true, like any other resource:

- the domain's NFS security group is `network.nfsSecurityGroup` when given, else one the
  operator makes per VPC (CreateNfsSecurityGroup: studio-operator-<estate>-nfs, tagged
  as managed), shared by the estate's domains in that VPC;
- it gets an ingress rule for TCP 2049 from each of the domain's security groups
  (AllowNfsIngress);
- each subnet gets a mount target carrying the NFS groups of the domains there
  (plan.mount_targets: create, adopt, wait while `creating`).

Until all of it is observed in place, the domain and its profiles do not refer to the
file system: they wait (Plan.waiting says why), so a failover is not Complete before
Studio could really mount it. A domain with no security groups, or two subnets in one
availability zone (EFS allows one mount target per zone: apps in the second could not
mount), is a problem the plan reports. Nothing here is ever deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.model import DesiredState
from controller.observed import ObservedNfsAccess, ObservedState, ResolvedReferences
from controller.plan.mount_targets import Needs, plan_mount_targets
from controller.plan.types import Action, Difference, Kind, Ref, ResourceKey, Verb
from controller.plan.working_copy import serving_file_system

NFS_PORT = 2049


def operator_nfs_group_name(desired: DesiredState) -> str:
    """The NFS security group the operator makes in a VPC when a domain names none."""
    return f"studio-operator-{desired.estate.name}-nfs"


def file_systems_of(desired: DesiredState, domain: str) -> tuple[str, ...]:
    """The logical file systems a domain's apps mount: its shares, its profiles' shares
    and the space backup share."""
    names = {share.file_system for share in desired.domain_shares_of(domain)}
    for profile in desired.profiles_of(domain):
        names |= {share.file_system for share in desired.user_shares_of(profile)}
    backup = desired.space_backup_share(domain)
    if backup is not None:
        names.add(backup.file_system)
    return tuple(sorted(names))


def studio_file_systems(desired: DesiredState, region: str,
                        observed_refs: ResolvedReferences) -> dict[str, str]:
    """Logical name -> the file system id serving it here, for those domains here use."""
    found: dict[str, str] = {}
    for name in sorted(desired.domains):
        if region not in desired.domains[name].networks:
            continue
        for logical in file_systems_of(desired, name):
            fs_id = serving_file_system(desired, region, observed_refs, logical)
            if fs_id is not None:
                found[logical] = fs_id
    return found


@dataclass
class _DomainNetwork:
    name: str
    vpc_ref: str
    vpc_id: str
    subnets: list[tuple[str, str]]  # (as named in the desired state, id)
    groups: list[tuple[str, str]]
    nfs_label: str
    nfs_group: str | Ref | None
    problems: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # why its NFS access is not ready


def plan_nfs_access(desired: DesiredState, observed: ObservedState, file_system_ids: dict[
        str, str | Ref], actions: list[Action], problems: list[str],
        notes: list[str]) -> dict[tuple[str, str], str]:
    """Adds NFS group, ingress and mount target actions; returns, per (logical file
    system, domain), why Studio cannot mount it yet (absent: it can)."""
    nfs = observed.nfs
    if nfs is None:
        return {}  # not looked at this pass: nothing is planned, nothing waits
    region = observed.region
    created: dict[str, Ref] = {}
    # Only domains whose apps mount something need any of it.
    networks = [net for name in sorted(desired.domains) if file_systems_of(desired, name)
                if (net := _network(desired, observed, nfs, name, created, actions))]
    for net in networks:
        _plan_ingress(net, nfs, region, actions)
    needs: dict[str, Needs] = {}
    used: dict[str, list[str]] = {}  # domain -> the file systems it uses here
    for net in networks:
        for logical in file_systems_of(desired, net.name):
            fs_id = file_system_ids.get(logical)
            if fs_id is None:
                continue  # no copy here (Shapes says why)
            used.setdefault(net.name, []).append(logical)
            if net.nfs_group is None:
                continue  # its NFS group is a problem: no mount target without one
            need = needs.setdefault(logical, Needs(logical, fs_id))
            need.add(net.name, net.vpc_id, net.subnets, net.nfs_group, net.nfs_label,
                     nfs.subnets)
    fs_waits = {logical: plan_mount_targets(need, nfs, region, actions, problems)
                for logical, need in sorted(needs.items())}
    waits: dict[tuple[str, str], str] = {}
    for net in networks:
        for logical in used.get(net.name, []):
            reasons = [*(p.partition(": ")[2] for p in net.problems),
                       *fs_waits.get(logical, {}).get(net.name, []), *net.pending]
            if reasons:
                waits[(logical, net.name)] = reasons[0]
    for net in networks:
        problems.extend(net.problems)
    for (logical, domain), reason in sorted(waits.items()):
        notes.append(f"Domain/{domain}: its apps could not mount {logical} yet ({reason}); "
                     "the domain and its profiles refer to it once they could")
    return waits


def _network(desired: DesiredState, observed: ObservedState, nfs: ObservedNfsAccess,
             name: str, created: dict[str, Ref], actions: list[Action]) -> _DomainNetwork | None:
    """The domain's network in this region with ids, or None when a reference does not
    resolve (Shapes reports it: the domain is not planned at all then)."""
    spec = desired.domains[name].networks.get(observed.region)
    refs = observed.references
    if spec is None or refs.vpcs.get(spec.vpc) is None:
        return None
    vpc_id = str(refs.vpcs[spec.vpc])
    subnets = [(s, refs.subnets.get((spec.vpc, s))) for s in spec.subnets]
    groups = [(g, refs.security_groups.get((spec.vpc, g))) for g in spec.security_groups]
    if any(i is None for _, i in subnets) or any(i is None for _, i in groups):
        return None
    label = spec.nfs_security_group or operator_nfs_group_name(desired)
    net = _DomainNetwork(name, spec.vpc, vpc_id, [(s, str(i)) for s, i in subnets],
                         [(g, str(i)) for g, i in groups], label, None)
    owner = f"Domain/{name}"
    if spec.nfs_security_group is not None:
        net.nfs_group = refs.security_groups.get((spec.vpc, spec.nfs_security_group))
        if net.nfs_group is None:
            net.problems.append(f"{owner}: NFS security group {spec.nfs_security_group} not "
                                f"found in {spec.vpc} ({observed.region})")
    elif vpc_id in nfs.operator_groups:
        net.nfs_group = nfs.operator_groups[vpc_id]
    else:
        net.nfs_group = created.get(vpc_id)
        if net.nfs_group is None:
            key_name = f"{spec.vpc}/{label}"
            net.nfs_group = created[vpc_id] = Ref(Kind.NFS_SECURITY_GROUP, key_name, "GroupId")
            actions.append(Action(
                "CreateNfsSecurityGroup", Verb.CREATE,
                ResourceKey(Kind.NFS_SECURITY_GROUP, observed.region, key_name),
                (Difference("GroupName", label, None), Difference("Vpc", spec.vpc, None)),
                {"GroupName": label, "VpcId": vpc_id, "Estate": desired.estate.name}))
        net.pending.append(f"the NFS security group {label} is being made")
    if not groups:
        net.problems.append(f"{owner}: no securityGroups in {observed.region}: NFS from its "
                            "apps to the file systems' mount targets cannot be allowed")
    zones: dict[str, str] = {}
    for subnet, subnet_id in net.subnets:
        zone = nfs.subnets.get(subnet_id, ("", ""))[1]
        if zone and zone in zones:
            net.problems.append(
                f"{owner}: subnets {zones[zone]} and {subnet} are both in {zone}; EFS allows "
                "one mount target per availability zone, so Studio apps in the second "
                "could not mount the file systems: give the domain subnets in distinct "
                "availability zones")
        zones.setdefault(zone, subnet)
    return net


def _plan_ingress(net: _DomainNetwork, nfs: ObservedNfsAccess, region: str,
                  actions: list[Action]) -> None:
    if net.nfs_group is None:
        return
    allowed = nfs.nfs_sources.get(net.nfs_group, frozenset()) if isinstance(
        net.nfs_group, str) else frozenset()
    planned = {a.key for a in actions}
    for source, source_id in net.groups:
        if source_id in allowed:
            continue
        key = ResourceKey(Kind.NFS_SECURITY_GROUP, region,
                          f"{net.vpc_ref}/{net.nfs_label}/from/{source}")
        net.pending.append(f"NFS from {source} is being allowed into {net.nfs_label}")
        if key in planned:
            continue  # another domain in the VPC needs the same rule
        actions.append(Action(
            "AllowNfsIngress", Verb.CREATE, key,
            (Difference("Ingress", f"TCP {NFS_PORT} from {source}", None),),
            {"GroupId": net.nfs_group, "SourceGroupId": source_id, "Port": NFS_PORT}))
