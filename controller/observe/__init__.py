"""observe(region) -> ObservedState: one snapshot of what a region holds, per pass.

Readers per AWS service and for the mounted file systems; the only I/O on the way to
a plan. Reads only.
"""

from __future__ import annotations

import os
from pathlib import Path

from controller.gateway import AwsGateway
from controller.model import DesiredState, Mode
from controller.observe.cache import DescribeCache
from controller.observe.filesystems import observe_directory
from controller.observe.references import resolve_references
from controller.observe.sagemaker import (
    observe_domains,
    observe_lifecycle_configs,
    observe_profiles,
)
from controller.observed import ObservedDirectory, ObservedState


def observe(gateway: AwsGateway, desired: DesiredState, region: str,
            efs_root: Path | None, cache: DescribeCache | None = None) -> ObservedState:
    """One snapshot; with a cache, unchanged domains and profiles are not described.

    A standby region of an active-passive estate holds no domains until a failover, so
    only its file systems are looked at (for the replica's lag), not SageMaker, the
    share directories or the other region.
    """
    acting = (region == desired.estate.active_region
              or desired.estate.mode is Mode.ACTIVE_ACTIVE)
    references = resolve_references(gateway, desired, region, acting)
    if not acting:
        return ObservedState(region=region, references=references, directories_observed=False)
    domains = observe_domains(gateway, desired, region, cache)
    profiles = observe_profiles(gateway, desired, region, domains, cache)
    directories: dict[tuple[str, str], ObservedDirectory] = {}
    if efs_root is not None:
        for wanted in desired.share_directories():
            fs = references.file_systems.get(wanted.file_system)
            if fs is None:
                continue
            directories[(wanted.file_system, wanted.path)] = observe_directory(
                efs_root / fs.file_system_id, wanted.path)
    return ObservedState(
        region=region,
        references=references,
        domains=domains,
        profiles=profiles,
        lifecycle_configs=observe_lifecycle_configs(gateway, desired, region),
        directories=directories,
        directories_observed=efs_root is not None,
        can_set_owners=os.geteuid() == 0,
    )
