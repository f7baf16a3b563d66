"""The desired AWS request shapes and share directories, for one region.

Turns the typed desired state plus the references resolved in that region into what
the SageMaker API should hold (CreateDomain / CreateUserProfile request bodies) and what
every share directory should look like. Unresolvable references become problems, ids
of things the plan itself creates become Refs. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.lifecycle import (
    LifecycleConfigRequest,
    app_settings_with_lifecycle,
    lifecycle_configs,
)
from controller.model import DesiredState, DomainSpec, ShareScope, ShareSpec, UserProfileSpec
from controller.observed import ResolvedReferences
from controller.plan.ambiguity import describe as describe_ambiguity
from controller.plan.ambiguity import find as find_ambiguity
from controller.plan.custom_fs import MountGroup, common_ancestor, group_by_file_system
from controller.plan.types import Kind, Ref
from controller.plan.working_copy import serving_file_system, waits_for_working_copy

# A domain must reach its custom EFS through its VPC, so traffic stays in the VPC.
APP_NETWORK_ACCESS = "VpcOnly"
# Where each Studio app's settings live in UserSettings.
APP_SETTINGS_KEYS = {"JupyterLab": "JupyterLabAppSettings",
                     "CodeEditor": "CodeEditorAppSettings"}


class Shapes:
    """Builds request shapes for one region, collecting problems as it goes."""

    def __init__(self, desired: DesiredState, region: str, refs: ResolvedReferences,
                 planned_file_systems: set[str],
                 lifecycle_arns: Mapping[str, str] | None = None) -> None:
        self.desired = desired
        self.region = region
        self.refs = refs
        self.planned_file_systems = planned_file_systems
        # Studio lifecycle config name -> ARN, as AWS listed them.
        self.lifecycle_arns = lifecycle_arns or {}
        self._domain_wide: dict[tuple[str, str], str] = {}
        self.problems: list[str] = []
        # Domain name -> the lifecycle configs its app settings refer to.
        self.lifecycle_configs: dict[str, list[LifecycleConfigRequest]] = {}
        # (logical file system, domain) -> why the domain's apps could not mount it yet
        # (plan.nfs_access); while so, the domain and its profiles do not refer to it.
        self.studio_waits: Mapping[tuple[str, str], str] = {}
        # "Domain/x" or "UserProfile/x/y" -> why it waits (Plan.waiting).
        self.waiting: dict[str, str] = {}
        # Domain name -> its space-backup app settings (rendered once per domain).
        self._backup_fragments: dict[str, dict[str, Any]] = {}

    def file_system_id(self, logical_name: str) -> str | Ref | None:
        serving = serving_file_system(self.desired, self.region, self.refs, logical_name)
        if serving is not None:
            return serving
        if logical_name in self.planned_file_systems:
            return Ref(Kind.FILE_SYSTEM, logical_name, "FileSystemId")
        return None

    def domain_request(self, domain: DomainSpec) -> dict[str, Any] | None:
        """CreateDomain's body for this region, or None (with problems) if it can't be."""
        owner = f"Domain/{domain.name}"
        network = domain.networks.get(self.region)
        if network is None:
            self.problems.append(f"{owner}: no network settings for {self.region}")
            return None
        vpc_id = self._resolved(owner, "VPC", network.vpc, self.refs.vpcs.get(network.vpc))
        subnets = [
            self._resolved(owner, "subnet", name, self.refs.subnets.get((network.vpc, name)))
            for name in network.subnets
        ]
        groups = [
            self._resolved(owner, "security group", name,
                           self.refs.security_groups.get((network.vpc, name)))
            for name in network.security_groups
        ]
        role = self._resolved(owner, "execution role", domain.execution_role,
                              self.refs.roles.get(domain.execution_role))
        file_systems = self._file_system_configs(owner, self.desired.domain_shares_of(domain.name),
                                                 domain.name, None)
        if None in (vpc_id, role, file_systems) or None in subnets or None in groups:
            return None
        posix = {"Uid": domain.default_posix.uid, "Gid": domain.default_posix.gid}
        settings = {
            "ExecutionRole": role,
            "SecurityGroups": groups,
            "CustomPosixUserConfig": posix,
            "CustomFileSystemConfigs": file_systems,
        }
        user_settings = {**settings, **self._space_backup_settings(domain)}
        return {
            "DomainName": domain.name,
            "AuthMode": domain.auth_mode,
            "VpcId": vpc_id,
            "SubnetIds": subnets,
            "AppNetworkAccessType": APP_NETWORK_ACCESS,
            "DefaultUserSettings": user_settings,
            "DefaultSpaceSettings": dict(settings),
        }

    def _space_backup_settings(self, domain: DomainSpec) -> dict[str, Any]:
        """JupyterLab and Code Editor settings that run the backup/restore config on every
        app start; nothing until the backup share's file system id is known."""
        if domain.name not in self._backup_fragments:
            self._backup_fragments[domain.name] = self._render_space_backup(domain)
        return self._backup_fragments[domain.name]

    def _render_space_backup(self, domain: DomainSpec) -> dict[str, Any]:
        share = self.desired.space_backup_share(domain.name)
        fs_id = self.file_system_id(share.file_system) if share is not None else None
        if share is None or not isinstance(fs_id, str):
            return {}
        attached = self._domain_wide_path(domain.name, share.file_system)
        configs = lifecycle_configs(domain, share, fs_id, file_system_path=attached)
        self.lifecycle_configs[domain.name] = configs
        return app_settings_with_lifecycle(configs, self._lifecycle_arn)

    def _lifecycle_arn(self, name: str) -> str | Ref:
        """AWS's ARN for a config; until it exists, what its creation will return."""
        return self.lifecycle_arns.get(name) or Ref(Kind.LIFECYCLE_CONFIG, name,
                                                    "StudioLifecycleConfigArn")

    def user_settings(self, profile: UserProfileSpec) -> dict[str, Any] | None:
        """A profile's UserSettings: its POSIX ids and all its shares.

        A profile-level CustomFileSystemConfigs replaces the domain's default list, so
        it carries the domain's shares too, after the profile's own.
        """
        owner = f"UserProfile/{profile.qualified_name}"
        shares = (*self.desired.user_shares_of(profile),
                  *self.desired.domain_shares_of(profile.domain))
        configs = self._file_system_configs(owner, shares, profile.domain, profile.name)
        if configs is None:
            return None
        settings: dict[str, Any] = {
            "CustomPosixUserConfig": {"Uid": profile.posix.uid, "Gid": profile.posix.gid},
            "CustomFileSystemConfigs": configs,
        }
        chosen = profile.settings
        if chosen.execution_role is not None:
            role = self._resolved(owner, "execution role", chosen.execution_role,
                                  self.refs.roles.get(chosen.execution_role))
            if role is None:
                return None
            settings["ExecutionRole"] = role
        if chosen.app_settings:
            settings.update(self._profile_app_settings(profile))
        return settings

    def _profile_app_settings(self, profile: UserProfileSpec) -> dict[str, Any]:
        """Default instance type and idle shutdown for the domain's apps. A profile's app
        settings structure takes the place of the domain's for that app (the stricter
        reading), so it carries the domain's space-backup lifecycle configs too."""
        chosen = profile.settings
        domain = self.desired.domains[profile.domain]
        backup = self._space_backup_settings(domain)
        result: dict[str, Any] = {}
        for app in domain.apps:
            key = APP_SETTINGS_KEYS[app]
            settings: dict[str, Any] = {**backup.get(key, {})}
            if chosen.instance_type is not None:
                settings["DefaultResourceSpec"] = {**settings.get("DefaultResourceSpec", {}),
                                                   "InstanceType": chosen.instance_type}
            if chosen.idle_shutdown_minutes is not None:
                settings["AppLifecycleManagement"] = {"IdleSettings": {
                    "LifecycleManagement": "ENABLED",
                    "IdleTimeoutInMinutes": chosen.idle_shutdown_minutes}}
            result[key] = settings
        return result

    def profile_identity(self, profile: UserProfileSpec) -> dict[str, str]:
        """CreateUserProfile's IAM Identity Center fields (SSO domains only)."""
        if profile.sso is None:
            return {}
        return {"SingleSignOnUserIdentifier": profile.sso.user_identifier,
                "SingleSignOnUserValue": profile.sso.user_value}

    def _file_system_configs(self, owner: str, shares: tuple[ShareSpec, ...], domain: str,
                             profile: str | None) -> list[dict[str, Any]] | None:
        """One entry per file system (Studio mounts each once), at the deepest directory
        above all of this list's shares on it (controller.plan.custom_fs)."""
        placed: list[tuple[str, str | Ref, str]] = []
        for share in shares:
            fs_id = self.file_system_id(share.file_system)
            if fs_id is None:
                if not waits_for_working_copy(self.desired, self.region, self.refs,
                                              share.file_system):
                    self.problems.append(
                        f"{owner}: file system {share.file_system} (share {share.name}) "
                        f"has no copy in {self.region}")
                return None  # else: waits for the working copy (plan.working_copy)
            why = self.studio_waits.get((share.file_system, domain))
            if why is not None:
                self.waiting[owner] = why
                return None
            path = share.render(domain, profile) if share.scope is ShareScope.USER else (
                share.render(domain))
            placed.append((share.file_system, fs_id, path))
        return [group.entry(self._attached_path(domain, group))
                for group in group_by_file_system(placed)]

    def _attached_path(self, domain: str, group: MountGroup) -> str:
        backup = self.desired.space_backup_share(domain)
        if backup is not None and backup.file_system == group.file_system:
            return self._domain_wide_path(domain, group.file_system)
        return common_ancestor(group.paths)

    def _domain_wide_path(self, domain: str, file_system: str) -> str:
        """Where a domain's space-backup file system is attached, in the domain's defaults
        and in every profile of the domain alike: the backup script is one per domain and
        must find the backup folder at one place below the mount. It is the deepest
        directory above every share of the domain (and its profiles) on that file system."""
        known = self._domain_wide.get((domain, file_system))
        if known is not None:
            return known
        backup = self.desired.space_backup_share(domain)
        paths = [backup.render(domain)] if backup is not None else []
        paths += [s.render(domain) for s in self.desired.domain_shares_of(domain)
                  if s.file_system == file_system]
        for profile in self.desired.profiles_of(domain):
            paths += [s.render(domain, profile.name) for s in self.desired.user_shares_of(profile)
                      if s.file_system == file_system]
        found = self._domain_wide[(domain, file_system)] = common_ancestor(paths)
        return found

    def _resolved(self, owner: str, what: str, reference: str, found: str | None) -> str | None:
        unclear = find_ambiguity(self.refs, what, reference, self.region)
        if found is None and unclear is not None:
            self.problems.append(f"{owner}: {describe_ambiguity(unclear)}; none of them is "
                                 "used until only one carries it, or the id is given")
        elif found is None:
            self.problems.append(
                f"{owner}: {what} {reference} not found in {self.region}"
                + ("" if _looks_like_id(reference) else " (looked up by its Name tag)"))
        return found


def _looks_like_id(reference: str) -> bool:
    return reference.startswith(("vpc-", "subnet-", "sg-", "fs-", "arn:"))
