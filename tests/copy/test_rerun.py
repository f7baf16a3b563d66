"""Re-runs: nothing to do writes nothing; what changed is copied; journals of earlier runs."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from controller.fs.copy import copy_tree, walk
from controller.fs.copy.entries import EntryFailure, Options, sync_entry
from controller.fs.copy.journal import HEADER, JOURNAL_PREFIX, STATE_DIR, Journal
from tests.copy.conftest import OLD_NS
from tests.copy.test_copy_tree import snapshot

EARLIER_RUN = "00000000deadbeef"
OLD_JOURNAL = f"{JOURNAL_PREFIX}{EARLIER_RUN}"


def plant_earlier_journal(dst: Path, *paths: str) -> None:
    """What a run killed mid-file leaves: its journal in the engine's own folder."""
    (dst / STATE_DIR).mkdir(mode=0o700)
    journal = dst / STATE_DIR / OLD_JOURNAL
    journal.write_text("".join(f"{line}\n" for line in [HEADER + EARLIER_RUN, *paths]))
    os.chmod(journal, 0o600)


def change_times(root: Path) -> dict[str, tuple[int, int]]:
    """ctime and mtime of the root and every entry: any write, chmod, chown or utime
    (also one that puts the same value back) moves the ctime."""
    times = {".": (os.lstat(root).st_ctime_ns, os.lstat(root).st_mtime_ns)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            info = os.lstat(os.path.join(dirpath, name))
            times[os.path.relpath(os.path.join(dirpath, name), root)] = (
                info.st_ctime_ns, info.st_mtime_ns)
    return times


def journals(dst: Path) -> list[str]:
    if not (dst / STATE_DIR).is_dir():
        return []
    return sorted(name for name in os.listdir(dst / STATE_DIR)
                  if name.startswith(JOURNAL_PREFIX))


def test_a_re_run_with_nothing_to_do_writes_nothing_into_the_target(source, tmp_path):
    dst = tmp_path / "dst"
    assert copy_tree(source, dst).ok
    before = change_times(dst)
    again = copy_tree(source, dst, workers=4)
    assert again.ok and again.files_copied == 0 and again.metadata_fixed == 0
    # No journal made and removed, no directory's metadata set again: not a single ctime.
    assert change_times(dst) == before


def test_a_file_added_in_the_source_is_copied_and_its_directory_keeps_the_source_mtime(
        source, tmp_path):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    (source / "home/alice/new.py").write_text("print('hi')\n")
    os.utime(source / "home/alice/new.py", ns=(OLD_NS + 5, OLD_NS + 5))
    os.utime(source / "home/alice", ns=(OLD_NS + 9, OLD_NS + 9))
    report = copy_tree(source, dst)
    assert report.ok and report.files_copied == 1 and report.up_to_date > 0
    assert snapshot(dst) == snapshot(source)  # the mtimes of the directories included
    assert journals(dst) == []
    assert os.lstat(dst).st_mtime_ns == os.lstat(source).st_mtime_ns


def test_a_new_name_for_a_hard_linked_file_joins_the_others_in_the_target(source, tmp_path):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    os.link(source / "home/alice/.conda/pkgs/lib.so", source / "teams/lib-shared.so")
    os.utime(source / "teams", ns=(OLD_NS, OLD_NS))
    report = copy_tree(source, dst, workers=4)
    # Whichever name the walk meets first decides: the new name is linked to the copy
    # already there, or (met first) copied and the other names linked to it.
    assert report.ok and report.hard_links_made in (1, 3)
    inodes = {os.lstat(dst / name).st_ino for name in (
        "home/alice/.conda/pkgs/lib.so", "home/alice/.conda/envs/lib.so",
        "home/alice/.conda/lib-again.so", "teams/lib-shared.so")}
    assert len(inodes) == 1
    assert snapshot(dst) == snapshot(source)


def test_a_path_in_an_earlier_runs_journal_is_repaired_and_that_journal_removed(
        source, tmp_path):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    # What a run killed mid-file leaves: a newer, different file and a journal naming it.
    (dst / "home/alice/secret").write_bytes(b"s3")
    plant_earlier_journal(dst, '"home/alice/secret"')
    report = copy_tree(source, dst)
    assert report.ok and report.conflicts == () and report.files_copied == 1
    assert (dst / "home/alice/secret").read_bytes() == b"s3cr3t"
    assert journals(dst) == [] and not (dst / STATE_DIR).exists()
    assert os.lstat(dst).st_mtime_ns == os.lstat(source).st_mtime_ns


def test_what_earlier_journals_list_stays_until_a_run_finishes_without_errors(
        source, tmp_path, outside):
    dst = tmp_path / "dst"
    (dst / "home").mkdir(parents=True)
    (dst / "home/alice").symlink_to(outside)  # an error: that subtree is skipped
    plant_earlier_journal(dst, '"home/alice/secret"')
    assert copy_tree(source, dst).errors
    [left] = journals(dst)  # one journal: this run's, carrying what is still unfinished
    assert left != OLD_JOURNAL
    listed = (dst / STATE_DIR / left).read_text().splitlines()[1:]
    assert '"home/alice/secret"' in listed and '"teams/research/empty"' not in listed
    (dst / "home/alice").unlink()
    assert copy_tree(source, dst).ok
    assert journals(dst) == []


def test_when_the_journal_cannot_be_written_no_file_is_created_under_its_final_name(
        source, tmp_path, monkeypatch):
    def full_disk(self: Journal, *rels: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Journal, "note", full_disk)
    dst = tmp_path / "dst"
    report = copy_tree(source, dst)
    assert report.errors and all("journal" in error.message for error in report.errors)
    assert not [name for _, _, names in os.walk(dst) for name in names]
    assert (dst / "home/alice/.conda/pkgs").is_dir()  # directories need no journal
    assert report.files_copied == 0


@pytest.mark.parametrize("workers", [1, 16])
def test_every_entry_is_counted_once_whatever_the_number_of_workers(source, tmp_path,
                                                                     workers):
    dst = tmp_path / "dst"
    first = copy_tree(source, dst, workers=workers)
    again = copy_tree(source, dst, workers=workers)
    entries = sum(len(d) + len(f) for _, d, f in os.walk(source))
    made = (first.files_copied + first.hard_links_made + first.symlinks_created
            + first.special_files_created + first.directories_created)
    assert made == entries + 1  # and the root
    assert again.up_to_date == entries + 1


@pytest.mark.parametrize("change", [b"grown by more bytes", b""])
def test_a_source_that_changes_size_while_copied_is_not_installed(tmp_path, change):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "data").write_bytes(b"0123456789")
    seen = os.lstat(src / "data")
    # Changed after the stat the copy decides on: grown (the copy stops at the size seen)
    # or cut short.
    (src / "data").write_bytes(b"0123456789" + change if change else b"01234")
    opts = Options(dry_run=False, overwrite_newer=False, set_owner=False, umask=0o022)
    src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(EntryFailure, match="changed while being copied"):
            sync_entry(src_fd, dst_fd, "data", seen, None, opts)
    finally:
        os.close(src_fd)
        os.close(dst_fd)
    assert os.listdir(dst) == []  # the half-made file is not left under its final name


def test_a_file_listed_in_the_target_but_gone_before_its_copy_is_journaled_first(
        source, tmp_path, monkeypatch):
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    (dst / "home/alice/secret").unlink()
    real_listing, real_note = walk.read_entries, Journal.note
    noted: list[str] = []

    def listing_from_before_the_unlink(fd: int, batched: bool = True,
                                       ) -> tuple[list[str], list[str]]:
        dirs, others = real_listing(fd, batched)
        if os.readlink(f"/proc/self/fd/{fd}") == str(dst / "home/alice"):
            others.append("secret")
        return dirs, others

    def note(self: Journal, *rels: str) -> None:
        noted.extend(rels)
        real_note(self, *rels)
    monkeypatch.setattr(walk, "read_entries", listing_from_before_the_unlink)
    monkeypatch.setattr(Journal, "note", note)
    report = copy_tree(source, dst)
    assert report.ok and report.files_copied == 1
    assert noted == ["home/alice/secret"]
    assert snapshot(dst) == snapshot(source)
