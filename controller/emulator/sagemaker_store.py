"""The emulator's own SageMaker Studio state: domains, profiles, spaces, apps, configs.

moto lacks or mis-models these resources, so the emulator keeps them itself, one
partition per (account, region) exactly as AWS scopes them. The records here are plain
data plus the small rules that every operation on them shares (ARNs, sweeping resources
whose deletion has finished, validation of settings AWS checks cheaply). This module
must not parse requests or talk to moto.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import botocore.session

from controller.emulator.lifecycle import GONE, EmulatorConfig, Lifecycle
from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsError

NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
FILE_SYSTEM_PATH = re.compile(r"/\S{0,255}")
UID_RANGE = (10000, 4000000)
GID_RANGE = (1001, 4000000)
FIRST_HOME_UID = 200001


@dataclass
class StudioResource:
    arn: str
    lifecycle: Lifecycle
    tags: list[dict[str, str]]


@dataclass
class Domain(StudioResource):
    domain_id: str
    name: str
    # The echoable top-level fields exactly as AWS stores them (DefaultUserSettings, ...).
    spec: dict[str, Any]
    home_efs_id: str
    next_home_uid: int = FIRST_HOME_UID
    # SageMaker's own NFS groups for the home EFS: (inbound, outbound); apps carry the
    # outbound one too.
    nfs_groups: tuple[str, ...] = ()


@dataclass
class UserProfile(StudioResource):
    domain_id: str
    name: str
    settings: dict[str, Any]
    home_uid: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Space(StudioResource):
    domain_id: str
    name: str
    settings: dict[str, Any]
    home_uid: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class App(StudioResource):
    domain_id: str
    owner_kind: str  # "user" or "space": apps belong to a profile or to a space
    owner: str
    app_type: str
    name: str
    resource_spec: dict[str, Any]
    # Set when the app cannot start (a custom file system it cannot mount): Pending
    # then ends in Failed instead of InService.
    failure_reason: str | None = None

    def status(self, now: float) -> str:
        # Deleted apps stay listed with status Deleted, as in AWS.
        current = self.lifecycle.current(now)
        if current == "InService" and self.failure_reason is not None:
            return "Failed"
        return "Deleted" if current == GONE else current


@dataclass
class StudioLifecycleConfig(StudioResource):
    name: str
    content: str
    app_type: str


@dataclass
class StudioPartition:
    account: str
    region: str
    domains: dict[str, Domain] = field(default_factory=dict)
    profiles: dict[tuple[str, str], UserProfile] = field(default_factory=dict)
    spaces: dict[tuple[str, str], Space] = field(default_factory=dict)
    apps: dict[tuple[str, str, str, str, str], App] = field(default_factory=dict)
    lifecycle_configs: dict[str, StudioLifecycleConfig] = field(default_factory=dict)
    # Notebook instances and their lifecycle configs (sagemaker_notebooks.py), by name.
    notebooks: dict[str, Any] = field(default_factory=dict)
    notebook_configs: dict[str, Any] = field(default_factory=dict)

    def arn(self, kind: str, *parts: str) -> str:
        # The partition follows the region (aws-us-gov in GovCloud, aws-cn in China).
        return (f"arn:{partition_of(self.region)}:sagemaker:{self.region}:{self.account}:"
                f"{kind}/" + "/".join(parts))

    def sweep(self, now: float) -> None:
        """Forget resources whose Deleting transition has finished."""
        tables: tuple[dict[Any, Any], ...] = (
            self.domains,
            self.profiles,
            self.spaces,
            self.lifecycle_configs,
        )
        for table in tables:
            for key in [k for k, v in table.items() if v.lifecycle.is_gone(now)]:
                del table[key]

    def resources(self) -> Iterator[StudioResource]:
        yield from self.domains.values()
        yield from self.profiles.values()
        yield from self.spaces.values()
        yield from self.apps.values()
        yield from self.lifecycle_configs.values()
        yield from self.notebooks.values()
        yield from self.notebook_configs.values()

    def by_arn(self, arn: str) -> StudioResource | None:
        return next((r for r in self.resources() if r.arn == arn), None)


@lru_cache(maxsize=64)
def partition_of(region: str) -> str:
    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
    except Exception:  # a made-up region name (tests use a few): the commercial partition
        return "aws"


class StudioStore:
    """All partitions, behind one lock: SageMaker calls are serialised, as is cheap here."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._partitions: dict[tuple[str, str], StudioPartition] = {}

    def partition(self, account: str, region: str) -> StudioPartition:
        key = (account, region)
        if key not in self._partitions:
            self._partitions[key] = StudioPartition(account, region)
        return self._partitions[key]

    def reset(self) -> None:
        with self.lock:
            self._partitions.clear()


@dataclass
class StudioCall:
    """What one SageMaker operation handler works with."""

    part: StudioPartition
    body: dict[str, Any]
    config: EmulatorConfig
    gateway: MotoGateway
    now: float

    def lifecycle(self, status: str = "Pending") -> Lifecycle:
        return Lifecycle.begin(status, self.config)

    def require(self, *names: str) -> None:
        missing = [n for n in names if self.body.get(n) in (None, "", [])]
        if missing:
            raise AwsError(
                "ValidationException", f"Missing required parameter(s): {', '.join(missing)}"
            )

    def name(self, key: str) -> str:
        value = str(self.body.get(key, ""))
        if not NAME_PATTERN.fullmatch(value):
            raise AwsError(
                "ValidationException",
                f"1 validation error detected: Value '{value}' at '{key[0].lower() + key[1:]}' "
                "failed to satisfy constraint: Member must satisfy regular expression pattern: "
                "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
            )
        return value

    def domain(self, domain_id: str) -> Domain:
        domain = self.part.domains.get(domain_id)
        if domain is None:
            raise AwsError("ResourceNotFound", f"Domain with ID {domain_id} not found")
        return domain


def not_found(kind: str, arn: str) -> AwsError:
    return AwsError("ResourceNotFound", f"{kind} with ARN {arn} not found")


def merge_settings(
    stored: Mapping[str, Any] | None, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """AWS's update rule: each top-level key given replaces the stored one; others stay."""
    merged = dict(stored or {})
    merged.update(given or {})
    return merged


def validate_settings(call: StudioCall, settings: Mapping[str, Any] | None, where: str) -> None:
    """Reject what AWS rejects and is cheap to check here."""
    if not settings:
        return
    posix = settings.get("CustomPosixUserConfig")
    if posix is not None:
        for key, (low, high) in (("Uid", UID_RANGE), ("Gid", GID_RANGE)):
            value = posix.get(key)
            if not isinstance(value, int) or not low <= value <= high:
                raise AwsError(
                    "ValidationException",
                    f"1 validation error detected: Value '{value}' at "
                    f"'{where}.customPosixUserConfig.{key.lower()}' failed to satisfy "
                    f"constraint: Member must have value between {low} and {high}",
                )
    role = settings.get("ExecutionRole")
    if role is not None and not ROLE_ARN.fullmatch(str(role)):
        raise AwsError(
            "ValidationException", f"{where}.ExecutionRole '{role}' is not a valid IAM role ARN"
        )
    for config in settings.get("CustomFileSystemConfigs") or []:
        efs = config.get("EFSFileSystemConfig")
        if efs is None:
            continue
        path = efs.get("FileSystemPath", "/")
        if not FILE_SYSTEM_PATH.fullmatch(str(path)):
            raise AwsError(
                "ValidationException", f"{where}: FileSystemPath '{path}' must be absolute"
            )
        _require_file_system(call, str(efs.get("FileSystemId", "")), where)
    for app_key in (
        "JupyterLabAppSettings",
        "CodeEditorAppSettings",
        "JupyterServerAppSettings",
        "KernelGatewayAppSettings",
    ):
        app_settings = settings.get(app_key) or {}
        arns = list(app_settings.get("LifecycleConfigArns") or [])
        spec_arn = (app_settings.get("DefaultResourceSpec") or {}).get("LifecycleConfigArn")
        require_lifecycle_configs(call, [*arns, *([spec_arn] if spec_arn else [])], where)


def require_lifecycle_configs(call: StudioCall, arns: Iterable[str], where: str) -> None:
    known = {
        c.arn for c in call.part.lifecycle_configs.values() if not c.lifecycle.is_gone(call.now)
    }
    for arn in arns:
        if arn not in known:
            raise AwsError("ResourceNotFound", f"{where}: Studio lifecycle config {arn} not found")


def _require_file_system(call: StudioCall, file_system_id: str, where: str) -> None:
    efs = call.gateway.client("efs", call.part.region, call.part.account)
    try:
        efs.describe_file_systems(FileSystemId=file_system_id)
    except efs.exceptions.FileSystemNotFound:
        raise AwsError(
            "ValidationException",
            f"{where}: EFS file system {file_system_id} does not exist in {call.part.region}",
        ) from None


def decode_content(content: str) -> bytes:
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise AwsError(
            "ValidationException", "StudioLifecycleConfigContent must be base64-encoded"
        ) from None


def page(
    items: list[Any], body: Mapping[str, Any], default: int = 10, limit: int = 100
) -> tuple[list[Any], str | None]:
    """One page of `items` and the NextToken for the rest (an opaque offset)."""
    size = int(body.get("MaxResults") or default)
    if not 1 <= size <= limit:
        raise AwsError("ValidationException", f"MaxResults must be between 1 and {limit}")
    token = body.get("NextToken")
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except (ValueError, binascii.Error):
        raise AwsError("ValidationException", "Invalid NextToken") from None
    end = start + size
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], next_token


def sort_resources(
    items: list[Any], body: Mapping[str, Any], key_names: Mapping[str, Any], default_key: str
) -> list[Any]:
    sort_by = body.get("SortBy") or default_key
    if sort_by not in key_names:
        raise AwsError("ValidationException", f"SortBy must be one of {sorted(key_names)}")
    descending = (body.get("SortOrder") or "Ascending") == "Descending"
    return sorted(items, key=key_names[sort_by], reverse=descending)


def merge_tags(
    tags: list[dict[str, str]], new: Iterable[Mapping[str, str]]
) -> list[dict[str, str]]:
    by_key = {t["Key"]: t["Value"] for t in tags}
    for tag in new:
        by_key[str(tag["Key"])] = str(tag.get("Value", ""))
    return [{"Key": k, "Value": v} for k, v in by_key.items()]
