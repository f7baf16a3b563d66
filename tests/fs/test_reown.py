"""A uid/gid change re-owns a user's whole tree: what was theirs under the old ids,
through pinned descriptors, never through a link, never someone else's entry."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from controller.fs.reown import ReownReport, reown_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")

OLD, NEW, TEAM = (200101, 1001), (200999, 2002), 3003
BOB = (200102, 1001)


def _own(path: Path, ids: tuple[int, int]) -> None:
    os.chown(path, *ids, follow_symlinks=False)


def _ids(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid


def _reown(home: Path, apply: bool = True) -> ReownReport:
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        return reown_tree(fd, OLD, NEW, apply)
    finally:
        os.close(fd)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """alice's home under her old ids: files, folders, a link, a FIFO, a setuid tool,
    a file she shares with her team's group, and one of bob's files."""
    home = tmp_path / "alice"
    (home / "notebooks" / "deep").mkdir(parents=True)
    (home / "notebooks" / "a.ipynb").write_text("{}")
    (home / "notebooks" / "deep" / "data.csv").write_text("1,2\n")
    (home / "tool").write_text("#!/bin/sh\n")
    os.chmod(home / "tool", 0o4755)
    (home / "shared.txt").write_text("team")
    (home / "latest").symlink_to("notebooks/a.ipynb")
    os.mkfifo(home / "pipe")
    (home / "from-bob.txt").write_text("bob's")
    for path in [home, *home.rglob("*")]:
        _own(path, OLD)
    _own(home / "shared.txt", (OLD[0], TEAM))
    _own(home / "from-bob.txt", BOB)
    os.chmod(home / "tool", 0o4755)  # the chown above cleared it
    return home


def test_everything_the_user_owned_gets_the_new_ids_and_the_rest_is_left(home: Path) -> None:
    report = _reown(home)

    for name in ("notebooks", "notebooks/a.ipynb", "notebooks/deep",
                 "notebooks/deep/data.csv", "tool", "latest", "pipe"):
        assert _ids(home / name) == NEW, name
    assert _ids(home / "shared.txt") == (NEW[0], TEAM), "a group she chose is kept"
    assert _ids(home / "from-bob.txt") == BOB, "someone else's file is never taken"
    assert stat.S_IMODE(os.lstat(home / "tool").st_mode) == 0o4755
    assert _ids(home) == OLD, "the top folder is the caller's, done last"
    assert (report.reowned, report.others, report.linked) == (8, 1, 0)
    assert report.examples == ["'from-bob.txt' (200102:1001)"]


def test_a_link_is_re_owned_itself_and_its_target_is_never_touched(home: Path,
                                                                  tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("root's")
    _own(outside, OLD)  # even a target owned by the old ids: not through a link
    (home / "escape").symlink_to(outside)
    _own(home / "escape", OLD)

    _reown(home)

    assert _ids(home / "escape") == NEW
    assert _ids(outside) == OLD


def test_a_file_with_a_link_outside_the_tree_is_left_and_counted(home: Path,
                                                                 tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    os.link(home / "notebooks" / "a.ipynb", outside)
    os.link(home / "notebooks" / "deep" / "data.csv", home / "data-again.csv")

    report = _reown(home)

    assert _ids(outside) == OLD and _ids(home / "notebooks" / "a.ipynb") == OLD
    assert _ids(home / "data-again.csv") == NEW, "both links inside: re-owned"
    assert report.linked == 1


def test_counting_changes_nothing_and_counts_what_applying_does(home: Path) -> None:
    before = {p: _ids(p) for p in home.rglob("*")}

    counted = _reown(home, apply=False)

    assert {p: _ids(p) for p in home.rglob("*")} == before
    applied = _reown(home)
    assert (counted.reowned, counted.others) == (applied.reowned, applied.others)
    again = _reown(home, apply=False)
    assert (again.reowned, again.current, again.others) == (0, 8, 1)


def test_a_tree_thousands_deep_is_walked_with_few_descriptors(tmp_path: Path) -> None:
    # In a child process whose open-file limit is 64: a walk that kept one descriptor
    # per level would fail, as would one that recursed per level (RecursionError).
    script = f"""
import os, resource, sys
from controller.fs.reown import reown_tree
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
top = os.open({str(tmp_path)!r}, os.O_RDONLY | os.O_DIRECTORY)
fd = os.dup(top)
for level in range(3000):
    os.mkdir("d", dir_fd=fd)
    with open(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd), "w") as f:
        f.write("x")
    os.chown("f", *{OLD}, dir_fd=fd)
    os.chown("d", *{OLD}, dir_fd=fd)
    nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nxt
os.close(fd)
report = reown_tree(top, {OLD}, {NEW})
deep = os.open("/".join(["d"] * 20), os.O_RDONLY | os.O_DIRECTORY, dir_fd=top)
print(report.reowned, report.skipped, os.stat("f", dir_fd=deep).st_uid)
# Take the chain apart from the top, two levels at a time (a recursive removal, such as
# pytest's, would hit Python's recursion limit).
while True:
    try:
        os.rename("d/d", "next", src_dir_fd=top, dst_dir_fd=top)
    except FileNotFoundError:
        break
    os.unlink("d/f", dir_fd=top)
    os.rmdir("d", dir_fd=top)
    os.rename("next", "d", src_dir_fd=top, dst_dir_fd=top)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, check=False, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["6000", "0", str(NEW[0])]
