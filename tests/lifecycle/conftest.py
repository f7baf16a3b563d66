"""A fake Studio space on real folders: home, custom EFS mount, metadata, state.

The generated scripts run in real bash against these folders, pointed at them through
the STUDIO_OPERATOR_* variables. `no_rsync_path` builds a PATH without rsync (and
without python3), to drive the tar copy and the sed metadata fallbacks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.lifecycle import LifecycleSettings, backup_script, restore_script

FS_ID = "fs-0123456789abcdef0"
HIDDEN_IN_FALLBACK = ("rsync", "python3")


@dataclass
class Space:
    root: Path
    path_env: str
    settings: LifecycleSettings = field(
        default_factory=lambda: LifecycleSettings(FS_ID, "/backups", file_system_path="/"))
    profile: str = "alice"
    space: str = "alice-lab"

    @property
    def home(self) -> Path:
        return self.root / "home" / "sagemaker-user"

    @property
    def mount_root(self) -> Path:
        return self.root / "mnt" / "custom-file-systems"

    @property
    def share(self) -> Path:
        return self.mount_root / "efs" / FS_ID / "backups"

    @property
    def backup(self) -> Path:
        return self.share / self.profile / self.space

    @property
    def metadata(self) -> Path:
        return self.root / "metadata" / "resource-metadata.json"

    @property
    def mountinfo(self) -> Path:
        return self.root / "mountinfo"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def write_metadata(self, **fields: str) -> None:
        body = {"DomainId": "d-abc123", "UserProfileName": self.profile,
                "SpaceName": self.space, "AppType": "JupyterLab", **fields}
        self.metadata.write_text(json.dumps(body, indent=2))

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": self.path_env,
            "STUDIO_OPERATOR_METADATA_FILE": str(self.metadata),
            "STUDIO_OPERATOR_HOME_DIR": str(self.home),
            "STUDIO_OPERATOR_MOUNT_ROOT": str(self.mount_root),
            "STUDIO_OPERATOR_MOUNTINFO": str(self.mountinfo),
            "STUDIO_OPERATOR_STATE_DIR": str(self.state),
            "STUDIO_OPERATOR_FOREGROUND": "1",
            **extra,
        }

    def run(self, script: str, **extra: str) -> subprocess.CompletedProcess[str]:
        path = self.root / "script.sh"
        path.write_text(script)
        return subprocess.run(["bash", str(path)], env=self.env(**extra), capture_output=True,
                              text=True, timeout=60, check=False)

    def backup_now(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(backup_script(self.settings), **extra)

    def restore(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(restore_script(self.settings), **extra)


def _path_without(tmp: Path, hidden: tuple[str, ...]) -> str:
    """A bin folder linking every command on PATH except `hidden`."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for folder in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = os.path.join(folder, name)
            link = bin_dir / name
            if name in hidden or name.startswith("python3") or link.exists():
                continue
            if os.access(target, os.X_OK) and not os.path.isdir(target):
                link.symlink_to(target)
    return str(bin_dir)


@pytest.fixture(scope="session")
def no_rsync_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _path_without(tmp_path_factory.mktemp("no-rsync"), HIDDEN_IN_FALLBACK)


@pytest.fixture(params=["rsync", "fallback"])
def copier(request: pytest.FixtureRequest, no_rsync_path: str) -> str:
    """The PATH for each copy method: with rsync, and without rsync or python3."""
    if request.param == "rsync":
        if shutil.which("rsync") is None:
            pytest.fail("rsync is not installed (apt-get install -y rsync)")
        return os.environ["PATH"]
    return no_rsync_path


@pytest.fixture
def make_space(tmp_path: Path) -> Callable[[str], Space]:
    def make(path_env: str) -> Space:
        space = Space(tmp_path, path_env)
        for folder in (space.home, space.share, space.metadata.parent, space.state):
            folder.mkdir(parents=True, exist_ok=True)
        space.mountinfo.write_text("")
        space.write_metadata()
        return space

    return make


@pytest.fixture
def space(make_space: Callable[[str], Space], copier: str) -> Space:
    return make_space(copier)


def copy_tool(space: Space) -> str:
    """The command the scripts copy with on this space's PATH: rsync, or tar without it."""
    return "rsync" if shutil.which("rsync", path=space.path_env) else "tar"


def with_wrapper(space: Space, tool: str, body: str) -> str:
    """A PATH on which `tool` first runs `body` (bash; $REAL is the real tool), then
    whatever `body` does with it. Everything else is the space's own PATH."""
    real = shutil.which(tool, path=space.path_env)
    assert real is not None, f"{tool} is not on the space's PATH"
    folder = space.root / f"wrap-{tool}"
    folder.mkdir(exist_ok=True)
    wrapper = folder / tool
    wrapper.write_text(f"#!/bin/bash\nREAL={real}\n{body}\n")
    wrapper.chmod(0o755)
    return f"{folder}{os.pathsep}{space.path_env}"
