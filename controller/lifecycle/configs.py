"""CreateStudioLifecycleConfig requests for a domain's space backup, and how to attach them.

A config's name carries a hash of its content: Studio lifecycle configs cannot be
updated in place, so a changed script is a new config under a new name, and the domain
is pointed at it. Pure: builds request bodies, calls nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from controller.lifecycle.render import space_start_script
from controller.lifecycle.settings import LifecycleSettings
from controller.model import DomainSpec, ShareScope, ShareSpec

# CreateStudioLifecycleConfig's limit on StudioLifecycleConfigContent (the base64 text).
LIFECYCLE_CONTENT_LIMIT = 16384
NAME_LIMIT = 63
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
NAME_PREFIX = "studio-op"
HASH_LENGTH = 10
# Studio app type -> (short name used in config names, DefaultUserSettings key).
APP_TYPES = {
    "JupyterLab": ("jl", "JupyterLabAppSettings"),
    "CodeEditor": ("ce", "CodeEditorAppSettings"),
}


@dataclass(frozen=True)
class LifecycleConfigRequest:
    """One CreateStudioLifecycleConfig request, plus the script it carries."""

    name: str
    app_type: str
    script: str

    @property
    def content(self) -> str:
        return base64.b64encode(self.script.encode("utf-8")).decode("ascii")

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.script.encode("utf-8")).hexdigest()

    def request(self) -> dict[str, Any]:
        return {
            "StudioLifecycleConfigName": self.name,
            "StudioLifecycleConfigContent": self.content,
            "StudioLifecycleConfigAppType": self.app_type,
        }


def settings_for(domain: DomainSpec, backup_share: ShareSpec, file_system_id: str,
                 **overrides: Any) -> LifecycleSettings:
    """The scripts' settings for a domain's backup share in one region.

    The share must be domain or organisation scope (one root for every space; the
    scripts add <profile>/<space>) and is expected among the domain's shares. Its file
    system is attached at `file_system_path` (an override; by default the rendered share
    path, so that spaces see the backup root as the mount itself).
    """
    if domain.space_backup.share not in (None, backup_share.name):
        raise ValueError(f"Domain/{domain.name} backs spaces up to share "
                         f"{domain.space_backup.share}, not {backup_share.name}")
    if backup_share.scope is ShareScope.USER or "{profile}" in backup_share.path:
        raise ValueError(f"Share/{backup_share.name}: a space backup share needs one root "
                         "per domain (scope domain or organisation, no {profile})")
    root = backup_share.render(domain.name)
    return LifecycleSettings(file_system_id=file_system_id, backup_path=root, **overrides)


def lifecycle_configs(domain: DomainSpec, backup_share: ShareSpec, file_system_id: str,
                      file_system_path: str | None = None) -> list[LifecycleConfigRequest]:
    """One space-start config (restore, then backup) per backed-up app type of the domain;
    none when the domain's spaceBackup is off. `file_system_path` is the FileSystemPath
    the backup share's file system is attached with (None: the share's own path)."""
    if not domain.space_backup.enabled:
        return []
    script = space_start_script(settings_for(domain, backup_share, file_system_id,
                                             file_system_path=file_system_path))
    return [
        LifecycleConfigRequest(config_name(domain.name, app_type, script), app_type, script)
        for app_type in APP_TYPES
        if app_type in domain.apps
    ]


def config_name(domain: str, app_type: str, script: str) -> str:
    """studio-op-<domain, cut to fit>-<jl|ce>-<content hash>: valid, at most 63 chars."""
    short = APP_TYPES[app_type][0]
    digest = hashlib.sha256(f"{app_type}\n{script}".encode()).hexdigest()[:HASH_LENGTH]
    room = NAME_LIMIT - len(f"{NAME_PREFIX}--{short}-{digest}")
    cleaned = re.sub(r"[^a-zA-Z0-9-]", "-", domain)[:room].strip("-")
    name = "-".join(part for part in (NAME_PREFIX, cleaned, short, digest) if part)
    assert NAME_PATTERN.fullmatch(name) and len(name) <= NAME_LIMIT, name
    return name


def is_operator_config_arn(arn: Any) -> bool:
    """Whether a lifecycle config ARN names a config this operator made (by its name)."""
    return isinstance(arn, str) and arn.rsplit("/", 1)[-1].startswith(f"{NAME_PREFIX}-")


def app_settings_with_lifecycle(configs: Sequence[LifecycleConfigRequest],
                                arn_of: Callable[[str], Any]) -> dict[str, Any]:
    """The DefaultUserSettings (or DefaultSpaceSettings) fragment attaching the configs:
    per app type, LifecycleConfigArns lists them and DefaultResourceSpec.LifecycleConfigArn
    makes the (single) one run on every app start without the user choosing it.

    `arn_of(name)` gives each config's ARN as AWS returned it (CreateStudioLifecycleConfig,
    ListStudioLifecycleConfigs), or a placeholder resolved once it exists: an ARN is never
    built here, since its partition (aws, aws-us-gov, aws-cn) is AWS's to say."""
    fragment: dict[str, Any] = {}
    for app_type, (_short, key) in APP_TYPES.items():
        arns = [arn_of(c.name) for c in configs if c.app_type == app_type]
        if not arns:
            continue
        fragment[key] = {
            "LifecycleConfigArns": arns,
            "DefaultResourceSpec": {"LifecycleConfigArn": arns[0]},
        }
    return fragment
