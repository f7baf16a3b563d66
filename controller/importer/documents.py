"""What the importer's pieces share: a document with its comments, the envelope, and the
readings of AWS settings they all need. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from controller.model import API_VERSION, MANAGED_TAG

# DefaultUserSettings fields the operator sets; the others are left as AWS holds them.
MANAGED_SETTINGS = frozenset({"ExecutionRole", "SecurityGroups", "CustomPosixUserConfig",
                              "CustomFileSystemConfigs"})
APP_KEYS = {"JupyterLab": "JupyterLabAppSettings", "CodeEditor": "CodeEditorAppSettings"}
_NAME = re.compile(r"[^a-zA-Z0-9-]+")


@dataclass
class Document:
    """One YAML document: its body and the comments that go above it."""

    body: dict[str, Any]
    comments: list[str] = field(default_factory=list)


def envelope(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


def posix_of(settings: dict[str, Any] | None) -> tuple[int, int] | None:
    """CustomPosixUserConfig's (uid, gid), None when the settings have none."""
    config = (settings or {}).get("CustomPosixUserConfig")
    if not config:
        return None
    return int(config["Uid"]), int(config["Gid"])


def valid_name(text: str) -> str:
    """A valid SageMaker-style name made from `text`."""
    cleaned = _NAME.sub("-", text).strip("-")[:63].strip("-")
    return cleaned or "imported"


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags worth declaring: not AWS's own, not the operator's."""
    return {k: v for k, v in sorted(tags.items())
            if k != MANAGED_TAG and not k.startswith(("aws:", "sagemaker:"))}


def attached_path(settings: dict[str, Any], fs_id: str) -> str | None:
    """Where a settings' CustomFileSystemConfigs attach a file system (None: not)."""
    for config in settings.get("CustomFileSystemConfigs") or ():
        efs = config.get("EFSFileSystemConfig") or {}
        if efs.get("FileSystemId") == fs_id:
            return str(efs.get("FileSystemPath") or "/")
    return None


def join(root: str, subdir: str) -> str:
    return "/" + "/".join(p for p in f"{root}/{subdir}".split("/") if p)


def under(path: str, root: str) -> bool:
    root = "/" + root.strip("/")
    return root == "/" or path == root or path.startswith(root.rstrip("/") + "/")
