"""What a generated backup/restore script needs to know, checked before it is rendered.

Values are substituted into bash unquoted, so every one is held to a character set
that needs no quoting; anything else is refused here, never escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FILE_SYSTEM_ID = re.compile(r"fs-[0-9a-f]{8,40}")
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
SAFE_NAME = re.compile(r"[A-Za-z0-9._+-]+")

# What Studio may already have put in a new space's home (best knowledge, not verified
# against a live app; override with STUDIO_OPERATOR_RESTORE_IGNORE): shell skeleton
# files, and what Jupyter and Code Editor write on first start. A home holding only these
# counts as empty. custom-file-systems, user-default-efs and lost+found are always ignored.
DEFAULT_RESTORE_IGNORE = (
    ".bashrc", ".profile", ".bash_logout", ".cache", ".config", ".local", ".jupyter",
    ".ipython",
)


@dataclass(frozen=True)
class LifecycleSettings:
    """Settings of one domain's backup share, as the scripts inside a space see it.

    file_system_path is the FileSystemPath the file system is attached to the domain
    with (Studio mounts that directory at <mount_root>/efs/<file_system_id>);
    backup_path is the backup root inside the file system and must lie within it.
    """

    file_system_id: str
    backup_path: str
    file_system_path: str | None = None  # None: attached at backup_path itself
    mount_root: str = "/mnt/custom-file-systems"
    home: str = "/home/sagemaker-user"
    metadata_file: str = "/opt/ml/metadata/resource-metadata.json"
    state_dir: str = "/tmp/studio-operator"
    interval_seconds: int = 900
    restore_ignore: tuple[str, ...] = DEFAULT_RESTORE_IGNORE

    def __post_init__(self) -> None:
        if not FILE_SYSTEM_ID.fullmatch(self.file_system_id):
            raise ValueError(f"not an EFS file system id: {self.file_system_id!r}")
        for field_name in ("backup_path", "mount_root", "home", "metadata_file", "state_dir"):
            _check_path(field_name, getattr(self, field_name))
        _check_path("file_system_path", self.attached_path)
        if self.interval_seconds < 1:
            raise ValueError(f"interval_seconds must be positive: {self.interval_seconds}")
        for name in self.restore_ignore:
            if not SAFE_NAME.fullmatch(name) or name in (".", ".."):
                raise ValueError(f"not a plain file name: {name!r}")
        self.share_subdir  # noqa: B018 - raises when backup_path is outside the mount

    @property
    def attached_path(self) -> str:
        return self.file_system_path if self.file_system_path is not None else self.backup_path

    @property
    def share_subdir(self) -> str:
        """backup_path relative to the attached path ("" when they are the same)."""
        root = _normalised(self.attached_path)
        path = _normalised(self.backup_path)
        if path == root:
            return ""
        prefix = root.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise ValueError(
                f"backup path {self.backup_path} is not inside the attached path "
                f"{self.attached_path}, so spaces cannot see it")
        return path[len(prefix):]


def _normalised(path: str) -> str:
    return "/" + "/".join(part for part in path.split("/") if part)


def _check_path(field_name: str, value: str) -> None:
    if not SAFE_PATH.fullmatch(value) or ".." in value.split("/"):
        raise ValueError(f"{field_name} must be an absolute path of [A-Za-z0-9._/-] "
                         f"without '..': {value!r}")
