"""A target entry that is a hard link the copy did not make is never changed in place.

The attack (issue 9, point 1): a user replaces a target file that already has the right
size and mtime with a hard link to a teammate's group-writable file. Fixing the metadata
"in place" would then chown/chmod the teammate's inode (setuid, owned by the attacker).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from controller.fs.copy import copy_tree
from tests.copy.conftest import IS_ROOT, OLD_NS

ATTACKER, TEAMMATE, TEAM = 6666, 7001, 1001

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="the attack needs other users' files")


def plant_link_to_teammate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A source file of the attacker's (setuid, 04777), its copy, and a teammate's file
    of the same size and mtime hard-linked in place of that copy."""
    src, dst, team = tmp_path / "src", tmp_path / "dst", tmp_path / "team"
    src.mkdir()
    team.mkdir()
    tool = src / "tool"
    tool.write_bytes(b"#!/bin/sh\nid\n")
    os.chown(tool, ATTACKER, ATTACKER)
    os.chmod(tool, 0o4777)
    os.utime(tool, ns=(OLD_NS, OLD_NS))
    assert copy_tree(src, dst).ok
    shared = team / "results.csv"
    shared.write_bytes(b"a,b\n1,2\n3,45\n")  # the same size as the tool
    assert shared.stat().st_size == tool.stat().st_size
    os.chown(shared, TEAMMATE, TEAM)
    os.chmod(shared, 0o660)
    os.utime(shared, ns=(OLD_NS, OLD_NS))  # the same mtime as the tool
    os.unlink(dst / "tool")
    os.link(shared, dst / "tool")
    return src, dst, shared


def test_a_hard_link_planted_in_the_target_is_replaced_and_its_inode_left_alone(tmp_path):
    src, dst, shared = plant_link_to_teammate(tmp_path)
    report = copy_tree(src, dst)
    assert report.ok, report.errors
    victim = os.lstat(shared)
    assert (oct(stat.S_IMODE(victim.st_mode)), victim.st_uid, victim.st_gid) == (
        "0o660", TEAMMATE, TEAM), "the teammate's file must keep its owner and mode"
    assert shared.read_bytes() == b"a,b\n1,2\n3,45\n"
    copied = os.lstat(dst / "tool")
    assert copied.st_ino != victim.st_ino and copied.st_nlink == 1
    assert (dst / "tool").read_bytes() == (src / "tool").read_bytes()
    assert (oct(stat.S_IMODE(copied.st_mode)), copied.st_uid) == ("0o4777", ATTACKER)
    assert victim.st_nlink == 1  # the planted name now names the new copy


def test_a_planted_hard_link_to_a_symlink_or_fifo_is_replaced_too(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    os.mkfifo(src / "pipe")
    os.chown(src / "pipe", ATTACKER, ATTACKER)
    os.utime(src / "pipe", ns=(OLD_NS, OLD_NS))
    assert copy_tree(src, dst).ok
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.mkfifo(elsewhere / "theirs", 0o600)
    os.chown(elsewhere / "theirs", TEAMMATE, TEAM)
    os.utime(elsewhere / "theirs", ns=(OLD_NS, OLD_NS))
    os.unlink(dst / "pipe")
    os.link(elsewhere / "theirs", dst / "pipe")
    assert copy_tree(src, dst).ok
    theirs = os.lstat(elsewhere / "theirs")
    assert (theirs.st_uid, stat.S_IMODE(theirs.st_mode), theirs.st_nlink) == (
        TEAMMATE, 0o600, 1)
    assert os.lstat(dst / "pipe").st_uid == ATTACKER


def test_hard_links_the_copy_made_itself_still_get_a_metadata_fix(source, tmp_path):
    # The links inside the copy are the source's grouping: after a mode change in the
    # source the group is brought in line (as one inode), whatever way is used.
    dst = tmp_path / "dst"
    assert copy_tree(source, dst).ok
    os.chmod(source / "home/alice/.conda/pkgs/lib.so", 0o444)
    report = copy_tree(source, dst)
    assert report.ok, report.errors
    names = [dst / "home/alice/.conda/pkgs/lib.so", dst / "home/alice/.conda/envs/lib.so",
             dst / "home/alice/.conda/lib-again.so"]
    inodes = {os.lstat(name).st_ino for name in names}
    assert len(inodes) == 1 and os.lstat(names[0]).st_nlink == 3
    assert stat.S_IMODE(os.lstat(names[0]).st_mode) == 0o444
