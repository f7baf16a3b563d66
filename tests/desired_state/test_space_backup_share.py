"""A space-backup share's root is the operator's: the lifecycle scripts refuse a backup
root that group or others can write or that a user owns, so validation refuses a share
that would make one."""

from __future__ import annotations

from pathlib import Path

from controller.desired import load_desired_state, validate_path
from controller.model import ROOT, SHARED_SPACES_FOLDER
from tests.desired_state.helpers import line_of, the_problem
from tests.example_estate import turn_on_space_backup


def _backups(estate: Path, mode: str = "0755", owner: str = "") -> Path:
    return turn_on_space_backup(estate, mode=mode, extra=owner, file_name="zz-backups.yaml")


def test_a_backup_share_others_can_write_is_refused_at_its_mode(estate: Path) -> None:
    share = _backups(estate, mode="0775")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(share), line_of(share, "mode:"), "spec.mode")
    assert "writable by group or others" in problem.message


def test_a_backup_share_with_an_owner_is_refused_at_its_owner(estate: Path) -> None:
    share = _backups(estate, owner="  owner: {uid: 200101, gid: 1001}\n")
    problem = the_problem(estate)
    assert (problem.file, problem.field) == (str(share), "spec.owner")
    assert "owned by root" in problem.message


def test_the_backup_root_is_roots_and_each_profile_and_shared_spaces_get_a_folder(
        estate: Path) -> None:
    _backups(estate)
    assert validate_path(estate) == []
    desired = load_desired_state(estate)
    folders = {d.path: d for d in desired.share_directories()
               if d.path.startswith("/backups/")}
    assert folders["/backups/research"].owner == ROOT
    assert folders["/backups/research"].mode == 0o755
    shared = folders[f"/backups/research/{SHARED_SPACES_FOLDER}"]
    assert (shared.owner, shared.mode, shared.profile) == (
        desired.domains["research"].default_posix, 0o700, None)
    alice = folders["/backups/research/alice"]
    assert (alice.owner.uid, alice.mode, alice.profile) == (200101, 0o700, "research/alice")
