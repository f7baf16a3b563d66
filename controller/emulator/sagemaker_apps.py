"""Studio apps, Studio lifecycle configs, and tags on every Studio resource (moto has none).

Apps belong to a user profile or a space and end as Deleted (still listed), as in AWS.
Lifecycle configs are immutable, unique by name per region, carry base64 content and
cannot be deleted while a domain, profile, space or app still refers to them. Tags work
on any Studio ARN whether or not it was created with tags. This module must not create
or change domains, profiles or spaces.
"""

from __future__ import annotations

import json
import re
from typing import Any

from controller.emulator.efs_mounts import MountTable
from controller.emulator.lifecycle import epoch
from controller.emulator.protocol import AwsError
from controller.emulator.sagemaker_app_mounts import start_app, stop_app
from controller.emulator.sagemaker_store import (
    App,
    StudioCall,
    StudioLifecycleConfig,
    decode_content,
    merge_tags,
    page,
    require_lifecycle_configs,
    sort_resources,
)

STUDIO_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:(domain|user-profile|space|app|"
    r"studio-lifecycle-config|notebook-instance|notebook-instance-lifecycle-config)/.+"
)
APP_TYPES = {
    "JupyterServer",
    "KernelGateway",
    "DetailedProfiler",
    "TensorBoard",
    "CodeEditor",
    "JupyterLab",
    "RStudioServerPro",
    "RSessionGateway",
    "Canvas",
}
LIFECYCLE_APP_TYPES = {"JupyterServer", "KernelGateway", "CodeEditor", "JupyterLab"}


def _app_key(call: StudioCall) -> tuple[str, str, str, str, str]:
    call.require("DomainId", "AppType", "AppName")
    body = call.body
    user, space = body.get("UserProfileName"), body.get("SpaceName")
    if (user is None) == (space is None):
        raise AwsError(
            "ValidationException", "Exactly one of UserProfileName or SpaceName must be given"
        )
    kind, owner = ("user", str(user)) if user is not None else ("space", str(space))
    return (str(body["DomainId"]), kind, owner, str(body["AppType"]), str(body["AppName"]))


def _describe(app: App, now: float) -> dict[str, Any]:
    owner_field = "UserProfileName" if app.owner_kind == "user" else "SpaceName"
    return {
        "AppArn": app.arn,
        "AppType": app.app_type,
        "AppName": app.name,
        "DomainId": app.domain_id,
        owner_field: app.owner,
        "Status": app.status(now),
        "CreationTime": epoch(app.lifecycle.created_at),
        "ResourceSpec": app.resource_spec,
        **({"FailureReason": app.failure_reason}
           if app.status(now) == "Failed" and app.failure_reason else {}),
    }


def create_app(call: StudioCall, mounts: MountTable) -> dict[str, Any]:
    key = _app_key(call)
    domain_id, kind, owner, app_type, name = key
    call.name("AppName")
    if app_type not in APP_TYPES:
        raise AwsError("ValidationException", f"AppType must be one of {sorted(APP_TYPES)}")
    call.domain(domain_id)
    owners = call.part.profiles if kind == "user" else call.part.spaces
    parent = owners.get((domain_id, owner))
    if parent is None:
        raise AwsError(
            "ResourceNotFound", f"{'User profile' if kind == 'user' else 'Space'} {owner} not found"
        )
    if parent.lifecycle.current(call.now) != "InService":
        raise AwsError("ResourceInUse", f"{owner} is {parent.lifecycle.current(call.now)}")
    existing = call.part.apps.get(key)
    if existing is not None and existing.status(call.now) not in ("Deleted", "Failed"):
        raise AwsError("ResourceInUse", f"App {name} of type {app_type} already exists for {owner}")
    spec = dict(call.body.get("ResourceSpec") or {})
    if spec.get("LifecycleConfigArn"):
        require_lifecycle_configs(call, [spec["LifecycleConfigArn"]], "resourceSpec")
    arn = call.part.arn("app", domain_id, owner, app_type.lower(), name)
    app = App(
        arn=arn,
        lifecycle=call.lifecycle(),
        tags=merge_tags([], call.body.get("Tags") or []),
        domain_id=domain_id,
        owner_kind=kind,
        owner=owner,
        app_type=app_type,
        name=name,
        resource_spec=spec,
    )
    call.part.apps[key] = app
    start_app(call, mounts, app)  # created either way; it may end Failed, as on AWS
    return {"AppArn": arn}


def describe_app(call: StudioCall) -> dict[str, Any]:
    app = call.part.apps.get(_app_key(call))
    if app is None:
        raise AwsError("ResourceNotFound", f"App {call.body['AppName']} not found")
    return _describe(app, call.now)


def _app_matches(app: App, body: dict[str, Any]) -> bool:
    if "DomainIdEquals" in body and app.domain_id != body["DomainIdEquals"]:
        return False
    if "UserProfileNameEquals" in body and (app.owner_kind, app.owner) != (
        "user",
        body["UserProfileNameEquals"],
    ):
        return False
    return not (
        "SpaceNameEquals" in body
        and (app.owner_kind, app.owner) != ("space", body["SpaceNameEquals"])
    )


def list_apps(call: StudioCall) -> dict[str, Any]:
    body = call.body
    apps = [a for a in call.part.apps.values() if _app_matches(a, body)]
    keys = {"CreationTime": lambda a: (a.lifecycle.created_at, a.name)}
    chunk, token = page(sort_resources(apps, body, keys, "CreationTime"), body)
    summaries = [{k: v for k, v in _describe(a, call.now).items() if k != "AppArn"} for a in chunk]
    return {"Apps": summaries, **({"NextToken": token} if token else {})}


def delete_app(call: StudioCall, mounts: MountTable) -> dict[str, Any]:
    app = call.part.apps.get(_app_key(call))
    if app is None or app.status(call.now) == "Deleted":
        raise AwsError("ResourceNotFound", f"App {call.body['AppName']} not found")
    if app.status(call.now) in ("Pending", "Deleting"):
        raise AwsError("ResourceInUse", f"App {app.name} is {app.status(call.now)}")
    app.lifecycle.move("Deleting", call.config)
    stop_app(mounts, app)
    return {}


def create_studio_lifecycle_config(call: StudioCall) -> dict[str, Any]:
    call.require(
        "StudioLifecycleConfigName", "StudioLifecycleConfigContent", "StudioLifecycleConfigAppType"
    )
    name = call.name("StudioLifecycleConfigName")
    body = call.body
    if body["StudioLifecycleConfigAppType"] not in LIFECYCLE_APP_TYPES:
        raise AwsError(
            "ValidationException",
            f"StudioLifecycleConfigAppType must be one of {sorted(LIFECYCLE_APP_TYPES)}",
        )
    content = str(body["StudioLifecycleConfigContent"])
    if len(content) > 16384:
        raise AwsError(
            "ValidationException", "StudioLifecycleConfigContent is longer than 16384 characters"
        )
    decode_content(content)
    if name in call.part.lifecycle_configs:
        raise AwsError("ResourceInUse", f"Studio lifecycle config {name} already exists")
    arn = call.part.arn("studio-lifecycle-config", name)
    call.part.lifecycle_configs[name] = StudioLifecycleConfig(
        arn=arn,
        lifecycle=call.lifecycle("InService"),
        tags=merge_tags([], body.get("Tags") or []),
        name=name,
        content=content,
        app_type=str(body["StudioLifecycleConfigAppType"]),
    )
    return {"StudioLifecycleConfigArn": arn}


def _config(call: StudioCall) -> StudioLifecycleConfig:
    call.require("StudioLifecycleConfigName")
    config = call.part.lifecycle_configs.get(str(call.body["StudioLifecycleConfigName"]))
    if config is None:
        raise AwsError(
            "ResourceNotFound",
            f"Studio lifecycle config {call.body['StudioLifecycleConfigName']} not found",
        )
    return config


def _config_summary(config: StudioLifecycleConfig) -> dict[str, Any]:
    return {
        "StudioLifecycleConfigArn": config.arn,
        "StudioLifecycleConfigName": config.name,
        "CreationTime": epoch(config.lifecycle.created_at),
        "LastModifiedTime": epoch(config.lifecycle.changed_at),
        "StudioLifecycleConfigAppType": config.app_type,
    }


def describe_studio_lifecycle_config(call: StudioCall) -> dict[str, Any]:
    config = _config(call)
    return {**_config_summary(config), "StudioLifecycleConfigContent": config.content}


def list_studio_lifecycle_configs(call: StudioCall) -> dict[str, Any]:
    body = call.body
    configs = [
        c
        for c in call.part.lifecycle_configs.values()
        if str(body.get("NameContains", "")) in c.name
        and c.app_type == body.get("AppTypeEquals", c.app_type)
    ]
    keys = {
        "CreationTime": lambda c: (c.lifecycle.created_at, c.name),
        "LastModifiedTime": lambda c: (c.lifecycle.changed_at, c.name),
        "Name": lambda c: c.name,
    }
    chunk, token = page(sort_resources(configs, body, keys, "CreationTime"), body)
    return {
        "StudioLifecycleConfigs": [_config_summary(c) for c in chunk],
        **({"NextToken": token} if token else {}),
    }


def delete_studio_lifecycle_config(call: StudioCall) -> dict[str, Any]:
    config = _config(call)
    part = call.part
    users = [
        f"domain {d.domain_id}" for d in part.domains.values() if config.arn in json.dumps(d.spec)
    ]
    users += [
        f"user profile {p.name}"
        for p in part.profiles.values()
        if config.arn in json.dumps(p.settings)
    ]
    users += [
        f"space {s.name}" for s in part.spaces.values() if config.arn in json.dumps(s.settings)
    ]
    users += [
        f"app {a.name}"
        for a in part.apps.values()
        if a.status(call.now) != "Deleted" and config.arn in json.dumps(a.resource_spec)
    ]
    if users:
        raise AwsError(
            "ResourceInUse",
            f"Studio lifecycle config {config.name} is used by {', '.join(sorted(users))}",
        )
    del part.lifecycle_configs[config.name]
    return {}


def _tagged(call: StudioCall) -> Any:
    call.require("ResourceArn")
    resource = call.part.by_arn(str(call.body["ResourceArn"]))
    if resource is None or resource.lifecycle.is_gone(call.now):
        raise AwsError("ResourceNotFound", f"Resource {call.body['ResourceArn']} not found")
    return resource


def add_tags(call: StudioCall) -> dict[str, Any]:
    resource = _tagged(call)
    resource.tags = merge_tags(resource.tags, call.body.get("Tags") or [])
    return {"Tags": resource.tags}


def list_tags(call: StudioCall) -> dict[str, Any]:
    chunk, token = page(list(_tagged(call).tags), call.body, default=50)
    return {"Tags": chunk, **({"NextToken": token} if token else {})}


def delete_tags(call: StudioCall) -> dict[str, Any]:
    resource = _tagged(call)
    removed = set(call.body.get("TagKeys") or [])
    resource.tags = [t for t in resource.tags if t["Key"] not in removed]
    return {}
