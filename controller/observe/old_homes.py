"""Is a recreated profile's old home still there? Read from the mounted file systems.

Only profiles that AWS holds in another incarnation than the user table's record are
looked at (controller.plan.recreation decides what to do), so an ordinary pass reads
nothing here. The old home is `/<HomeEfsFileSystemUid>` on the old domain's own EFS,
mounted at <efs root>/<file system id>; it is looked at with lstat, never followed. A
file system not mounted here is asked of EFS: still there (unmounted: wait) or gone;
a controller with worker tasks restores from it on one (reached_by_workers: "remote").
Reads only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from controller.gateway import AwsGateway
from controller.observed import ObservedDomain, ObservedProfile, ProfileRecord
from controller.plan.recreation import incarnation


def recreated_homes(gateway: AwsGateway, region: str, efs_root: Path | None,
                    records: Mapping[str, ProfileRecord],
                    profiles: Mapping[str, ObservedProfile],
                    domains: Mapping[str, ObservedDomain]) -> dict[str, str]:
    found: dict[str, str] = {}
    for qualified, record in sorted(records.items()):
        seen, domain = profiles.get(qualified), domains.get(record.domain)
        if seen is None or domain is None or seen.status != "InService":
            continue
        created, home_uid = incarnation(domain.description, seen.description)
        if (seen.domain_id, created, home_uid) == (record.domain_id, record.created,
                                                   record.home_uid):
            continue
        found[qualified] = _old_home(gateway, region, efs_root, record)
    return found


def reached_by_workers(homes: Mapping[str, str]) -> dict[str, str]:
    """The old homes a worker task can reach: on a file system that exists but is not
    mounted here ("unmounted" becomes "remote"; whether the folder is there, the worker
    finds out)."""
    return {q: "remote" if state == "unmounted" else state for q, state in homes.items()}


def _old_home(gateway: AwsGateway, region: str, efs_root: Path | None,
              record: ProfileRecord) -> str:
    if not record.home_efs_id or not record.home_uid.isdigit():
        return "missing"
    mount = efs_root / record.home_efs_id if efs_root is not None else None
    if mount is None or not mount.is_dir():
        efs = gateway.client("efs", region)
        try:
            efs.describe_file_systems(FileSystemId=record.home_efs_id)
        except efs.exceptions.FileSystemNotFound:
            return "missing"
        return "unmounted"
    try:
        info = os.lstat(mount / record.home_uid)
    except FileNotFoundError:
        return "missing"
    return "present" if stat.S_ISDIR(info.st_mode) else "missing"
