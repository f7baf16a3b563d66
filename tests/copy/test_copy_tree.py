"""copy_tree preserves everything, re-runs cheaply, and never follows or deletes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from controller.fs.copy import CopyRefused, Progress, copy_tree
from controller.fs.copy.walk import LARGE_FILE
from tests.copy.conftest import IS_ROOT, OLD_NS


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything the engine promises to preserve, per relative path."""
    seen: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(info.st_mode):
                extra: object = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                extra = (Path(path).read_bytes(), inodes.setdefault(info.st_ino, rel))
            else:
                extra = None
            seen[rel] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                         info.st_uid, info.st_gid, info.st_mtime_ns, extra)
    return seen


def test_a_full_copy_preserves_content_modes_owners_mtimes_and_links(source, tmp_path):
    dst = tmp_path / "dst"
    report = copy_tree(source, dst, workers=4)
    assert report.errors == () and report.conflicts == ()
    assert snapshot(dst) == snapshot(source)
    assert report.files_copied == 4 and report.hard_links_made == 2
    assert report.symlinks_created == 3 and report.special_files_created == 1
    assert report.bytes_copied == 14_000 + 6 + 70_000
    assert os.lstat(dst / "home/alice/notebook.ipynb").st_mtime_ns % 1000 != 0
    assert stat.S_IMODE(os.lstat(dst / "teams/research").st_mode) == 0o2775
    assert stat.S_IMODE(os.lstat(dst / "teams").st_mode) == 0o1777
    assert report.owners_not_set is not IS_ROOT
    if IS_ROOT:
        assert os.lstat(dst / "home/alice/secret").st_uid == 200001


def test_hard_links_are_the_same_grouping_in_the_target(source, tmp_path):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    names = [dst / "home/alice/.conda/pkgs/lib.so", dst / "home/alice/.conda/envs/lib.so",
             dst / "home/alice/.conda/lib-again.so"]
    assert len({os.lstat(name).st_ino for name in names}) == 1
    assert os.lstat(names[0]).st_nlink == 3
    assert os.lstat(names[0]).st_ino != os.lstat(source / "home/alice/.conda/lib-again.so").st_ino


def test_symlinks_are_copied_as_links_and_never_followed(source, tmp_path, outside):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    assert os.readlink(dst / "home/alice/escape") == str(outside)
    assert os.readlink(dst / "home/alice/dangling") == "does/not/exist"
    assert os.readlink(dst / "home/alice/relative-link") == "notebook.ipynb"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]


def test_a_re_run_copies_nothing_and_reports_everything_up_to_date(source, tmp_path):
    dst = tmp_path / "dst"
    first = copy_tree(source, dst)
    before = snapshot(dst)
    again = copy_tree(source, dst)
    assert (again.files_copied, again.bytes_copied, again.directories_created,
            again.symlinks_created, again.hard_links_made, again.metadata_fixed) == (
        0, 0, 0, 0, 0, 0)
    entries = sum(len(d) + len(f) for _, d, f in os.walk(source))
    assert again.up_to_date == entries + 1  # every entry and the root directory
    assert first.up_to_date == 0 and again.ok
    assert snapshot(dst) == before


def test_a_changed_file_is_copied_again(source, tmp_path):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    notebook = source / "home/alice/notebook.ipynb"
    notebook.write_bytes(b'{"cells": [1]}\n')
    edited_ns = OLD_NS + 86_400 * 10**9 + 5  # a day later, still in the past
    os.utime(notebook, ns=(edited_ns, edited_ns))
    report = copy_tree(source, dst)
    assert report.files_copied == 1 and report.bytes_copied == 15
    assert (dst / "home/alice/notebook.ipynb").read_bytes() == b'{"cells": [1]}\n'
    assert snapshot(dst) == snapshot(source)


def test_a_metadata_only_change_is_fixed_without_copying_content(source, tmp_path):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    target = dst / "home/alice/secret"
    inode = os.lstat(target).st_ino
    # Same size and mtime but different bytes: proves the content is not read again.
    target.write_bytes(b"SECRET")
    os.utime(target, ns=(OLD_NS, os.lstat(source / "home/alice/secret").st_mtime_ns))
    os.chmod(source / "home/alice/secret", 0o400)
    os.chmod(dst / "teams", 0o755)
    report = copy_tree(source, dst)
    assert report.files_copied == 0 and report.metadata_fixed == 2
    assert os.lstat(target).st_ino == inode and target.read_bytes() == b"SECRET"
    assert stat.S_IMODE(os.lstat(target).st_mode) == 0o400
    assert stat.S_IMODE(os.lstat(dst / "teams").st_mode) == 0o1777


def test_a_newer_target_file_is_a_conflict_left_alone(source, tmp_path):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    edited = dst / "home/alice/notebook.ipynb"
    edited.write_text("edited in the other region")  # now: newer than the source
    report = copy_tree(source, dst)
    assert report.conflicts == ("home/alice/notebook.ipynb",)
    assert not report.ok and report.files_copied == 0
    assert edited.read_text() == "edited in the other region"


def test_overwrite_newer_replaces_the_newer_target_and_still_reports_it(source, tmp_path):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    (dst / "home/alice/notebook.ipynb").write_text("edited in the other region")
    report = copy_tree(source, dst, overwrite_newer=True)
    assert report.conflicts == ("home/alice/notebook.ipynb",) and report.ok
    assert report.files_copied == 1
    assert snapshot(dst) == snapshot(source)


def test_a_symlink_planted_where_a_directory_belongs_is_not_followed(source, tmp_path,
                                                                    outside):
    dst = tmp_path / "dst"
    (dst / "home").mkdir(parents=True)
    (dst / "home/alice").symlink_to(outside)
    report = copy_tree(source, dst)
    assert [e.path for e in report.errors] == ["home/alice"]
    assert "symlink" in report.errors[0].message
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_text() == "must not change"
    assert (dst / "teams/research/empty").exists()  # the rest was still copied


def test_a_symlink_planted_in_place_of_a_file_is_replaced_not_written_through(
        source, tmp_path, outside):
    dst = tmp_path / "dst"
    (dst / "home/alice").mkdir(parents=True)
    (dst / "home/alice/secret").symlink_to(outside / "victim")
    os.utime(dst / "home/alice/secret", ns=(1, 1), follow_symlinks=False)  # older
    report = copy_tree(source, dst)
    assert report.ok, report.errors
    assert (outside / "victim").read_text() == "must not change"
    assert not (dst / "home/alice/secret").is_symlink()


def test_extra_entries_in_the_target_are_left_and_counted(source, tmp_path):
    dst = tmp_path / "dst"
    (dst / "home/alice/only-here").mkdir(parents=True)
    (dst / "keep.txt").write_text("mine")
    report = copy_tree(source, dst)
    assert report.extra == 2
    assert (dst / "keep.txt").read_text() == "mine"
    assert (dst / "home/alice/only-here").is_dir()


def test_a_dry_run_changes_nothing_and_says_what_would_be_copied(source, tmp_path):
    dst = tmp_path / "dst"
    report = copy_tree(source, dst, dry_run=True)
    assert not dst.exists()
    assert report.dry_run and report.files_copied == 4 and report.hard_links_made == 2


def test_progress_is_reported_with_files_bytes_and_elapsed(source, tmp_path):
    ticks: list[Progress] = []
    copy_tree(source, tmp_path / "dst", progress=ticks.append)
    assert ticks and ticks[-1].files == 10 and ticks[-1].bytes == 84_006
    assert all(t.elapsed >= 0 for t in ticks)


@pytest.mark.parametrize("inside", ["src", "src/home"])
def test_copying_a_tree_into_itself_is_refused(source, tmp_path, inside):
    with pytest.raises(CopyRefused, match="inside"):
        copy_tree(source, tmp_path / inside / "copy")


@pytest.mark.parametrize("workers", [1, 4])
def test_large_files_handed_to_copier_threads_end_up_like_the_rest(source, tmp_path,
                                                                  workers):
    big = source / "home/alice/data"
    big.mkdir()
    for index in range(4):  # more than the copiers: some stay with their worker
        (big / f"part-{index}.bin").write_bytes(os.urandom(LARGE_FILE + index))
    os.link(big / "part-0.bin", big / "part-0-again.bin")  # a large hard-link leader
    os.chmod(big / "part-1.bin", 0o600)
    os.utime(big / "part-1.bin", ns=(OLD_NS, OLD_NS))
    os.utime(big, ns=(OLD_NS - 7, OLD_NS - 7))
    dst = tmp_path / "dst"
    report = copy_tree(source, dst, workers=workers)
    assert report.ok and report.files_copied == 8 and report.hard_links_made == 3
    assert snapshot(dst) == snapshot(source)  # contents, modes, mtimes of files and dirs
    again = copy_tree(source, dst, workers=workers)
    assert again.files_copied == 0 and again.ok


@pytest.mark.skipif(not IS_ROOT, reason="O_NOATIME needs the owner or root")
def test_reading_the_source_leaves_its_atime_and_the_target_gets_it(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "data").write_bytes(b"x" * 1000)
    # atime before mtime: relatime would update it on the next read.
    os.utime(src / "data", ns=(OLD_NS - 10**9, OLD_NS))
    assert copy_tree(src, tmp_path / "dst").ok
    assert os.lstat(src / "data").st_atime_ns == OLD_NS - 10**9
    assert os.lstat(tmp_path / "dst/data").st_atime_ns == OLD_NS - 10**9
