"""SageMaker user profiles and spaces as AWS behaves (moto has neither).

Both live inside a domain, get a home directory uid on the domain's home EFS (and a real
folder there), pass through Pending/Updating/Deleting, merge settings top-level on update
and bump LastModifiedTime on every change: the operator lists profiles and describes only
those whose LastModifiedTime moved, so that must never stand still. This module must not
change domains, apps or lifecycle configs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from controller.emulator.efs_store import EfsFolders
from controller.emulator.lifecycle import epoch
from controller.emulator.protocol import AwsError
from controller.emulator.sagemaker_rules import check_settings, check_sso_profile, is_vpc_only
from controller.emulator.sagemaker_store import (
    Domain,
    Space,
    StudioCall,
    UserProfile,
    merge_settings,
    merge_tags,
    page,
    sort_resources,
    validate_settings,
)


def _sort_keys(now: float) -> dict[str, Callable[[Any], Any]]:
    return {
        "CreationTime": lambda r: (r.lifecycle.created_at, r.name),
        "LastModifiedTime": lambda r: (r.lifecycle.last_modified(now), r.name),
    }


def _usable_domain(call: StudioCall) -> Domain:
    domain = call.domain(str(call.body.get("DomainId", "")))
    status = domain.lifecycle.current(call.now)
    if status not in ("InService", "Updating"):
        raise AwsError(
            "ResourceInUse", f"Domain {domain.domain_id} is {status}; wait until it is InService"
        )
    return domain


def _home_directory(domain: Domain, folders: EfsFolders, gid: int = 1001) -> int:
    """Allocate the next home uid and make its directory, as Studio does on first use."""
    uid = domain.next_home_uid
    domain.next_home_uid += 1
    home = folders.ensure(domain.home_efs_id) / str(uid)
    home.mkdir(mode=0o755, exist_ok=True)
    if os.geteuid() == 0:  # only root can give the directory to the user, as EFS does
        os.chown(home, uid, gid)
    return uid


def _times(resource: UserProfile | Space, now: float) -> dict[str, Any]:
    return {
        "Status": resource.lifecycle.current(now),
        "CreationTime": epoch(resource.lifecycle.created_at),
        "LastModifiedTime": epoch(resource.lifecycle.last_modified(now)),
    }


def _profile(call: StudioCall) -> UserProfile:
    call.require("DomainId", "UserProfileName")
    key = (str(call.body["DomainId"]), str(call.body["UserProfileName"]))
    profile = call.part.profiles.get(key)
    if profile is None:
        raise AwsError("ResourceNotFound", f"User profile {key[1]} not found in domain {key[0]}")
    return profile


def create_user_profile(call: StudioCall, folders: EfsFolders) -> dict[str, Any]:
    call.require("DomainId", "UserProfileName")
    name = call.name("UserProfileName")
    domain = _usable_domain(call)
    if (domain.domain_id, name) in call.part.profiles:
        raise AwsError(
            "ResourceInUse", f"User profile {name} already exists in domain {domain.domain_id}"
        )
    settings = call.body.get("UserSettings") or {}
    validate_settings(call, settings, "userSettings")
    check_settings(settings, "userSettings", is_vpc_only(domain))
    check_sso_profile(domain, call.body)
    extra: dict[str, Any] = {
        k: call.body[k]
        for k in ("SingleSignOnUserIdentifier", "SingleSignOnUserValue")
        if k in call.body
    }
    arn = call.part.arn("user-profile", domain.domain_id, name)
    call.part.profiles[(domain.domain_id, name)] = UserProfile(
        arn=arn,
        lifecycle=call.lifecycle(),
        tags=merge_tags([], call.body.get("Tags") or []),
        domain_id=domain.domain_id,
        name=name,
        settings=dict(settings),
        home_uid=_home_directory(domain, folders),
        extra=extra,
    )
    return {"UserProfileArn": arn}


def describe_user_profile(call: StudioCall) -> dict[str, Any]:
    profile = _profile(call)
    return {
        "DomainId": profile.domain_id,
        "UserProfileArn": profile.arn,
        "UserProfileName": profile.name,
        "HomeEfsFileSystemUid": str(profile.home_uid),
        **_times(profile, call.now),
        **profile.extra,
        **({"UserSettings": profile.settings} if profile.settings else {}),
    }


def list_user_profiles(call: StudioCall) -> dict[str, Any]:
    body = call.body
    profiles = [
        p
        for p in call.part.profiles.values()
        if p.domain_id == body.get("DomainIdEquals", p.domain_id)
        and str(body.get("UserProfileNameContains", "")) in p.name
    ]
    chunk, token = page(sort_resources(profiles, body, _sort_keys(call.now), "CreationTime"), body)
    summaries = [
        {"DomainId": p.domain_id, "UserProfileName": p.name, **_times(p, call.now)} for p in chunk
    ]
    return {"UserProfiles": summaries, **({"NextToken": token} if token else {})}


def update_user_profile(call: StudioCall) -> dict[str, Any]:
    profile = _profile(call)
    status = profile.lifecycle.current(call.now)
    if status != "InService":
        raise AwsError(
            "ResourceInUse",
            f"User profile {profile.name} is {status}; it can only be updated when InService",
        )
    given = call.body.get("UserSettings")
    validate_settings(call, given, "userSettings")
    check_settings(given, "userSettings", is_vpc_only(call.part.domains.get(profile.domain_id)))
    profile.settings = merge_settings(profile.settings, given)
    profile.lifecycle.move("Updating", call.config)
    return {"UserProfileArn": profile.arn}


def delete_user_profile(call: StudioCall) -> dict[str, Any]:
    profile = _profile(call)
    status = profile.lifecycle.current(call.now)
    if status in ("Pending", "Updating", "Deleting"):
        raise AwsError("ResourceInUse", f"User profile {profile.name} is {status}")
    blocking = [
        f"app {a.name}"
        for a in call.part.apps.values()
        if (a.domain_id, a.owner_kind, a.owner) == (profile.domain_id, "user", profile.name)
        and a.status(call.now) != "Deleted"
    ] + [
        f"space {s.name}"
        for s in call.part.spaces.values()
        if s.domain_id == profile.domain_id
        and s.extra.get("OwnershipSettings", {}).get("OwnerUserProfileName") == profile.name
    ]
    if blocking:
        raise AwsError(
            "ResourceInUse", f"User profile {profile.name} still has {', '.join(sorted(blocking))}"
        )
    profile.lifecycle.move("Deleting", call.config)
    return {}


def _space(call: StudioCall) -> Space:
    call.require("DomainId", "SpaceName")
    key = (str(call.body["DomainId"]), str(call.body["SpaceName"]))
    space = call.part.spaces.get(key)
    if space is None:
        raise AwsError("ResourceNotFound", f"Space {key[1]} not found in domain {key[0]}")
    return space


def create_space(call: StudioCall, folders: EfsFolders) -> dict[str, Any]:
    call.require("DomainId", "SpaceName")
    name = call.name("SpaceName")
    domain = _usable_domain(call)
    if (domain.domain_id, name) in call.part.spaces:
        raise AwsError("ResourceInUse", f"Space {name} already exists in domain {domain.domain_id}")
    owner = (call.body.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
    if owner is not None and (domain.domain_id, owner) not in call.part.profiles:
        raise AwsError(
            "ResourceNotFound", f"Owner user profile {owner} not found in domain {domain.domain_id}"
        )
    extra: dict[str, Any] = {
        k: call.body[k]
        for k in ("OwnershipSettings", "SpaceSharingSettings", "SpaceDisplayName")
        if k in call.body
    }
    arn = call.part.arn("space", domain.domain_id, name)
    call.part.spaces[(domain.domain_id, name)] = Space(
        arn=arn,
        lifecycle=call.lifecycle(),
        tags=merge_tags([], call.body.get("Tags") or []),
        domain_id=domain.domain_id,
        name=name,
        settings=dict(call.body.get("SpaceSettings") or {}),
        home_uid=_home_directory(domain, folders),
        extra=extra,
    )
    return {"SpaceArn": arn}


def describe_space(call: StudioCall) -> dict[str, Any]:
    space = _space(call)
    return {
        "DomainId": space.domain_id,
        "SpaceArn": space.arn,
        "SpaceName": space.name,
        "HomeEfsFileSystemUid": str(space.home_uid),
        "SpaceSettings": space.settings,
        "Url": f"https://{space.domain_id}.studio.{call.part.region}.sagemaker.aws/spaces/{space.name}",
        **_times(space, call.now),
        **space.extra,
    }


def list_spaces(call: StudioCall) -> dict[str, Any]:
    body = call.body
    spaces = [
        s
        for s in call.part.spaces.values()
        if s.domain_id == body.get("DomainIdEquals", s.domain_id)
        and str(body.get("SpaceNameContains", "")) in s.name
    ]
    chunk, token = page(sort_resources(spaces, body, _sort_keys(call.now), "CreationTime"), body)
    summaries = []
    for s in chunk:
        summary: dict[str, Any] = {
            "DomainId": s.domain_id,
            "SpaceName": s.name,
            **_times(s, call.now),
        }
        summary["SpaceSettingsSummary"] = {
            k: s.settings[k]
            for k in ("AppType", "SpaceStorageSettings", "RemoteAccess")
            if k in s.settings
        }
        if "OwnershipSettings" in s.extra:
            summary["OwnershipSettingsSummary"] = s.extra["OwnershipSettings"]
        if "SpaceSharingSettings" in s.extra:
            summary["SpaceSharingSettingsSummary"] = s.extra["SpaceSharingSettings"]
        summaries.append(summary)
    return {"Spaces": summaries, **({"NextToken": token} if token else {})}


def update_space(call: StudioCall) -> dict[str, Any]:
    space = _space(call)
    status = space.lifecycle.current(call.now)
    if status != "InService":
        raise AwsError(
            "ResourceInUse",
            f"Space {space.name} is {status}; it can only be updated when InService",
        )
    space.settings = merge_settings(space.settings, call.body.get("SpaceSettings"))
    if "SpaceDisplayName" in call.body:
        space.extra["SpaceDisplayName"] = call.body["SpaceDisplayName"]
    space.lifecycle.move("Updating", call.config)
    return {"SpaceArn": space.arn}


def delete_space(call: StudioCall) -> dict[str, Any]:
    space = _space(call)
    status = space.lifecycle.current(call.now)
    if status in ("Pending", "Updating", "Deleting"):
        raise AwsError("ResourceInUse", f"Space {space.name} is {status}")
    running = [
        a.name
        for a in call.part.apps.values()
        if (a.domain_id, a.owner_kind, a.owner) == (space.domain_id, "space", space.name)
        and a.status(call.now) != "Deleted"
    ]
    if running:
        raise AwsError("ResourceInUse", f"Space {space.name} still has apps {sorted(running)}")
    space.lifecycle.move("Deleting", call.config)
    return {}
