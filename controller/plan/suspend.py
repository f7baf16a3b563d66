"""Suspend: observe and report, change nothing. Pure.

`suspend: true` on the Estate holds back every action; on one resource, the actions on
it: a FileSystem's (its replication, mount targets, fencing and share directories), a
Share's directories, a Domain's (and those of every profile in it, its directories and
deletions included), a UserProfile's (its directories, its home restore). The plan keeps
them apart in `suspended`: shown and counted, never executed, and the resource's status
says it is suspended with changes pending.
"""

from __future__ import annotations

from dataclasses import replace

from controller.model import DesiredState
from controller.plan.types import Action, Kind, Plan


def apply_suspend(desired: DesiredState, plan: Plan) -> Plan:
    if desired.estate.suspend:
        return replace(plan, actions=(), suspended=(*plan.suspended, *plan.actions))
    if not any(spec.suspend for specs in (desired.file_systems, desired.shares,
                                          desired.domains, desired.profiles)
               for spec in specs.values()):
        return plan
    owners = _directory_owners(desired)
    kept: list[Action] = []
    held: list[Action] = []
    for action in plan.actions:
        (held if suspended_by(desired, action, owners) else kept).append(action)
    if not held:
        return plan
    return replace(plan, actions=tuple(kept), suspended=(*plan.suspended, *held))


def suspended_by(desired: DesiredState, action: Action,
                 owners: dict[str, tuple[str, str, str | None]] | None = None) -> str | None:
    """The suspended resource that holds `action` back ("Domain/research"), or None."""
    kind, name = action.key.kind, action.key.name
    if kind in (Kind.USER_PROFILE, Kind.HOME_RESTORE):
        return _profile(desired, name)
    if kind == Kind.DOMAIN:
        return f"Domain/{name}" if _domain_suspended(desired, name) else None
    if kind in (Kind.SPACE, Kind.APP):
        domain = name.split("/", 1)[0]
        return f"Domain/{domain}" if _domain_suspended(desired, domain) else None
    if kind in (Kind.FILE_SYSTEM, Kind.REPLICATION, Kind.FENCE, Kind.MOUNT_TARGET):
        file_system = name.split("/", 1)[0]
        spec = desired.file_systems.get(file_system)
        return f"FileSystem/{file_system}" if spec is not None and spec.suspend else None
    if kind == Kind.DIRECTORY:
        file_system, share, profile = (owners or _directory_owners(desired)).get(
            name, (name.split(":", 1)[0], "", None))
        fs_spec = desired.file_systems.get(file_system)
        if fs_spec is not None and fs_spec.suspend:
            return f"FileSystem/{file_system}"
        share_spec = desired.shares.get(share)
        if share_spec is not None and share_spec.suspend:
            return f"Share/{share}"
        return _profile(desired, profile) if profile else None
    return None


def _profile(desired: DesiredState, qualified: str) -> str | None:
    domain = qualified.split("/", 1)[0]
    if _domain_suspended(desired, domain):
        return f"Domain/{domain}"
    profile = desired.profiles.get(qualified)
    return f"UserProfile/{qualified}" if profile is not None and profile.suspend else None


def _domain_suspended(desired: DesiredState, name: str) -> bool:
    domain = desired.domains.get(name)
    return domain is not None and domain.suspend


def _directory_owners(desired: DesiredState) -> dict[str, tuple[str, str, str | None]]:
    """Directory key name -> (file system, share, profile whose ids own it)."""
    return {d.key_name: (d.file_system, d.share, d.profile)
            for d in desired.share_directories()}
