"""The restore script fills an empty home from its backup, once, and otherwise stays put."""

from __future__ import annotations

import os
import stat

from tests.lifecycle.conftest import Space

OLD = 1_000_000_000


def populate_backup(space: Space) -> None:
    (space.backup / "notebooks").mkdir(parents=True)
    (space.backup / "notebooks" / "work.ipynb").write_text("{}")
    (space.backup / ".bashrc").write_text("# mine\n")
    (space.backup / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(space.backup / "run.sh", 0o755)
    (space.backup / "link").symlink_to("notebooks/work.ipynb")
    os.utime(space.backup / "notebooks" / "work.ipynb", (OLD, OLD))


def studio_fresh_home(space: Space) -> None:
    """What Studio may have put in a new home before the lifecycle config runs."""
    (space.home / ".bashrc").write_text("# studio default\n")
    (space.home / ".cache").mkdir()
    (space.home / "lost+found").mkdir()
    (space.home / "user-default-efs").symlink_to(space.mount_root)


def test_restore_fills_an_empty_home_and_writes_the_marker(space: Space) -> None:
    populate_backup(space)
    studio_fresh_home(space)

    result = space.restore()

    assert result.returncode == 0, result.stderr
    home = space.home
    assert (home / "notebooks" / "work.ipynb").read_text() == "{}"
    assert int((home / "notebooks" / "work.ipynb").stat().st_mtime) == OLD
    assert (home / ".bashrc").read_text() == "# mine\n"
    assert stat.S_IMODE((home / "run.sh").stat().st_mode) == 0o755
    assert os.readlink(home / "link") == "notebooks/work.ipynb"
    marker = (home / ".studio-operator-restored").read_text()
    assert "restored_at=" in marker
    assert f"source={space.backup}" in marker
    assert f"restored {home} from {space.backup}" in result.stderr


def test_a_second_restore_does_nothing(space: Space) -> None:
    populate_backup(space)
    assert space.restore().returncode == 0
    (space.home / "notebooks" / "work.ipynb").write_text("edited after restore")
    (space.backup / "notebooks" / "work.ipynb").write_text("{}  ")

    result = space.restore()

    assert result.returncode == 0, result.stderr
    assert (space.home / "notebooks" / "work.ipynb").read_text() == "edited after restore"
    assert "already restored" in result.stderr


def test_a_home_with_work_in_it_is_left_alone(space: Space) -> None:
    populate_backup(space)
    (space.home / "my-new-notebook.ipynb").write_text("started fresh")

    result = space.restore()

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in space.home.iterdir()) == ["my-new-notebook.ipynb"]
    assert "is not empty (has: my-new-notebook.ipynb" in result.stderr
    assert "not restoring" in (space.state / "restore.log").read_text()


def test_a_missing_backup_is_a_logged_no_op(space: Space) -> None:
    studio_fresh_home(space)

    result = space.restore()

    assert result.returncode == 0, result.stderr
    assert f"no backup at {space.backup}" in result.stderr
    assert not (space.home / ".studio-operator-restored").exists()


def test_restore_does_not_bring_back_studio_mount_links_from_old_backups(space: Space) -> None:
    populate_backup(space)
    (space.backup / "user-default-efs").symlink_to("/mnt/custom-file-systems/efs/fs-old")
    (space.backup / "custom-file-systems").mkdir()

    result = space.restore()

    assert result.returncode == 0, result.stderr
    assert not (space.home / "user-default-efs").is_symlink()
    assert not (space.home / "custom-file-systems").exists()


def test_restore_refuses_a_backup_folder_that_is_a_symlink(space: Space) -> None:
    elsewhere = space.root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret").write_text("x")
    space.backup.parent.mkdir(parents=True)
    space.backup.symlink_to(elsewhere)

    result = space.restore()

    assert result.returncode == 2
    assert "is a symbolic link" in result.stderr
    assert not (space.home / "secret").exists()
