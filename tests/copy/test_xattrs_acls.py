"""Extended attributes and POSIX ACLs are copied; what the target cannot hold is reported.

The hole (issue 9, point 6): xattrs and ACLs were dropped without a word, so users
granted access by an ACL lost it after a failover copy.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.fencing import RECOVERY_ROOT
from controller.fs.copy import copy_tree
from controller.fs.salvage import save_unreplicated
from tests.copy.conftest import IS_ROOT, OLD_NS

ACL = "system.posix_acl_access"
DEFAULT_ACL = "system.posix_acl_default"


def xattrs(path: Path) -> dict[str, bytes]:
    names = os.listxattr(path, follow_symlinks=False)
    return {name: os.getxattr(path, name, follow_symlinks=False) for name in names}


def setfacl(*args: str) -> None:
    subprocess.run(["setfacl", *args], check=True)


def make_tree(src: Path) -> None:
    (src / "shared").mkdir(parents=True)
    (src / "shared/report.txt").write_text("granted by ACL\n")
    os.chmod(src / "shared/report.txt", 0o640)
    setfacl("-m", "u:4242:rw", str(src / "shared/report.txt"))
    setfacl("-d", "-m", "u:4242:rwx", str(src / "shared"))  # inherited by new files
    setfacl("-m", "g:4343:rx", str(src / "shared"))
    (src / "notes.md").write_text("tagged\n")
    os.setxattr(src / "notes.md", "user.origin", b"lab-7")
    os.setxattr(src / "notes.md", "user.empty", b"")
    if IS_ROOT:
        os.setxattr(src / "notes.md", "trusted.checked", b"yes")
        os.setxattr(src / "notes.md", "security.review", b"ok")
        os.symlink("notes.md", src / "link")
        os.setxattr(src / "link", "trusted.on-the-link", b"1", follow_symlinks=False)
        os.mkfifo(src / "pipe")
        os.setxattr(src / "pipe", "trusted.on-the-pipe", b"2")
    for path in (src / "shared/report.txt", src / "notes.md", src / "shared", src):
        os.utime(path, ns=(OLD_NS, OLD_NS), follow_symlinks=False)


def all_xattrs(root: Path) -> dict[str, dict[str, bytes]]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = xattrs(path)
    return found


def test_xattrs_and_acls_are_copied_and_a_re_run_changes_nothing(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    report = copy_tree(src, dst)
    assert report.ok and report.not_kept == (), report
    assert all_xattrs(dst) == all_xattrs(src)
    assert xattrs(dst / "shared/report.txt")[ACL] == xattrs(src / "shared/report.txt")[ACL]
    assert DEFAULT_ACL in xattrs(dst / "shared")
    assert (dst / "shared/report.txt").stat().st_mode == (
        src / "shared/report.txt").stat().st_mode
    again = copy_tree(src, dst)
    assert again.ok and again.metadata_fixed == 0 and again.files_copied == 0


def test_an_acl_changed_or_removed_in_the_source_follows_on_a_re_run(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    assert copy_tree(src, dst).ok
    setfacl("-b", str(src / "shared/report.txt"))  # access revoked: ctime moves, not mtime
    os.setxattr(src / "notes.md", "user.origin", b"lab-8")
    report = copy_tree(src, dst)
    assert report.ok and report.metadata_fixed == 2 and report.files_copied == 0
    assert all_xattrs(dst) == all_xattrs(src)
    assert ACL not in xattrs(dst / "shared/report.txt")


def test_a_file_new_in_a_target_folder_with_a_default_acl_gets_exactly_the_sources(tmp_path):
    # The target folder's default ACL would give the new file an ACL the source lacks.
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (src / "d/plain").write_text("no ACL here\n")
    os.chmod(src / "d/plain", 0o644)
    (dst / "d").mkdir(parents=True)
    setfacl("-d", "-m", "u:4242:rwx", str(dst / "d"))
    report = copy_tree(src, dst)
    assert report.ok
    assert xattrs(dst / "d/plain") == {}
    assert (dst / "d/plain").stat().st_mode == (src / "d/plain").stat().st_mode


@pytest.fixture
def no_xattr_target(tmp_path: Path) -> Iterator[Path]:
    """A ramfs: a file system with no extended attributes (and so no ACLs) at all."""
    if not IS_ROOT:
        pytest.skip("mounting a file system needs root")
    point = tmp_path / "ramfs"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", "ramfs", "none", str(point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:  # a container without CAP_SYS_ADMIN
        pytest.skip(f"cannot mount a ramfs here: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_what_the_target_cannot_hold_is_reported_entry_by_entry(tmp_path, no_xattr_target):
    src = tmp_path / "src"
    make_tree(src)
    report = copy_tree(src, no_xattr_target / "dst")
    assert report.errors == () and report.files_copied >= 2
    lost = {(entry.path, entry.message.split(" not kept")[0]) for entry in report.not_kept}
    assert ("shared/report.txt", "ACL") in lost
    assert ("shared", "default ACL") in lost and ("shared", "ACL") in lost
    assert ("notes.md", "xattr user.origin") in lost
    assert all("does not support" in entry.message for entry in report.not_kept)
    assert (no_xattr_target / "dst/shared/report.txt").read_text() == "granted by ACL\n"


def test_the_failback_save_keeps_xattrs_and_acls(tmp_path):
    old, active = tmp_path / "old", tmp_path / "active"
    make_tree(old)
    active.mkdir()
    report = save_unreplicated(old, active, "F")
    assert not report.errors
    saved = active / RECOVERY_ROOT / "F"
    assert xattrs(saved / "shared/report.txt") == xattrs(old / "shared/report.txt")
    assert xattrs(saved / "notes.md") == xattrs(old / "notes.md")
    assert xattrs(saved / "shared") == xattrs(old / "shared")
