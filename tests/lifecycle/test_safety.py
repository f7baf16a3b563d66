"""The scripts refuse unsafe names, parse as bash, pass shellcheck; settings are checked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from controller.lifecycle import (
    LifecycleSettings,
    backup_script,
    restore_script,
    space_start_script,
)
from tests.lifecycle.conftest import FS_ID, Space

RENDERERS = [backup_script, restore_script, space_start_script]
SETTINGS = LifecycleSettings(FS_ID, "/backups")


@pytest.mark.parametrize("field, value", [
    ("SpaceName", "../../etc"),
    ("SpaceName", "lab/evil"),
    ("UserProfileName", ".."),
    ("UserProfileName", "alice/../bob"),
    ("SpaceName", "a..b"),
])
@pytest.mark.parametrize("kind", ["backup", "restore"])
def test_names_with_slash_or_dot_dot_are_refused(space: Space, field: str, value: str,
                                                 kind: str) -> None:
    space.write_metadata(**{field: value})
    (space.home / "a.txt").write_text("a")
    (space.backup.parent.parent / "x" / "alice-lab").mkdir(parents=True)

    result = space.backup_now() if kind == "backup" else space.restore()

    assert result.returncode == 2
    assert f"{field} '{value}' contains '/' or '..'" in result.stderr
    assert not any(p.is_file() for p in space.share.rglob("*"))
    assert not (space.home / ".studio-operator-restored").exists()


def test_a_name_sagemaker_would_not_accept_is_refused(space: Space) -> None:
    space.write_metadata(SpaceName="lab name")

    result = space.backup_now()

    assert result.returncode == 2
    assert "is not a SageMaker name" in result.stderr


def test_missing_metadata_is_refused(space: Space) -> None:
    space.metadata.rename(space.root / "gone.json")

    result = space.backup_now()

    assert result.returncode == 2
    assert "no readable metadata file" in result.stderr


@pytest.mark.parametrize("render", RENDERERS)
def test_scripts_parse_as_bash(render, tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text(render(SETTINGS))
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("render", RENDERERS)
def test_scripts_pass_shellcheck(render, tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    script = tmp_path / "script.sh"
    script.write_text(render(SETTINGS))
    result = subprocess.run(["shellcheck", "--severity=style", str(script)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("render", RENDERERS)
def test_scripts_never_remove_recursively(render) -> None:
    assert "rm -r" not in render(SETTINGS) and "rm -fr" not in render(SETTINGS)


def test_settings_are_substituted(tmp_path: Path) -> None:
    settings = LifecycleSettings(FS_ID, "/data/backups", file_system_path="/data",
                                 mount_root="/mnt/cfs", home="/home/u", interval_seconds=60)
    script = space_start_script(settings)
    assert "@@" not in script
    assert f"FILE_SYSTEM_ID={FS_ID}\n" in script
    assert "SHARE_SUBDIR=backups\n" in script
    assert "${STUDIO_OPERATOR_MOUNT_ROOT:-/mnt/cfs}" in script
    assert "${STUDIO_OPERATOR_HOME_DIR:-/home/u}" in script
    assert "${STUDIO_OPERATOR_INTERVAL_SECONDS:-60}" in script
    assert script.rstrip().endswith("restore_main\nbackup_main")


@pytest.mark.parametrize("kwargs", [
    {"file_system_id": "fs-xyz"},
    {"backup_path": "relative"},
    {"backup_path": "/backups/../etc"},
    {"backup_path": "/back ups"},
    {"home": "/home/$(reboot)"},
    {"backup_path": "/backups", "file_system_path": "/other"},
    {"interval_seconds": 0},
    {"restore_ignore": ("..",)},
    {"restore_ignore": ("a b",)},
])
def test_unsafe_settings_are_refused(kwargs: dict) -> None:
    values = {"file_system_id": FS_ID, "backup_path": "/backups", **kwargs}
    with pytest.raises(ValueError):
        LifecycleSettings(**values)
