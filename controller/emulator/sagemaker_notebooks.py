"""SageMaker notebook instances and their lifecycle configurations, as AWS behaves.

moto keeps notebook instances InService from the moment they are created and lacks
UpdateNotebookInstance, platform identifiers and the lifecycle config updates and
listings; the emulator answers every notebook call itself:

- Statuses: create and start go Pending (boot: the transition time, then the
  lifecycle config's OnCreate script on creation and its OnStart script on every start,
  run for real by notebook_runtime.py) -> InService, or Failed with a FailureReason when
  a script fails or overruns its time limit; stop goes Stopping -> Stopped (every process
  the scripts left running ends); update goes Updating -> Stopped; delete goes Deleting
  -> gone (the volume folder with it).
- AWS's refusals, as ValidationException with AWS's wording: "Status (InService) not in
  ([Stopped]). Unable to transition to (Updating) for Notebook Instance (arn)" and the
  like for start, stop and delete; "RecordNotFound" for an unknown instance (what
  boto3's NotebookInstanceDeleted waiter expects); duplicates; a volume that would
  shrink; a platform change across Amazon Linux generations in place (the stricter
  reading of a field AWS documents in one line: the volume's owner ids differ between
  generations); network settings that do not exist or do not belong together.

This module must not run scripts or touch folders itself (notebook_runtime.py does),
nor serve Studio resources.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from controller.emulator.lifecycle import Lifecycle, epoch, random_suffix
from controller.emulator.notebook_runtime import NotebookRuntime, platform_generation
from controller.emulator.protocol import AwsError
from controller.emulator.sagemaker_store import (
    StudioCall,
    StudioResource,
    merge_tags,
    page,
    sort_resources,
)

DEFAULT_PLATFORM = "notebook-al2023-v1"  # CreateNotebookInstance's documented default
SCRIPT_LIMIT = 16384  # characters of base64 per lifecycle script (model and API guide)
# Fields of CreateNotebookInstance that DescribeNotebookInstance echoes as given.
ECHOED = ("InstanceType", "SubnetId", "RoleArn", "KmsKeyId", "DirectInternetAccess",
          "VolumeSizeInGB", "DefaultCodeRepository", "AdditionalCodeRepositories",
          "RootAccess", "PlatformIdentifier", "InstanceMetadataServiceConfiguration",
          "IpAddressType")


@dataclass
class NotebookInstance(StudioResource):
    name: str
    settings: dict[str, Any]
    status: str = "Pending"
    failure_reason: str | None = None
    config_name: str | None = None
    network_interface: str | None = None
    created: bool = False  # OnCreate has run (it runs once, on the first start)
    # Bumped by every transition: a transition thread whose generation is no longer the
    # instance's (a reset, a delete) changes nothing.
    generation: int = 0


@dataclass
class NotebookLifecycleConfig(StudioResource):
    name: str
    on_create: list[dict[str, str]] = field(default_factory=list)
    on_start: list[dict[str, str]] = field(default_factory=list)


class NotebookInstances:
    """The handlers, bound to the runtime and the store's lock."""

    def __init__(self, runtime: NotebookRuntime, lock: threading.RLock) -> None:
        self.runtime = runtime
        self.lock = lock

    def handlers(self) -> dict[str, Any]:
        return {
            "CreateNotebookInstance": self.create,
            "DescribeNotebookInstance": describe_notebook_instance,
            "ListNotebookInstances": list_notebook_instances,
            "StartNotebookInstance": self.start,
            "StopNotebookInstance": self.stop,
            "UpdateNotebookInstance": self.update,
            "DeleteNotebookInstance": self.delete,
            "CreateNotebookInstanceLifecycleConfig": create_lifecycle_config,
            "DescribeNotebookInstanceLifecycleConfig": describe_lifecycle_config,
            "ListNotebookInstanceLifecycleConfigs": list_lifecycle_configs,
            "UpdateNotebookInstanceLifecycleConfig": update_lifecycle_config,
            "DeleteNotebookInstanceLifecycleConfig": delete_lifecycle_config,
        }

    # -- operations that start a transition ----------------------------------------------
    def create(self, call: StudioCall) -> dict[str, Any]:
        call.require("NotebookInstanceName", "InstanceType", "RoleArn")
        name = call.name("NotebookInstanceName")
        part = call.part
        existing = part.notebooks.get(name)
        arn = part.arn("notebook-instance", name.lower())
        if existing is not None:
            raise AwsError("ValidationException",
                           f"Cannot create a duplicate Notebook Instance ({arn})")
        body = call.body
        settings = {key: body[key] for key in ECHOED if key in body}
        settings.setdefault("DirectInternetAccess", "Enabled")
        settings.setdefault("VolumeSizeInGB", 5)
        settings.setdefault("RootAccess", "Enabled")
        settings.setdefault("PlatformIdentifier", DEFAULT_PLATFORM)
        settings.setdefault("IpAddressType", "ipv4")
        settings.setdefault("InstanceMetadataServiceConfiguration",
                            {"MinimumInstanceMetadataServiceVersion": "1"})
        _require_role(call, str(body["RoleArn"]))
        groups = _check_network(call, settings.get("SubnetId"),
                                list(body.get("SecurityGroupIds") or []),
                                settings["DirectInternetAccess"])
        settings["SecurityGroups"] = groups
        config = body.get("LifecycleConfigName") or None
        if config is not None:
            _config(call, str(config))
        instance = NotebookInstance(
            arn=arn, lifecycle=call.lifecycle("InService"),
            tags=merge_tags([], body.get("Tags") or []), name=name, settings=settings,
            config_name=config,
            network_interface=(f"eni-{random_suffix(17, '0123456789abcdef')}"
                               if settings.get("SubnetId") else None))
        part.notebooks[name] = instance
        self.runtime.prepare(part.account, part.region, name, arn,
                             settings["PlatformIdentifier"])
        self._boot(call, instance)
        return {"NotebookInstanceArn": arn}

    def start(self, call: StudioCall) -> dict[str, Any]:
        instance = _instance(call)
        _require_status(instance, ("Stopped", "Failed"), "Pending")
        self._boot(call, instance)
        return {}

    def stop(self, call: StudioCall) -> dict[str, Any]:
        instance = _instance(call)
        _require_status(instance, ("InService",), "Stopping")
        part, name = call.part, instance.name

        def shut_down() -> None:
            self.runtime.stop_processes(part.account, part.region, name)

        self._transition(call, instance, "Stopping", shut_down, "Stopped")
        return {}

    def update(self, call: StudioCall) -> dict[str, Any]:
        instance = _instance(call)
        _require_status(instance, ("Stopped",), "Updating")
        body, settings = call.body, dict(instance.settings)
        for key in ("InstanceType", "RoleArn", "RootAccess", "DefaultCodeRepository",
                    "AdditionalCodeRepositories", "InstanceMetadataServiceConfiguration",
                    "IpAddressType"):
            if key in body:
                settings[key] = body[key]
        if "RoleArn" in body:
            _require_role(call, str(body["RoleArn"]))
        size = body.get("VolumeSizeInGB")
        if size is not None and int(size) < int(settings["VolumeSizeInGB"]):
            raise AwsError("ValidationException",
                           f"VolumeSizeInGB cannot be decreased (from "
                           f"{settings['VolumeSizeInGB']} to {size}); the volume can only grow")
        if size is not None:
            settings["VolumeSizeInGB"] = int(size)
        platform = body.get("PlatformIdentifier")
        if platform and platform_generation(platform) != platform_generation(
                settings["PlatformIdentifier"]):
            raise AwsError("ValidationException",
                           f"PlatformIdentifier {platform} cannot replace "
                           f"{settings['PlatformIdentifier']} in place: a different Amazon "
                           "Linux generation needs a new notebook instance")
        if platform:
            settings["PlatformIdentifier"] = platform
        if body.get("LifecycleConfigName") and body.get("DisassociateLifecycleConfig"):
            raise AwsError("ValidationException", "LifecycleConfigName and "
                           "DisassociateLifecycleConfig cannot be given together")
        config = instance.config_name
        if body.get("LifecycleConfigName"):
            config = _config(call, str(body["LifecycleConfigName"])).name
        elif body.get("DisassociateLifecycleConfig"):
            config = None
        if body.get("DisassociateDefaultCodeRepository"):
            settings.pop("DefaultCodeRepository", None)
        if body.get("DisassociateAdditionalCodeRepositories"):
            settings.pop("AdditionalCodeRepositories", None)
        instance.settings, instance.config_name = settings, config
        self._transition(call, instance, "Updating", None, "Stopped")
        return {}

    def delete(self, call: StudioCall) -> dict[str, Any]:
        instance = _instance(call)
        _require_status(instance, ("Stopped", "Failed"), "Deleting")
        part, name = call.part, instance.name

        def remove() -> None:
            self.runtime.remove(part.account, part.region, name)

        self._transition(call, instance, "Deleting", remove, None)
        return {}

    # -- transitions ------------------------------------------------------------------------
    def _boot(self, call: StudioCall, instance: NotebookInstance) -> None:
        part, name = call.part, instance.name
        config = part.notebook_configs.get(instance.config_name or "")
        hooks: list[tuple[str, bytes]] = []
        if config is not None and not instance.created:
            hooks += [("LifecycleConfigOnCreate", _decoded(h)) for h in config.on_create]
        if config is not None:
            hooks += [("LifecycleConfigOnStart", _decoded(h)) for h in config.on_start]
        instance.created = True
        platform = instance.settings["PlatformIdentifier"]
        config_arn = config.arn if config is not None else ""
        failure: list[str] = []

        def boot() -> None:
            for hook, script in hooks:
                outcome = self.runtime.run_script(part.account, part.region, name, hook,
                                                  script, platform)
                if not outcome.ok:
                    failure.append(
                        f"Notebook Instance Lifecycle Config '{config_arn}' for Notebook "
                        f"Instance '{instance.arn}' {outcome.reason} ({hook}). Please check "
                        "your CloudWatch logs for more details if your Notebook Instance "
                        "has Internet access.")
                    self.runtime.stop_processes(part.account, part.region, name)
                    return

        self._transition(call, instance, "Pending", boot, "InService", failure)

    def _transition(self, call: StudioCall, instance: NotebookInstance, status: str,
                    work: Any, settles_to: str | None, failure: list[str] | None = None) -> None:
        """Move to `status` now; after the transition time and `work` (in a thread),
        settle to `settles_to` (None: the instance is gone), or Failed when `failure`
        was filled in."""
        instance.status, instance.failure_reason = status, None
        instance.lifecycle.move(status, call.config)
        instance.generation += 1
        generation, part, delay = instance.generation, call.part, call.config.transition_seconds

        def run() -> None:
            if delay > 0:
                threading.Event().wait(delay)
            if work is not None:
                try:
                    work()
                except Exception as error:  # e.g. a reset removed the folders meanwhile
                    if failure is not None:
                        failure.append(f"the instance could not {status.lower()}: {error!r}")
            with self.lock:
                if part.notebooks.get(instance.name) is not instance or (
                        instance.generation != generation):
                    return
                if settles_to is None:
                    del part.notebooks[instance.name]
                    return
                instance.status = "Failed" if failure else settles_to
                instance.failure_reason = failure[0] if failure else None
                instance.lifecycle.move(instance.status, call.config)

        threading.Thread(target=run, name=f"notebook-{instance.name}-{status}",
                         daemon=True).start()


def _instance(call: StudioCall) -> NotebookInstance:
    call.require("NotebookInstanceName")
    instance = call.part.notebooks.get(str(call.body["NotebookInstanceName"]))
    if instance is None:
        raise AwsError("ValidationException", "RecordNotFound")
    return instance


def _require_status(instance: NotebookInstance, allowed: tuple[str, ...], target: str) -> None:
    if instance.status not in allowed:
        raise AwsError("ValidationException",
                       f"Status ({instance.status}) not in ([{', '.join(allowed)}]). Unable to "
                       f"transition to ({target}) for Notebook Instance ({instance.arn}).")


def _require_role(call: StudioCall, role_arn: str) -> None:
    iam = call.gateway.client("iam", call.part.region, call.part.account)
    name = role_arn.rsplit("/", 1)[-1]
    try:
        iam.get_role(RoleName=name)
    except ClientError:
        raise AwsError("ValidationException",
                       f"The role {role_arn} does not exist or cannot be assumed by "
                       "SageMaker") from None


def _check_network(call: StudioCall, subnet_id: str | None, groups: list[str],
                   internet: str) -> list[str]:
    """The security groups the instance gets: those given (in the subnet's VPC), or the
    VPC's default group; none without a subnet."""
    if subnet_id is None:
        if groups:
            raise AwsError("ValidationException",
                           "SecurityGroupIds can only be given with a SubnetId")
        if internet == "Disabled":
            raise AwsError("ValidationException", "DirectInternetAccess can only be Disabled "
                           "for a notebook instance in a VPC (give a SubnetId)")
        return []
    ec2 = call.gateway.client("ec2", call.part.region, call.part.account)
    try:
        subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    except (ClientError, IndexError):
        raise AwsError("ValidationException", f"Subnet {subnet_id} does not exist") from None
    vpc = subnet["VpcId"]
    if not groups:
        default = ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])
        return [g["GroupId"] for g in default["SecurityGroups"]][:1]
    try:
        found = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
    except ClientError:
        raise AwsError("ValidationException",
                       f"Security groups {groups} do not all exist") from None
    elsewhere = sorted(g["GroupId"] for g in found if g["VpcId"] != vpc)
    if elsewhere:
        raise AwsError("ValidationException",
                       f"Security groups {elsewhere} are not in the subnet's VPC {vpc}")
    return list(groups)


def describe_notebook_instance(call: StudioCall) -> dict[str, Any]:
    instance = _instance(call)
    settings = instance.settings
    answer = {
        "NotebookInstanceArn": instance.arn,
        "NotebookInstanceName": instance.name,
        "NotebookInstanceStatus": instance.status,
        "Url": _url(instance.name, call.part.region),
        **{key: settings[key] for key in ECHOED if key in settings},
        "SecurityGroups": list(settings.get("SecurityGroups") or []),
        "CreationTime": epoch(instance.lifecycle.created_at),
        "LastModifiedTime": epoch(instance.lifecycle.changed_at),
    }
    if instance.failure_reason:
        answer["FailureReason"] = instance.failure_reason
    if instance.config_name:
        answer["NotebookInstanceLifecycleConfigName"] = instance.config_name
    if instance.network_interface:
        answer["NetworkInterfaceId"] = instance.network_interface
    return answer


def list_notebook_instances(call: StudioCall) -> dict[str, Any]:
    body = call.body
    wanted_config = str(body.get("NotebookInstanceLifecycleConfigNameContains") or "")
    instances = [
        i for i in call.part.notebooks.values()
        if str(body.get("NameContains") or "") in i.name
        and body.get("StatusEquals", i.status) == i.status
        and (not wanted_config or wanted_config in (i.config_name or ""))]
    keys = {"Name": lambda i: i.name,
            "CreationTime": lambda i: (i.lifecycle.created_at, i.name),
            "Status": lambda i: (i.status, i.name)}
    chunk, token = page(sort_resources(instances, body, keys, "Name"), body)
    summaries = []
    for instance in chunk:
        summary = {
            "NotebookInstanceName": instance.name,
            "NotebookInstanceArn": instance.arn,
            "NotebookInstanceStatus": instance.status,
            "Url": _url(instance.name, call.part.region),
            "InstanceType": instance.settings["InstanceType"],
            "CreationTime": epoch(instance.lifecycle.created_at),
            "LastModifiedTime": epoch(instance.lifecycle.changed_at),
        }
        if instance.config_name:
            summary["NotebookInstanceLifecycleConfigName"] = instance.config_name
        summaries.append(summary)
    return {"NotebookInstances": summaries, **({"NextToken": token} if token else {})}


def _url(name: str, region: str) -> str:
    return f"{name.lower()}.notebook.{region}.sagemaker.aws"


# -- lifecycle configurations ------------------------------------------------------------------

def _hooks(call: StudioCall, key: str) -> list[dict[str, str]]:
    hooks = [{"Content": str(h.get("Content", ""))} for h in call.body.get(key) or []]
    for hook in hooks:
        if len(hook["Content"]) > SCRIPT_LIMIT:
            raise AwsError("ValidationException",
                           f"{key}: a lifecycle script is limited to {SCRIPT_LIMIT} characters")
        _decoded(hook)
    return hooks


def _decoded(hook: dict[str, str]) -> bytes:
    try:
        return base64.b64decode(hook["Content"], validate=True)
    except (binascii.Error, ValueError):
        raise AwsError("ValidationException",
                       "A lifecycle script's Content must be base64-encoded") from None


def _config(call: StudioCall, name: str) -> NotebookLifecycleConfig:
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
    config = _config(call, str(call.body["NotebookInstanceLifecycleConfigName"]))
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
    config = _config(call, str(call.body["NotebookInstanceLifecycleConfigName"]))
    if "OnCreate" in call.body:
        config.on_create = _hooks(call, "OnCreate")
    if "OnStart" in call.body:
        config.on_start = _hooks(call, "OnStart")
    config.lifecycle.move("InService", call.config)
    return {}


def delete_lifecycle_config(call: StudioCall) -> dict[str, Any]:
    call.require("NotebookInstanceLifecycleConfigName")
    config = _config(call, str(call.body["NotebookInstanceLifecycleConfigName"]))
    users = sorted(i.name for i in call.part.notebooks.values() if i.config_name == config.name)
    if users:
        # Whether AWS refuses this is not documented: the stricter reading.
        raise AwsError("ValidationException",
                       f"Notebook Instance Lifecycle Config {config.name} is in use by "
                       f"notebook instance(s) {', '.join(users)}")
    del call.part.notebook_configs[config.name]
    return {}
