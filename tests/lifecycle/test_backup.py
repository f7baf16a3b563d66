"""The backup script copies a space's home into the backup share, and keeps doing so."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

from tests.lifecycle.conftest import FS_ID, Space

OLD = 1_000_000_000  # 2001-09-09, far from "now"


def populate_home(home: Path) -> None:
    (home / "notebooks" / "deep").mkdir(parents=True)
    (home / "notebooks" / "analysis.ipynb").write_text('{"cells": []}')
    (home / "notebooks" / "deep" / "data.csv").write_text("a,b\n1,2\n")
    (home / ".bashrc").write_text("export EDITOR=vim\n")
    (home / ".config" / "tool").mkdir(parents=True)
    (home / ".config" / "tool" / "settings.json").write_text("{}")
    (home / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(home / "run.sh", 0o750)
    os.chmod(home / "notebooks" / "deep" / "data.csv", 0o640)
    os.chmod(home / "notebooks" / "deep", 0o700)
    (home / "latest.csv").symlink_to("notebooks/deep/data.csv")
    os.utime(home / "notebooks" / "analysis.ipynb", (OLD, OLD))
    os.utime(home / "notebooks" / "deep", (OLD, OLD))


def test_backup_copies_dotfiles_nested_dirs_links_modes_and_mtimes(space: Space) -> None:
    populate_home(space.home)

    result = space.backup_now()

    assert result.returncode == 0, result.stderr
    backup = space.backup
    assert backup == space.mount_root / "efs" / FS_ID / "backups" / "alice" / "alice-lab"
    assert (backup / ".bashrc").read_text() == "export EDITOR=vim\n"
    assert (backup / ".config" / "tool" / "settings.json").read_text() == "{}"
    assert (backup / "notebooks" / "deep" / "data.csv").read_text() == "a,b\n1,2\n"
    assert (backup / "latest.csv").is_symlink()
    assert os.readlink(backup / "latest.csv") == "notebooks/deep/data.csv"
    assert stat.S_IMODE((backup / "run.sh").stat().st_mode) == 0o750
    assert stat.S_IMODE((backup / "notebooks" / "deep" / "data.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE((backup / "notebooks" / "deep").stat().st_mode) == 0o700
    assert int((backup / "notebooks" / "analysis.ipynb").stat().st_mtime) == OLD
    assert int((backup / "notebooks" / "deep").stat().st_mtime) == OLD
    assert f"backed up {space.home} to {backup}" in result.stderr


def test_second_backup_picks_up_changed_and_new_files(space: Space) -> None:
    populate_home(space.home)
    assert space.backup_now().returncode == 0
    (space.home / "notebooks" / "analysis.ipynb").write_text('{"cells": [1]}')
    (space.home / "notebooks" / "new.py").write_text("print('new')\n")

    result = space.backup_now()

    assert result.returncode == 0, result.stderr
    assert (space.backup / "notebooks" / "analysis.ipynb").read_text() == '{"cells": [1]}'
    assert (space.backup / "notebooks" / "new.py").read_text() == "print('new')\n"


def test_backup_never_deletes_from_the_backup(space: Space) -> None:
    (space.home / "keep.txt").write_text("v1")
    assert space.backup_now().returncode == 0
    (space.home / "keep.txt").rename(space.home / "renamed.txt")

    assert space.backup_now().returncode == 0

    assert (space.backup / "keep.txt").read_text() == "v1"
    assert (space.backup / "renamed.txt").read_text() == "v1"


def test_backup_leaves_out_custom_file_system_mounts_and_links_into_them(space: Space) -> None:
    mounted = space.mount_root / "efs" / "fs-0fedcba9876543210"
    mounted.mkdir(parents=True)
    (mounted / "big-dataset.bin").write_text("not ours to copy")
    # Studio's own layout: a folder of links into the mounts, and the auto-mounted EFS.
    (space.home / "custom-file-systems" / "efs").mkdir(parents=True)
    (space.home / "custom-file-systems" / "efs" / "fs-0fedcba9876543210").symlink_to(mounted)
    (space.home / "user-default-efs").symlink_to(mounted)
    # A user's own link into a mount, and a folder something is mounted on.
    (space.home / "project").mkdir()
    (space.home / "project" / "data").symlink_to(mounted / "big-dataset.bin")
    (space.home / "project" / "code.py").write_text("x = 1\n")
    (space.home / "scratch mount" / "inner").mkdir(parents=True)
    (space.home / "scratch mount" / "inner" / "file").write_text("on another file system")
    (space.home / "lost+found").mkdir()
    mount_point = str(space.home / "scratch mount").replace(" ", "\\040")
    space.mountinfo.write_text(
        f"36 25 0:32 / {space.home} rw,relatime - ext4 /dev/nvme1n1 rw\n"
        f"90 36 0:50 / {mount_point} rw,relatime - nfs4 127.0.0.1:/ rw\n")

    result = space.backup_now()

    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in space.backup.iterdir())
    assert names == ["project"]
    assert sorted(p.name for p in (space.backup / "project").iterdir()) == ["code.py"]


def test_backup_finds_a_mount_made_through_an_access_point(make_space, copier) -> None:
    space: Space = make_space(copier)
    through_access_point = space.mount_root / "efs" / f"{FS_ID}_fsap-0123456789abcdef0"
    (space.mount_root / "efs" / FS_ID).rename(through_access_point)
    (space.home / "a.txt").write_text("a")

    result = space.backup_now()

    assert result.returncode == 0, result.stderr
    assert (through_access_point / "backups" / "alice" / "alice-lab" / "a.txt").exists()


def test_backup_without_the_share_mounted_is_a_logged_no_op(space: Space) -> None:
    (space.mount_root / "efs" / FS_ID).rename(space.root / "elsewhere")
    (space.home / "a.txt").write_text("a")

    result = space.backup_now()

    assert result.returncode == 0, result.stderr
    assert f"file system {FS_ID} is not mounted" in result.stderr


def test_shared_space_backs_up_under_the_shared_spaces_folder(space: Space) -> None:
    space.write_metadata(UserProfileName="")
    (space.home / "a.txt").write_text("a")

    assert space.backup_now().returncode == 0

    assert (space.share / "_shared-spaces" / "alice-lab" / "a.txt").read_text() == "a"


def test_backup_runs_in_the_background_and_repeats(space: Space) -> None:
    (space.home / "a.txt").write_text("first")
    started = time.monotonic()

    result = space.backup_now(STUDIO_OPERATOR_FOREGROUND="0",
                              STUDIO_OPERATOR_INTERVAL_SECONDS="1")

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 5
    pid = int((space.state / "backup.pid").read_text())
    try:
        wait_for(lambda: (space.backup / "a.txt").exists()
                 and (space.backup / "a.txt").read_text() == "first")
        (space.home / "a.txt").write_text("second")
        (space.home / "later.txt").write_text("later")
        wait_for(lambda: (space.backup / "later.txt").exists()
                 and (space.backup / "a.txt").read_text() == "second")
    finally:
        os.killpg(pid, signal.SIGTERM)  # the loop leads its own process group
    log = (space.state / "backup.log").read_text()
    assert "backup loop started" in log and "backed up" in log


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
