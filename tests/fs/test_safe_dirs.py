"""Share directories are made as root without following links or leaving the share."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from controller.fs.safe_dirs import UnsafePathError, ensure_directory

IS_ROOT = os.geteuid() == 0


def _owner_mode(path: Path) -> tuple[int, int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def _want_owner() -> tuple[int, int]:
    # As root the operator gives the directory to the user; otherwise it keeps ours.
    return (200101, 1001) if IS_ROOT else (os.getuid(), os.getgid())


def test_a_missing_share_directory_is_created_with_root_owned_parents(tmp_path):
    uid, gid = _want_owner()
    result = ensure_directory(tmp_path, "/home/research/alice", uid, gid, 0o700)
    assert result.created
    assert _owner_mode(tmp_path / "home/research/alice") == (uid, gid, 0o700)
    assert stat.S_IMODE(os.lstat(tmp_path / "home").st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(tmp_path / "home/research").st_mode) == 0o755


def test_creating_twice_changes_nothing_the_second_time(tmp_path):
    uid, gid = _want_owner()
    ensure_directory(tmp_path, "/teams/research", uid, gid, 0o2770)
    again = ensure_directory(tmp_path, "/teams/research", uid, gid, 0o2770)
    assert not again.created
    assert _owner_mode(tmp_path / "teams/research") == (uid, gid, 0o2770)


def test_a_wrong_mode_is_corrected_without_touching_what_is_inside(tmp_path):
    uid, gid = _want_owner()
    home = tmp_path / "home/alice"
    home.mkdir(parents=True, mode=0o777)
    os.chmod(home, 0o777)
    (home / "notebook.ipynb").write_text("{}")
    os.chmod(home / "notebook.ipynb", 0o640)
    before = _owner_mode(home / "notebook.ipynb")
    ensure_directory(tmp_path, "/home/alice", uid, gid, 0o700)
    assert _owner_mode(home)[2] == 0o700
    assert _owner_mode(home / "notebook.ipynb") == before


def test_a_symlink_planted_where_the_directory_should_be_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    os.chmod(outside, 0o755)
    before = _owner_mode(outside)
    share = tmp_path / "share"
    (share / "home").mkdir(parents=True)
    (share / "home" / "alice").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="/home/alice is a symlink"):
        ensure_directory(share, "/home/alice", 200101, 1001, 0o700)
    assert _owner_mode(outside) == before


def test_a_symlink_on_the_way_to_the_directory_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    share = tmp_path / "share"
    share.mkdir()
    (share / "teams").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="/teams is a symlink"):
        ensure_directory(share, "/teams/research", 200101, 1001, 0o2770)
    assert list(outside.iterdir()) == []


def test_a_file_where_the_directory_should_be_is_refused(tmp_path):
    (tmp_path / "home").write_text("not a directory")
    with pytest.raises(UnsafePathError, match="/home is a file"):
        ensure_directory(tmp_path, "/home/alice", 200101, 1001, 0o700)


@pytest.mark.parametrize("path", ["/home/../etc", "home/alice", "/", "/a/./b", "/a\\b"])
def test_paths_that_could_leave_the_share_are_refused_before_any_io(tmp_path, path):
    with pytest.raises(UnsafePathError):
        ensure_directory(tmp_path, path, 200101, 1001, 0o700)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not IS_ROOT, reason="needs root to drop to another user")
def test_without_root_the_ownership_that_could_not_be_set_is_reported():
    """Runs the operation in a child that has dropped to an unprivileged user."""
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="studio-op-nonroot-"))
    os.chmod(top, 0o755)
    share = top / "share"
    share.mkdir()
    os.chown(share, 65534, 65534)
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from controller.fs.safe_dirs import ensure_directory\n"
        "os.setgid(65534); os.setuid(65534)\n"
        f"r = ensure_directory(Path({str(share)!r}), '/home/alice', 200101, 1001, 0o700)\n"
        "print(r.ownership_not_set)\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == (
            "/home/alice: owner 200101:1001 not set (not running as root)")
        assert _owner_mode(share / "home/alice") == (65534, 65534, 0o700)
    finally:
        shutil.rmtree(top)
