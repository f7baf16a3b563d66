"""The resources a region should hold, as keys: what status is kept for. Pure."""

from __future__ import annotations

from controller.model import DesiredState, Mode
from controller.plan.nfs_access import file_systems_of
from controller.plan.types import Kind, ResourceKey


def region_role(desired: DesiredState, region: str) -> str:
    return "active" if region == desired.estate.active_region else "standby"


def resource_keys(desired: DesiredState, region: str) -> list[ResourceKey]:
    """Every resource the operator manages in `region` under this revision, sorted."""
    notebooks = [ResourceKey(Kind.NOTEBOOK_INSTANCE, region, spec.name)
                 for spec in desired.notebooks_in(region)]
    if region_role(desired, region) == "standby" and desired.estate.mode is Mode.ACTIVE_PASSIVE:
        return notebooks
    keys = [*notebooks, *(ResourceKey(Kind.DOMAIN, region, name) for name in desired.domains)]
    keys += [ResourceKey(Kind.USER_PROFILE, region, name) for name in desired.profiles]
    keys += [ResourceKey(Kind.DIRECTORY, region, d.key_name) for d in desired.share_directories()]
    keys += [ResourceKey(Kind.FILE_SYSTEM, region, name) for name, spec in
             desired.file_systems.items() if spec.placement_in(region) is not None]
    keys += sorted({ResourceKey(Kind.MOUNT_TARGET, region, f"{fs}/{subnet}")
                    for name, domain in desired.domains.items() if region in domain.networks
                    for fs in file_systems_of(desired, name)
                    if desired.file_systems[fs].placement_in(region) is not None
                    for subnet in domain.networks[region].subnets})
    return sorted(keys)
