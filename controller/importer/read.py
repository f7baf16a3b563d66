"""Read a live region for `studioctl import`: what the desired state of it must say.

Domains (all, or those named) with their settings, their user profiles (POSIX ids,
custom file systems, IAM Identity Center user, per-profile settings, tags), the custom
file systems they use (Name tag, replication, the security groups on their mount
targets), the names of the network they sit in, the operator's lifecycle configs'
settings, and, where the file systems are mounted, the share directories on them
(controller.importer.shares). Lifecycle config scripts are read only for the two values
the operator put in them (file system id, backup folder); their text is never kept.
Reads only.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.gateway import AwsGateway
from controller.importer.shares import LiveDirectory, walk_share_candidates
from controller.lifecycle import is_operator_config_arn

_PAGE = 100
_SCRIPT_VALUE = re.compile(r"^(FILE_SYSTEM_ID|SHARE_SUBDIR)=([A-Za-z0-9._/-]*)$", re.MULTILINE)


@dataclass
class LiveProfile:
    name: str
    description: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class LiveDomain:
    name: str
    description: dict[str, Any]
    profiles: list[LiveProfile] = field(default_factory=list)
    # The operator's space-backup configs found in its settings: (file system id, the
    # backup folder relative to where that file system is attached), from their scripts.
    space_backup: tuple[str, str] | None = None


@dataclass
class LiveFileSystem:
    file_system_id: str
    name_tag: str | None  # None: no Name tag, or one that other file systems carry too
    replica_region: str | None = None  # it replicates to a file system there
    mount_target_groups: dict[str, list[str]] = field(default_factory=dict)  # subnet -> sgs
    directories: list[LiveDirectory] | None = None  # None: not mounted here


@dataclass
class LiveRegion:
    region: str
    domains: list[LiveDomain]
    file_systems: dict[str, LiveFileSystem]
    # Resource id -> its Name tag (only tags no other resource of its kind carries), and
    # security group id -> its group name.
    names: dict[str, str]
    group_names: dict[str, str]
    notes: list[str] = field(default_factory=list)


def read_region(gateway: AwsGateway, region: str, domains: list[str] | None,
                efs_root: Path | None) -> LiveRegion:
    sagemaker = gateway.client("sagemaker", region)
    found: list[LiveDomain] = []
    notes: list[str] = []
    summaries = _pages(sagemaker, "list_domains", "Domains")
    for summary in sorted(summaries, key=lambda s: s["DomainName"]):
        name = summary["DomainName"]
        if domains and name not in domains:
            continue
        if summary.get("Status") in ("Deleting", "Delete_Failed"):
            notes.append(f"domain {name} is {summary.get('Status')}: not imported")
            continue
        described = _plain(sagemaker.describe_domain(DomainId=summary["DomainId"]))
        domain = LiveDomain(name, described, space_backup=_space_backup(sagemaker, described))
        for item in _pages(sagemaker, "list_user_profiles", "UserProfiles",
                           DomainIdEquals=summary["DomainId"]):
            if item.get("Status") == "Deleting":
                continue
            profile = _plain(sagemaker.describe_user_profile(
                DomainId=summary["DomainId"], UserProfileName=item["UserProfileName"]))
            tags = {t["Key"]: t.get("Value", "") for t in _pages(
                sagemaker, "list_tags", "Tags", ResourceArn=profile["UserProfileArn"],
                page_size=50)}
            domain.profiles.append(LiveProfile(item["UserProfileName"], profile, tags))
        domain.profiles.sort(key=lambda p: p.name)
        found.append(domain)
    missing = sorted(set(domains or ()) - {d.name for d in found})
    notes += [f"domain {name} not found in {region}" for name in missing]
    file_systems = _file_systems(gateway, region, found, efs_root)
    names, group_names = _network_names(gateway, region, found, file_systems)
    return LiveRegion(region, found, file_systems, names, group_names, notes)


def file_system_ids(domain: LiveDomain) -> list[str]:
    """The custom file systems a domain and its profiles attach, in first-seen order."""
    ids: list[str] = []
    lists = [domain.description.get("DefaultUserSettings", {}),
             domain.description.get("DefaultSpaceSettings", {}),
             *(p.description.get("UserSettings", {}) for p in domain.profiles)]
    for settings in lists:
        for config in settings.get("CustomFileSystemConfigs") or ():
            fs_id = (config.get("EFSFileSystemConfig") or {}).get("FileSystemId")
            if fs_id and fs_id not in ids:
                ids.append(fs_id)
    return ids


def _file_systems(gateway: AwsGateway, region: str, domains: list[LiveDomain],
                  efs_root: Path | None) -> dict[str, LiveFileSystem]:
    efs = gateway.client("efs", region)
    every = _pages(efs, "describe_file_systems", "FileSystems", page_size=None)
    tags = Counter(f.get("Name") for f in every if f.get("Name"))
    wanted = {fs_id for d in domains for fs_id in file_system_ids(d)}
    found: dict[str, LiveFileSystem] = {}
    for described in every:
        fs_id = described["FileSystemId"]
        if fs_id not in wanted:
            continue
        tag = described.get("Name")
        live = LiveFileSystem(fs_id, tag if tag and tags[tag] == 1 else None)
        live.replica_region = _replica_region(efs, fs_id)
        for target in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
            groups = efs.describe_mount_target_security_groups(
                MountTargetId=target["MountTargetId"])["SecurityGroups"]
            live.mount_target_groups[target["SubnetId"]] = sorted(groups)
        if efs_root is not None and (efs_root / fs_id).is_dir():
            live.directories = walk_share_candidates(efs_root / fs_id)
        found[fs_id] = live
    return found


def _replica_region(efs: Any, fs_id: str) -> str | None:
    """The region a file system replicates to (None: it is no replication's source)."""
    try:
        replications = efs.describe_replication_configurations(FileSystemId=fs_id)
    except efs.exceptions.ReplicationNotFound:
        return None
    for replication in replications.get("Replications", []):
        if replication.get("SourceFileSystemId") == fs_id and replication.get("Destinations"):
            return str(replication["Destinations"][0].get("Region"))
    return None


def _network_names(gateway: AwsGateway, region: str, domains: list[LiveDomain],
                   file_systems: dict[str, LiveFileSystem]
                   ) -> tuple[dict[str, str], dict[str, str]]:
    ec2 = gateway.client("ec2", region)
    names: dict[str, str] = {}
    group_names: dict[str, str] = {}
    for operation, key, id_field in (("describe_vpcs", "Vpcs", "VpcId"),
                                     ("describe_subnets", "Subnets", "SubnetId"),
                                     ("describe_security_groups", "SecurityGroups", "GroupId")):
        items = _pages(ec2, operation, key, page_size=None)
        tagged = Counter(_name_tag(i) for i in items if _name_tag(i))
        for item in items:
            tag = _name_tag(item)
            if tag and tagged[tag] == 1:
                names[item[id_field]] = tag
            if "GroupName" in item:
                group_names[item[id_field]] = item["GroupName"]
    return names, group_names


def _space_backup(sagemaker: Any, described: dict[str, Any]) -> tuple[str, str] | None:
    settings = described.get("DefaultUserSettings", {})
    for app in ("JupyterLabAppSettings", "CodeEditorAppSettings"):
        for arn in (settings.get(app) or {}).get("LifecycleConfigArns") or ():
            if not is_operator_config_arn(arn):
                continue
            config = sagemaker.describe_studio_lifecycle_config(
                StudioLifecycleConfigName=arn.rsplit("/", 1)[1])
            script = base64.b64decode(config["StudioLifecycleConfigContent"]).decode(
                "utf-8", "replace")
            values = dict(_SCRIPT_VALUE.findall(script))
            if "FILE_SYSTEM_ID" in values:
                return values["FILE_SYSTEM_ID"], values.get("SHARE_SUBDIR", "")
    return None


def _name_tag(item: dict[str, Any]) -> str | None:
    return next((t["Value"] for t in item.get("Tags") or () if t.get("Key") == "Name"), None)


def _pages(client: Any, operation: str, key: str, page_size: int | None = _PAGE,
           **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    config = {"PaginationConfig": {"PageSize": page_size}} if page_size else {}
    for page in client.get_paginator(operation).paginate(**params, **config):
        found.extend(page[key])
    return found


def _plain(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}
