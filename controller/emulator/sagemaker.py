"""Which SageMaker calls the emulator answers itself, and the one place they are dispatched.

Every Studio operation (domains, user profiles, spaces, apps, Studio lifecycle configs)
and every notebook instance operation (instances and their lifecycle configs) is answered
from the emulator's own state; tag calls only when the ARN names one of those. Everything
else SageMaker (training jobs, models, ...) goes on to moto untouched.
This module must not implement resource behaviour itself: that lives in the
sagemaker_* modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.emulator import sagemaker_apps as apps
from controller.emulator import sagemaker_domains as domains
from controller.emulator import sagemaker_profiles as profiles
from controller.emulator.efs_mounts import MountTable
from controller.emulator.efs_store import EfsFolders
from controller.emulator.lifecycle import EmulatorConfig
from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.notebook_runtime import NotebookRuntime
from controller.emulator.protocol import AwsRequest, Reply, json_reply
from controller.emulator.sagemaker_notebooks import NotebookInstances
from controller.emulator.sagemaker_store import StudioCall, StudioStore

Handler = Callable[[StudioCall], dict[str, Any]]
TAG_OPERATIONS = {"AddTags", "ListTags", "DeleteTags"}


class SageMakerStudio:
    """Studio and notebook instances, served from `StudioStore`."""

    def __init__(self, config: EmulatorConfig, gateway: MotoGateway, folders: EfsFolders,
                 mounts: MountTable, notebooks: NotebookRuntime):
        self.config = config
        self.gateway = gateway
        self.store = StudioStore()
        self.notebooks = notebooks
        self.handlers: dict[str, Handler] = {
            "CreateDomain": lambda c: domains.create_domain(c, folders),
            "DescribeDomain": domains.describe_domain,
            "ListDomains": domains.list_domains,
            "UpdateDomain": domains.update_domain,
            "DeleteDomain": lambda c: domains.delete_domain(c, folders),
            "CreateUserProfile": lambda c: profiles.create_user_profile(c, folders),
            "DescribeUserProfile": profiles.describe_user_profile,
            "ListUserProfiles": profiles.list_user_profiles,
            "UpdateUserProfile": profiles.update_user_profile,
            "DeleteUserProfile": profiles.delete_user_profile,
            "CreateSpace": lambda c: profiles.create_space(c, folders),
            "DescribeSpace": profiles.describe_space,
            "ListSpaces": profiles.list_spaces,
            "UpdateSpace": profiles.update_space,
            "DeleteSpace": profiles.delete_space,
            "CreateApp": lambda c: apps.create_app(c, mounts),
            "DescribeApp": apps.describe_app,
            "ListApps": apps.list_apps,
            "DeleteApp": lambda c: apps.delete_app(c, mounts),
            "CreateStudioLifecycleConfig": apps.create_studio_lifecycle_config,
            "DescribeStudioLifecycleConfig": apps.describe_studio_lifecycle_config,
            "ListStudioLifecycleConfigs": apps.list_studio_lifecycle_configs,
            "DeleteStudioLifecycleConfig": apps.delete_studio_lifecycle_config,
            "AddTags": apps.add_tags,
            "ListTags": apps.list_tags,
            "DeleteTags": apps.delete_tags,
            **NotebookInstances(notebooks, self.store.lock).handlers(),
        }

    def handle(self, request: AwsRequest) -> Reply | None:
        if request.service != "sagemaker" or request.protocol != "json":
            return None
        handler = self.handlers.get(request.operation)
        if handler is None:
            return None
        body = request.json()
        if request.operation in TAG_OPERATIONS and not apps.STUDIO_ARN.fullmatch(
            str(body.get("ResourceArn", ""))
        ):
            return None  # a notebook instance or other resource moto keeps
        account = self.gateway.account_of(
            request.access_key, request.headers.get("x-moto-account-id")
        )
        with self.store.lock:
            now = self.config.clock()
            part = self.store.partition(account, request.region)
            part.sweep(now)
            result = handler(StudioCall(part, body, self.config, self.gateway, now))
        return json_reply(result)

    def reset(self) -> None:
        self.store.reset()
        self.notebooks.reset()
