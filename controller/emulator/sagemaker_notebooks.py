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
  generations); network settings that do not exist or do not belong together; a Failed
  instance is started again or deleted, never stopped or updated.
- CreatePresignedNotebookInstanceUrl answers only for an InService instance (no user
  reaches one while Pending or Failed).

Lifecycle configurations are sagemaker_notebook_configs.py's, the checks of a request's
status, role and network sagemaker_notebook_checks.py's. This module must not run
scripts or touch folders itself (notebook_runtime.py does), nor serve Studio resources.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from controller.emulator.lifecycle import epoch, random_suffix
from controller.emulator.notebook_runtime import NotebookRuntime
from controller.emulator.protocol import AwsError
from controller.emulator.sagemaker_notebook_checks import (
    check_network,
    require_role,
    require_status,
    updated_settings,
)
from controller.emulator.sagemaker_notebook_configs import (
    CONFIG_HANDLERS,
    decoded,
    lifecycle_config,
)
from controller.emulator.sagemaker_store import (
    StudioCall,
    StudioResource,
    merge_tags,
    page,
    sort_resources,
)

DEFAULT_PLATFORM = "notebook-al2023-v1"  # CreateNotebookInstance's documented default
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
            "CreatePresignedNotebookInstanceUrl": presigned_url,
            **CONFIG_HANDLERS,
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
        require_role(call, str(body["RoleArn"]))
        groups = check_network(call, settings.get("SubnetId"),
                                list(body.get("SecurityGroupIds") or []),
                                settings["DirectInternetAccess"])
        settings["SecurityGroups"] = groups
        config = body.get("LifecycleConfigName") or None
        if config is not None:
            lifecycle_config(call, str(config))
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
        require_status(instance, ("Stopped", "Failed"), "Pending")
        self._boot(call, instance)
        return {}

    def stop(self, call: StudioCall) -> dict[str, Any]:
        instance = _instance(call)
        require_status(instance, ("InService",), "Stopping")
        part, name = call.part, instance.name

        def shut_down() -> None:
            self.runtime.stop_processes(part.account, part.region, name)

        self._transition(call, instance, "Stopping", shut_down, "Stopped")
        return {}

    def update(self, call: StudioCall) -> dict[str, Any]:
        instance = _instance(call)
        require_status(instance, ("Stopped",), "Updating")
        settings, config = updated_settings(call, instance.settings, instance.config_name)
        instance.settings, instance.config_name = settings, config
        self._transition(call, instance, "Updating", None, "Stopped")
        return {}

    def delete(self, call: StudioCall) -> dict[str, Any]:
        instance = _instance(call)
        require_status(instance, ("Stopped", "Failed"), "Deleting")
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
            hooks += [("LifecycleConfigOnCreate", decoded(h)) for h in config.on_create]
        if config is not None:
            hooks += [("LifecycleConfigOnStart", decoded(h)) for h in config.on_start]
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


def presigned_url(call: StudioCall) -> dict[str, Any]:
    """A Jupyter URL for an InService instance only: AWS documents that an instance must
    be InService before anyone can connect to it (StartNotebookInstance), so no user
    reaches one while its lifecycle scripts run (Pending), nor a Failed one. The wording
    of the refusal is the emulator's (AWS does not document it)."""
    instance = _instance(call)
    if instance.status != "InService":
        raise AwsError("ValidationException",
                       f"Notebook Instance ({instance.arn}) is {instance.status}, not "
                       "InService: it cannot be connected to")
    token = random_suffix(40, "0123456789abcdefghijklmnopqrstuvwxyz")
    return {"AuthorizedUrl": f"https://{_url(instance.name, call.part.region)}"
                             f"?authToken={token}"}


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


