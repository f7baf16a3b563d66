"""Studio rules AWS enforces beyond what the service model can say.

The model check (validation.py) already refuses more than 10 CustomFileSystemConfigs and
more than 5 security groups. On top of it, as the SageMaker API reference and developer
guide describe:

- one entry per file system in a CustomFileSystemConfigs list: Studio mounts each file
  system once, at /mnt/custom-file-systems/efs/<FileSystemId>;
- in a VpcOnly domain, at most 4 security groups in UserSettings and SpaceSettings:
  SageMaker adds one of its own for NFS, "so the number you can specify is one less than
  the maximum" (UserSettings.SecurityGroups);
- an SSO (IAM Identity Center) domain's profiles need SingleSignOnUserIdentifier and
  SingleSignOnUserValue; an IAM domain's profiles must not have them;
- UpdateDomain may change AppNetworkAccessType, or remove SubnetIds, only while no app
  of the domain is InService, Pending or Deleting; otherwise the whole update is refused
  (ResourceInUse, the UpdateDomain error for a resource in use) and nothing changes.

This module decides and raises; it must not change any state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.emulator.protocol import AwsError
from controller.emulator.sagemaker_store import Domain, StudioCall

VPC_ONLY_SECURITY_GROUP_LIMIT = 4
RUNNING_APP_STATES = ("InService", "Pending", "Deleting")
SSO_FIELDS = ("SingleSignOnUserIdentifier", "SingleSignOnUserValue")


def check_settings(settings: Mapping[str, Any] | None, where: str, vpc_only: bool) -> None:
    """UserSettings / DefaultSpaceSettings / SpaceSettings rules the model cannot state."""
    if not settings:
        return
    seen: set[str] = set()
    for config in settings.get("CustomFileSystemConfigs") or []:
        file_system = str((config.get("EFSFileSystemConfig") or {}).get("FileSystemId", ""))
        if file_system in seen:
            raise AwsError(
                "ValidationException",
                f"{where}.customFileSystemConfigs names file system {file_system} more than "
                "once; a file system can be attached once (Studio mounts it at "
                f"/mnt/custom-file-systems/efs/{file_system})")
        seen.add(file_system)
    groups = settings.get("SecurityGroups") or []
    if vpc_only and len(groups) > VPC_ONLY_SECURITY_GROUP_LIMIT:
        raise AwsError(
            "ValidationException",
            f"{where}.securityGroups has {len(groups)} security groups; in VpcOnly mode "
            f"at most {VPC_ONLY_SECURITY_GROUP_LIMIT} can be given because SageMaker adds one "
            "for NFS traffic")


def is_vpc_only(domain: Domain | None, body: Mapping[str, Any] | None = None) -> bool:
    """Whether the domain is (or, with this request, becomes) VpcOnly."""
    requested = (body or {}).get("AppNetworkAccessType")
    if requested is not None:
        return bool(requested == "VpcOnly")
    return domain is not None and domain.spec.get("AppNetworkAccessType") == "VpcOnly"


def check_sso_profile(domain: Domain, body: Mapping[str, Any]) -> None:
    given = [field for field in SSO_FIELDS if body.get(field) not in (None, "")]
    if domain.spec.get("AuthMode") == "SSO":
        missing = [field for field in SSO_FIELDS if field not in given]
        if missing:
            raise AwsError(
                "ValidationException",
                f"Domain {domain.domain_id} uses IAM Identity Center (AuthMode SSO): "
                f"{' and '.join(missing)} must be given for each user profile")
    elif given:
        raise AwsError(
            "ValidationException",
            f"Domain {domain.domain_id} uses AuthMode {domain.spec.get('AuthMode')}: "
            f"{' and '.join(given)} can only be given in an SSO domain")


def check_network_update(call: StudioCall, domain: Domain, body: Mapping[str, Any]) -> None:
    """Refuse the whole UpdateDomain when it changes the network under running apps."""
    changes: list[str] = []
    access = body.get("AppNetworkAccessType")
    if access is not None and access != domain.spec.get("AppNetworkAccessType"):
        changes.append(f"AppNetworkAccessType ({domain.spec.get('AppNetworkAccessType')} -> "
                       f"{access})")
    subnets = body.get("SubnetIds")
    if subnets is not None:
        removed = sorted(set(domain.spec.get("SubnetIds") or ()) - set(subnets))
        if removed:
            changes.append(f"SubnetIds (removing {', '.join(removed)})")
    if not changes:
        return
    running = sorted(_running_apps(call, domain.domain_id))
    if running:
        shown = ", ".join(running[:5]) + (f" and {len(running) - 5} more"
                                          if len(running) > 5 else "")
        raise AwsError(
            "ResourceInUse",
            f"Domain {domain.domain_id}: {' and '.join(changes)} can only be changed when no "
            f"app is InService, Pending or Deleting; running: {shown}")


def _running_apps(call: StudioCall, domain_id: str) -> Iterable[str]:
    for app in call.part.apps.values():
        if app.domain_id == domain_id and app.status(call.now) in RUNNING_APP_STATES:
            yield f"{app.app_type} {app.name} of {app.owner_kind} {app.owner}"
