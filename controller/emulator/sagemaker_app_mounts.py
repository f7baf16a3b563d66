"""What a Studio app mounts when it starts, and why it fails when it cannot.

A user's app mounts the custom file systems of the profile's CustomFileSystemConfigs
(the domain's DefaultUserSettings ones when the profile has none); a space's app mounts
the space's CustomFileSystems. Its network interface sits in the domain's subnets with
the effective security groups (the profile's UserSettings.SecurityGroups, else the
domain's DefaultUserSettings ones; for a space, DefaultSpaceSettings first) plus the
`security-group-for-outbound-nfs-<domain>` group SageMaker adds. As on AWS, the domain
and the profile can refer to a file system no app could mount; the app itself then ends
in Failed, with a FailureReason naming the file system and the first thing missing (no
mount target in a subnet, one not available, NFS not allowed by the security groups, the
file system missing, or the mount denied by its policy). AWS does not publish its exact
wording for these failures; the emulator's says what is wrong and what Studio needs.
Checked (and mounted) when CreateApp is served; the mount counts from the moment the app
is InService and ends when its deletion completes. This module must not change apps'
settings or decide policy (efs_access does).
"""

from __future__ import annotations

from typing import Any

from controller.emulator.efs_access import Client
from controller.emulator.efs_mounts import Mount, MountTable
from controller.emulator.sagemaker_store import App, Domain, StudioCall

FAILURE_HINT = ("Studio mounts a custom file system through a mount target in each subnet "
                "of the domain, whose security groups allow inbound NFS (TCP 2049) from "
                "the app's security groups.")


def start_app(call: StudioCall, mounts: MountTable, app: App) -> None:
    """Mount the app's custom file systems, or mark it to fail with AWS's kind of reason."""
    domain = call.domain(app.domain_id)
    file_systems, groups = _what_it_mounts(call, domain, app)
    subnets = [str(s) for s in domain.spec.get("SubnetIds") or []]
    region, account = call.part.region, call.part.account
    for file_system_id in file_systems:
        reason = mounts.refusal(region, file_system_id, Client(), account, subnets, groups)
        if reason is not None:
            app.failure_reason = (f"Unable to mount custom file system {file_system_id}: "
                                  f"{reason} {FAILURE_HINT}")
            return
    in_service = app.lifecycle.settles_at
    for file_system_id in file_systems:
        mounts.record(Mount(app.arn, account, region, file_system_id, None, False, in_service))


def stop_app(mounts: MountTable, app: App) -> None:
    """The app's mounts end when its deletion completes."""
    mounts.unmount(app.arn, at=app.lifecycle.settles_at)


def _what_it_mounts(call: StudioCall, domain: Domain, app: App) -> tuple[list[str], list[str]]:
    user_defaults = domain.spec.get("DefaultUserSettings") or {}
    if app.owner_kind == "user":
        profile = call.part.profiles.get((app.domain_id, app.owner))
        settings: dict[str, Any] = profile.settings if profile is not None else {}
        configs = (settings["CustomFileSystemConfigs"] if "CustomFileSystemConfigs" in settings
                   else user_defaults.get("CustomFileSystemConfigs"))
        file_systems = [c.get("EFSFileSystemConfig", {}).get("FileSystemId")
                        for c in configs or []]
        groups = settings.get("SecurityGroups") or user_defaults.get("SecurityGroups")
    else:
        space = call.part.spaces.get((app.domain_id, app.owner))
        settings = space.settings if space is not None else {}
        file_systems = [c.get("EFSFileSystem", {}).get("FileSystemId")
                        for c in settings.get("CustomFileSystems") or []]
        space_defaults = domain.spec.get("DefaultSpaceSettings") or {}
        groups = space_defaults.get("SecurityGroups") or user_defaults.get("SecurityGroups")
    found = list(dict.fromkeys(str(f) for f in file_systems if f))
    return found, [*(str(g) for g in groups or []), *domain.nfs_groups[1:]]
