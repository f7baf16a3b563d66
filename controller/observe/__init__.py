"""observe(region) -> ObservedState: one snapshot of what a region holds, per pass.

Readers per AWS service and for the mounted file systems; the only I/O on the way to
a plan. Reads only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from controller.fencing import (
    LOST_AND_FOUND_PREFIX,
    RECOVERY_MANIFEST,
    RECOVERY_ROOT,
    recovery_folder,
)
from controller.gateway import AwsGateway
from controller.model import DesiredState, Mode
from controller.notebooks.migration import NotebookMigration
from controller.observe.cache import DescribeCache
from controller.observe.connections import client_connections
from controller.observe.efs import read_remote, replica_ids
from controller.observe.filesystems import observe_share_directory, previous_ids
from controller.observe.nfs_access import observe_nfs_access
from controller.observe.notebooks import observe_notebooks
from controller.observe.old_homes import recreated_homes
from controller.observe.references import resolve_references
from controller.observe.removals import observe_removals
from controller.observe.sagemaker import (
    apps_of,
    observe_domains,
    observe_lifecycle_configs,
    observe_profiles,
    observe_running_apps,
)
from controller.observe.takeover import read_takeover
from controller.observed import (
    ObservedApp,
    ObservedDirectory,
    ObservedDomain,
    ObservedState,
    ProfileRecord,
    ResolvedReferences,
)
from controller.plan.studio_updates import network_change_pending
from controller.plan.working_copy import serving_file_system
from controller.status.store import DEFAULT_TABLE


def observe(gateway: AwsGateway, desired: DesiredState, region: str,
            efs_root: Path | None, cache: DescribeCache | None = None,
            now: float | None = None, status_table: str = DEFAULT_TABLE,
            managed_keys: frozenset[str] | None = None,
            profile_records: Mapping[str, ProfileRecord] | None = None,
            notebook_migrations: Mapping[str, NotebookMigration] | None = None,
            ) -> ObservedState:
    """One snapshot; with a cache, unchanged domains and profiles are not described.
    The region's notebook instances are read whatever its role (they do not fail over),
    each as its migration record (if any) names it."""
    state = _observe_studio(gateway, desired, region, efs_root, cache, now, status_table,
                            managed_keys, profile_records)
    return replace(state, notebooks=observe_notebooks(gateway, desired, region,
                                                      notebook_migrations))


def _observe_studio(gateway: AwsGateway, desired: DesiredState, region: str,
                    efs_root: Path | None, cache: DescribeCache | None,
                    now: float | None, status_table: str,
                    managed_keys: frozenset[str] | None,
                    profile_records: Mapping[str, ProfileRecord] | None) -> ObservedState:
    """The Studio estate and its file systems.

    A standby region of an active-passive estate holds no domains until a failover, so
    only its file systems are looked at (for the replica's lag), not SageMaker, the
    share directories or the other region. `status_table` names the status tables (the
    same in both regions): a standby with an old copy reads the active one's failover
    record from it. `managed_keys` are the resources the status store remembers the
    operator managing (controller.observe.removals decides what may be pruned from them);
    `profile_records` is the user table (controller.observe.old_homes looks for the old
    homes of the profiles recreated since).
    """
    acting = (region == desired.estate.active_region
              or desired.estate.mode is Mode.ACTIVE_ACTIVE)
    references = resolve_references(gateway, desired, region, acting)
    when = time.time() if now is None else now
    if not acting:
        return _observe_standby(gateway, desired, region, efs_root, references,
                                status_table, when)
    others: dict[str, dict[str, Any]] = {}
    domains = observe_domains(gateway, desired, region, cache, others)
    unmanaged: list[str] = []
    profiles = observe_profiles(gateway, desired, region, domains, cache, unmanaged,
                                profile_records)
    removals = observe_removals(gateway, desired, region, domains, others, unmanaged,
                                managed_keys, cache)
    directories: dict[tuple[str, str], ObservedDirectory] = {}
    if efs_root is not None:
        for wanted in desired.share_directories():
            fs_id = serving_file_system(desired, region, references, wanted.file_system)
            if fs_id is None:
                continue
            directories[(wanted.file_system, wanted.path)] = observe_share_directory(
                efs_root / fs_id, wanted, previous_ids(profiles.get(wanted.profile or "")),
                os.geteuid() == 0)
    return ObservedState(
        region=region,
        references=references,
        domains=domains,
        profiles=profiles,
        lifecycle_configs=observe_lifecycle_configs(gateway, desired, region),
        directories=directories,
        directories_observed=efs_root is not None,
        can_set_owners=os.geteuid() == 0,
        lost_and_found=_lost_and_found(references, efs_root),
        observed_at=when,
        running_apps_by_domain=_apps_under_network_change(gateway, desired, region,
                                                          references, domains),
        unmanaged_profiles=tuple(sorted(unmanaged)),
        nfs=observe_nfs_access(gateway, desired, region, references),
        removals=removals,
        managed_keys=managed_keys,
        profile_records=profile_records or {},
        recreated_homes=recreated_homes(gateway, region, efs_root, profile_records or {},
                                        profiles, domains),
    )


def _apps_under_network_change(gateway: AwsGateway, desired: DesiredState, region: str,
                               references: ResolvedReferences,
                               domains: dict[str, ObservedDomain]
                               ) -> dict[str, tuple[ObservedApp, ...]]:
    """Running apps of the domains whose network must change (AWS refuses that change
    while apps run); no call at all when no domain's network changes."""
    pending = {name: seen.domain_id for name, seen in sorted(domains.items())
               if network_change_pending(desired.domains[name], region, references,
                                         seen.description)}
    if not pending:
        return {}
    apps = apps_of(gateway, region, pending)
    return {name: tuple(a for a in apps if a.domain == name) for name in pending}


def _observe_standby(gateway: AwsGateway, desired: DesiredState, region: str,
                     efs_root: Path | None, references: ResolvedReferences,
                     status_table: str, now: float) -> ObservedState:
    """A standby region whose copies are all replicas (or absent) has nothing to fence:
    its file systems are all that is read. A copy that is not a replica is the old
    active region's, to be fenced and saved from before replication may overwrite it;
    only then are the apps, the other region (its copies and its failover record) and
    the recovery folders looked at."""
    old_copies = [name for name, fs in sorted(references.file_systems.items())
                  if fs is not None and not fs.is_replica()
                  and desired.file_systems[name].replicate]
    if not old_copies:
        return ObservedState(region=region, references=references, directories_observed=False)
    remote = read_remote(gateway, desired, region, replica_ids(references.file_systems, region))
    recoveries: dict[str, str] = {}
    for name in old_copies:
        mine, theirs = references.file_systems[name], remote.copies.get(name)
        if mine is None or mine.fenced_at is None or theirs is None:
            continue
        recoveries[name] = recovery_state(
            efs_root, theirs.file_system_id,
            recovery_folder(mine.fenced_at, region, mine.file_system_id))
    # Only a fenced copy's connections matter (plan.failback waits for them to end).
    fenced = {name: fs.file_system_id for name in old_copies
              if (fs := references.file_systems[name]) is not None and fs.fenced_at}
    connected = client_connections(gateway, region, fenced.values(), now)
    return ObservedState(
        region=region,
        references=replace(references, remote_file_systems=remote.copies,
                           ambiguous=(*references.ambiguous, *remote.ambiguous),
                           remote_read=remote.outcome),
        directories_observed=False,
        running_apps=observe_running_apps(gateway, desired, region),
        recoveries=recoveries,
        takeover=read_takeover(gateway, desired.estate.active_region, status_table),
        observed_at=now,
        client_connections={name: connected[fs_id] for name, fs_id in fenced.items()},
    )


def recovery_state(efs_root: Path | None, active_copy: str, folder: str) -> str:
    """"saved" once the recovery folder's list has been written (it is written last)."""
    if efs_root is None or not (efs_root / active_copy).is_dir():
        return "unmounted"
    manifest = efs_root / active_copy / RECOVERY_ROOT / folder / RECOVERY_MANIFEST
    return "saved" if os.path.lexists(manifest) else "pending"


def _lost_and_found(references: ResolvedReferences,
                    efs_root: Path | None) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    if efs_root is None:
        return found
    for name, fs in sorted(references.file_systems.items()):
        if fs is None or fs.is_replica():
            continue
        try:
            entries = os.listdir(efs_root / fs.file_system_id)
        except OSError:
            continue
        folders = tuple(sorted(e for e in entries if e.startswith(LOST_AND_FOUND_PREFIX)))
        if folders:
            found[name] = folders
    return found
