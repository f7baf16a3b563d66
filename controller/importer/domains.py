"""A live domain and its profiles as a Domain document, for `studioctl import`. Pure.

Network by Name tags where unique (the same names are assumed in the replica region, as
the prerequisites stack makes them; a comment says so), the NFS security group found on
the file systems' mount targets, the execution role by name, default POSIX ids, shares,
space backup, and the profiles as a compact table with their per-profile settings and
tags. Settings the operator does not manage are named in comments: they stay as AWS
holds them, since updates merge around them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from controller.importer.documents import (
    APP_KEYS,
    MANAGED_SETTINGS,
    Document,
    envelope,
    posix_of,
    user_tags,
)
from controller.importer.read import LiveDomain, LiveProfile, LiveRegion, file_system_ids
from controller.importer.share_docs import InferredShares
from controller.lifecycle import is_operator_config_arn

# Domain fields CreateDomain/UpdateDomain set that the operator does not manage.
_UNMANAGED_DOMAIN = ("KmsKeyId", "DomainSettings", "AppSecurityGroupManagement",
                     "TagPropagation", "DefaultLandingUri")


def domain_document(live: LiveRegion, domain: LiveDomain, replica: str,
                    inferred: InferredShares) -> Document:
    described = domain.description
    settings = described.get("DefaultUserSettings", {})
    comments: list[str] = [f"{domain.name}: {described.get('DomainId')} in {live.region}"]
    profile_shares = inferred.by_profile
    everyone = _shared_by_all(domain, profile_shares)
    spec: dict[str, Any] = {"authMode": described.get("AuthMode", "IAM"),
                            "executionRole": role_reference(settings.get("ExecutionRole"))}
    posix = posix_of(settings)
    if posix is None:
        comments.append("DefaultUserSettings has no CustomPosixUserConfig: defaultPosix "
                        "200001:1001 is written and the plan sets it")
        posix = (200001, 1001)
    spec["defaultPosix"] = {"uid": posix[0], "gid": posix[1]}
    spec["shares"] = list(dict.fromkeys([*inferred.by_domain.get(domain.name, []),
                                         *sorted(everyone)]))
    network = _network(live, domain, comments)
    spec["network"] = {live.region: network, replica: dict(network)}
    comments.append(f"the network in {replica} is assumed to carry the same Name tags as "
                    f"in {live.region}: check it before a failover")
    backup = inferred.backups.get(domain.name)
    if backup is not None:
        spec["spaceBackup"] = {"enabled": True, "share": backup}
        apps = [app for app, key in APP_KEYS.items() if any(
            is_operator_config_arn(a) for a in (settings.get(key) or {}).get(
                "LifecycleConfigArns") or ())]
        if apps and len(apps) < len(APP_KEYS):
            spec["apps"] = apps
    if described.get("AppNetworkAccessType") not in (None, "VpcOnly"):
        comments.append(f"AppNetworkAccessType is {described.get('AppNetworkAccessType')}: "
                        "the operator makes domains VpcOnly (its file systems are reached "
                        "in the VPC), so adopting it changes that once no app runs")
    kept = sorted(k for k in settings if k not in MANAGED_SETTINGS and k not in APP_KEYS.values())
    kept += [f"DefaultUserSettings.{k}" for k in APP_KEYS.values() if k in settings]
    kept += [k for k in _UNMANAGED_DOMAIN if described.get(k)]
    if kept:
        comments.append("kept as AWS holds them (not managed; updates merge around them): "
                        + ", ".join(kept))
    rows = [_row(domain, profile, spec, sorted(set(profile_shares.get(
        f"{domain.name}/{profile.name}", [])) - everyone), comments)
        for profile in domain.profiles]
    if rows:
        spec["profiles"] = rows
    return Document(envelope("Domain", domain.name, spec), comments)


def role_reference(arn: Any) -> str:
    """A role ARN as the desired state names it: its name when it has no path (then it
    resolves in each region's account), else the ARN."""
    text = str(arn or "")
    _, _, resource = text.partition(":role/")
    return resource if resource and "/" not in resource else text or "studio-execution-role"


def _shared_by_all(domain: LiveDomain, profile_shares: dict[str, list[str]]) -> set[str]:
    """User shares every profile of the domain has: listed once, by the domain."""
    if not domain.profiles:
        return set()
    counts = Counter(name for p in domain.profiles
                     for name in set(profile_shares.get(f"{domain.name}/{p.name}", [])))
    return {name for name, n in counts.items() if n == len(domain.profiles)}


def _network(live: LiveRegion, domain: LiveDomain, comments: list[str]) -> dict[str, Any]:
    described = domain.description
    groups = list(described.get("DefaultUserSettings", {}).get("SecurityGroups") or ())
    network: dict[str, Any] = {
        "vpc": live.names.get(described.get("VpcId", ""), described.get("VpcId", "")),
        "subnets": [live.names.get(s, s) for s in described.get("SubnetIds") or ()],
    }
    if groups:
        network["securityGroups"] = [_group(live, g) for g in groups]
    nfs = _nfs_group(live, domain)
    if nfs is not None:
        network["nfsSecurityGroup"] = _group(live, nfs)
    else:
        comments.append("no security group common to its file systems' mount targets: the "
                        "operator makes its own (studio-operator-<estate>-nfs)")
    return network


def _nfs_group(live: LiveRegion, domain: LiveDomain) -> str | None:
    """The one security group on every mount target, in the domain's subnets, of the
    file systems the domain uses."""
    subnets = set(domain.description.get("SubnetIds") or ())
    common: set[str] | None = None
    for fs_id in file_system_ids(domain):
        fs = live.file_systems.get(fs_id)
        if fs is None:
            continue
        for subnet, groups in fs.mount_target_groups.items():
            if subnet in subnets:
                common = set(groups) if common is None else common & set(groups)
    if not common:
        return None
    own = set(domain.description.get("DefaultUserSettings", {}).get("SecurityGroups") or ())
    return sorted(common, key=lambda g: (g not in own, g))[0]


def _group(live: LiveRegion, group_id: str) -> str:
    return live.names.get(group_id) or live.group_names.get(group_id) or group_id


def _row(domain: LiveDomain, profile: LiveProfile, spec: dict[str, Any], extra: list[str],
         comments: list[str]) -> dict[str, Any]:
    settings = profile.description.get("UserSettings") or {}
    posix = posix_of(settings)
    if posix is None:
        comments.append(f"profile {profile.name} has no CustomPosixUserConfig: uid/gid are "
                        "the domain's defaults and the plan sets them")
        posix = (spec["defaultPosix"]["uid"], spec["defaultPosix"]["gid"])
    row: dict[str, Any] = {"name": profile.name, "uid": posix[0], "gid": posix[1]}
    if extra:
        row["shares"] = extra
    if profile.description.get("SingleSignOnUserValue"):
        row["singleSignOn"] = {"userValue": profile.description["SingleSignOnUserValue"]}
    role = settings.get("ExecutionRole")
    if role and role_reference(role) != spec["executionRole"]:
        row["executionRole"] = role_reference(role)
    apps = [APP_KEYS[a] for a in spec.get("apps", APP_KEYS)]
    types = {((settings.get(k) or {}).get("DefaultResourceSpec") or {}).get("InstanceType")
             for k in apps}
    if len(types) == 1 and None not in types:
        row["defaultInstanceType"] = types.pop()
    idle = {_idle(settings.get(k)) for k in apps}
    if len(idle) == 1 and None not in idle:
        row["idleShutdownMinutes"] = idle.pop()
    tags = user_tags(profile.tags)
    if tags:
        row["tags"] = tags
    return row


def _idle(app_settings: Any) -> int | None:
    idle = ((app_settings or {}).get("AppLifecycleManagement") or {}).get("IdleSettings") or {}
    if idle.get("LifecycleManagement") != "ENABLED" or not idle.get("IdleTimeoutInMinutes"):
        return None
    return int(idle["IdleTimeoutInMinutes"])
