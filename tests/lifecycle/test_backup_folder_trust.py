"""The scripts trust no backup folder another user could have changed.

Attack seen: with a backup folder writable by another user, a racing symlink sent
alice's restore into the attacker's folder and copied the attacker's .bashrc into her
home, exit 0. The scripts refuse a backup folder that is not owned by the user running
them (the backup root may also be root's) or that group or others can write, and copy
through the directory they opened and checked, never a path looked up again later.
"""

from __future__ import annotations

import os

import pytest

from tests.lifecycle.conftest import Space, copy_tool, with_wrapper

ATTACKER = 4242


def alices_backup(space: Space) -> None:
    space.backup.mkdir(parents=True)
    (space.backup / ".bashrc").write_text("# mine\n")
    (space.backup / "work.ipynb").write_text("{}")


@pytest.mark.parametrize("folder", ["share", "profile", "space"])
@pytest.mark.parametrize("kind", ["backup", "restore"])
def test_a_backup_folder_others_can_write_is_refused(space: Space, folder: str,
                                                     kind: str) -> None:
    alices_backup(space)
    (space.home / "new.txt").write_text("new") if kind == "backup" else None
    target = {"share": space.share, "profile": space.backup.parent, "space": space.backup}
    os.chmod(target[folder], 0o777 if folder != "space" else 0o720)

    result = space.backup_now() if kind == "backup" else space.restore()

    assert result.returncode == 2, result.stderr
    assert f"{target[folder]} is writable by group or others" in result.stderr
    assert not (space.backup / "new.txt").exists()
    assert not (space.home / "work.ipynb").exists()


@pytest.mark.parametrize("folder", ["profile", "space"])
@pytest.mark.parametrize("kind", ["backup", "restore"])
def test_a_backup_folder_owned_by_someone_else_is_refused(space: Space, folder: str,
                                                          kind: str) -> None:
    alices_backup(space)
    (space.home / "new.txt").write_text("new") if kind == "backup" else None
    target = space.backup.parent if folder == "profile" else space.backup
    os.chown(target, ATTACKER, ATTACKER)

    result = space.backup_now() if kind == "backup" else space.restore()

    assert result.returncode == 2, result.stderr
    assert f"{target} is owned by uid {ATTACKER}" in result.stderr
    assert not (space.backup / "new.txt").exists()
    assert not (space.home / "work.ipynb").exists()


def test_a_backup_root_owned_by_another_user_is_refused(space: Space) -> None:
    alices_backup(space)
    os.chown(space.share, ATTACKER, ATTACKER)

    result = space.restore()

    assert result.returncode == 2
    assert f"{space.share} is owned by uid {ATTACKER}" in result.stderr
    assert not (space.home / "work.ipynb").exists()


# When the race is run: as the copy starts, or as the scripts make their temporary list
# of exclusions (after their checks, before the copy).
RACES = ["copy", "mktemp"]


def _swap_on(space: Space, race: str, folder: str) -> str:
    """A command that, the first time it runs, moves `folder` aside and puts the
    attacker's own folder in its place: the race, won at the worst moment."""
    flag = space.root / "swapped"
    tool = copy_tool(space) if race == "copy" else "mktemp"
    return with_wrapper(space, tool, f"""
if [[ ! -e {flag} ]]; then
  : > {flag}
  mv {folder} {folder}.moved
  mkdir {folder}
  printf 'attacker\\n' > {folder}/.bashrc
  chown -R {ATTACKER}:{ATTACKER} {folder}
fi
exec "$REAL" "$@"
""")


@pytest.mark.parametrize("race", RACES)
def test_restore_copies_from_the_folder_it_checked_even_if_it_is_swapped(
        space: Space, race: str) -> None:
    alices_backup(space)
    path = _swap_on(space, race, str(space.backup))

    result = space.restore(PATH=path)

    assert (space.root / "swapped").exists(), "the race was not run"
    assert (space.home / ".bashrc").read_text() == "# mine\n"
    assert (space.home / "work.ipynb").read_text() == "{}"
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("race", RACES)
def test_backup_writes_into_the_folder_it_checked_even_if_it_is_swapped(
        space: Space, race: str) -> None:
    space.backup.mkdir(parents=True)
    (space.home / "secret.txt").write_text("alice's")
    path = _swap_on(space, race, str(space.backup))

    result = space.backup_now(PATH=path)

    assert (space.root / "swapped").exists(), "the race was not run"
    assert not (space.backup / "secret.txt").exists(), "alice's file went to the attacker"
    moved = space.backup.parent / f"{space.backup.name}.moved"
    assert (moved / "secret.txt").read_text() == "alice's"
    assert result.returncode == 0, result.stderr
