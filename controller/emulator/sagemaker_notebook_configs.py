"""SageMaker notebook instance lifecycle configurations, as AWS behaves: created,
described, listed, updated and deleted (not while an instance uses one: the stricter
reading), each script base64 and at most 16,384 characters. The scripts are run by
notebook_runtime.py when sagemaker_notebooks.py boots an instance; this module only
keeps them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from controller.emulator.lifecycle import Lifecycle, epoch
from controller.emulator.protocol import AwsError
from controller.emulator.sagemaker_store import (
    StudioCall,
    StudioResource,
    merge_tags,
    page,
    sort_resources,
)

SCRIPT_LIMIT = 16384  # characters of base64 per lifecycle script (model and API guide)


@dataclass
class NotebookLifecycleConfig(StudioResource):
    name: str
    on_create: list[dict[str, str]] = field(default_factory=list)
    on_start: list[dict[str, str]] = field(default_factory=list)


def _hooks(call: StudioCall, key: str) -> list[dict[str, str]]:
    hooks = [{"Content": str(h.get("Content", ""))} for h in call.body.get(key) or []]
    for hook in hooks:
        if len(hook["Content"]) > SCRIPT_LIMIT:
            raise AwsError("ValidationException",
                           f"{key}: a lifecycle script is limited to {SCRIPT_LIMIT} characters")
        decoded(hook)
    return hooks


def decoded(hook: dict[str, str]) -> bytes:
    try:
        return base64.b64decode(hook["Content"], validate=True)
    except (binascii.Error, ValueError):
        raise AwsError("ValidationException",
                       "A lifecycle script's Content must be base64-encoded") from None


def lifecycle_config(call: StudioCall, name: str) -> NotebookLifecycleConfig:
    config = call.part.notebook_configs.get(name)
    if config is None:
        raise AwsError("ValidationException",
                       f"Unable to describe Notebook Instance Lifecycle Config '{name}': it "
                       "does not exist")
    return config


def create_lifecycle_config(call: StudioCall) -> dict[str, Any]:
    call.require("NotebookInstanceLifecycleConfigName")
    name = call.name("NotebookInstanceLifecycleConfigName")
    arn = call.part.arn("notebook-instance-lifecycle-config", name.lower())
    if name in call.part.notebook_configs:
        raise AwsError("ValidationException",
                       f"Unable to create Notebook Instance Lifecycle Config {arn}: it "
                       "already exists")
    call.part.notebook_configs[name] = NotebookLifecycleConfig(
        arn=arn, lifecycle=Lifecycle.begin("InService", call.config),
        tags=merge_tags([], call.body.get("Tags") or []), name=name,
        on_create=_hooks(call, "OnCreate"), on_start=_hooks(call, "OnStart"))
    return {"NotebookInstanceLifecycleConfigArn": arn}


def describe_lifecycle_config(call: StudioCall) -> dict[str, Any]:
    call.require("NotebookInstanceLifecycleConfigName")
    config = lifecycle_config(call, str(call.body["NotebookInstanceLifecycleConfigName"]))
    return {
        "NotebookInstanceLifecycleConfigArn": config.arn,
        "NotebookInstanceLifecycleConfigName": config.name,
        "OnCreate": config.on_create,
        "OnStart": config.on_start,
        "CreationTime": epoch(config.lifecycle.created_at),
        "LastModifiedTime": epoch(config.lifecycle.changed_at),
    }


def list_lifecycle_configs(call: StudioCall) -> dict[str, Any]:
    body = call.body
    configs = [c for c in call.part.notebook_configs.values()
               if str(body.get("NameContains") or "") in c.name]
    keys = {"Name": lambda c: c.name,
            "CreationTime": lambda c: (c.lifecycle.created_at, c.name),
            "LastModifiedTime": lambda c: (c.lifecycle.changed_at, c.name)}
    chunk, token = page(sort_resources(configs, body, keys, "CreationTime"), body)
    return {"NotebookInstanceLifecycleConfigs": [
        {"NotebookInstanceLifecycleConfigName": c.name,
         "NotebookInstanceLifecycleConfigArn": c.arn,
         "CreationTime": epoch(c.lifecycle.created_at),
         "LastModifiedTime": epoch(c.lifecycle.changed_at)} for c in chunk],
        **({"NextToken": token} if token else {})}


def update_lifecycle_config(call: StudioCall) -> dict[str, Any]:
    call.require("NotebookInstanceLifecycleConfigName")
    config = lifecycle_config(call, str(call.body["NotebookInstanceLifecycleConfigName"]))
    if "OnCreate" in call.body:
        config.on_create = _hooks(call, "OnCreate")
    if "OnStart" in call.body:
        config.on_start = _hooks(call, "OnStart")
    config.lifecycle.move("InService", call.config)
    return {}


def delete_lifecycle_config(call: StudioCall) -> dict[str, Any]:
    call.require("NotebookInstanceLifecycleConfigName")
    config = lifecycle_config(call, str(call.body["NotebookInstanceLifecycleConfigName"]))
    users = sorted(i.name for i in call.part.notebooks.values() if i.config_name == config.name)
    if users:
        # Whether AWS refuses this is not documented: the stricter reading.
        raise AwsError("ValidationException",
                       f"Notebook Instance Lifecycle Config {config.name} is in use by "
                       f"notebook instance(s) {', '.join(users)}")
    del call.part.notebook_configs[config.name]
    return {}


CONFIG_HANDLERS = {
    "CreateNotebookInstanceLifecycleConfig": create_lifecycle_config,
    "DescribeNotebookInstanceLifecycleConfig": describe_lifecycle_config,
    "ListNotebookInstanceLifecycleConfigs": list_lifecycle_configs,
    "UpdateNotebookInstanceLifecycleConfig": update_lifecycle_config,
    "DeleteNotebookInstanceLifecycleConfig": delete_lifecycle_config,
}
