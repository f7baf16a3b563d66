"""Saving what only the old copy holds: by name, with owners, never through a link,
never removing anything, finishing what a killed run started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.fencing import RECOVERY_MANIFEST, RECOVERY_ROOT
from controller.fs.salvage import SalvageRefused, save_unreplicated


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    old, active = tmp_path / "old", tmp_path / "active"
    for root in (old, active):
        (root / "home/alice").mkdir(parents=True)
        (root / "home/alice/same.txt").write_text("same")
        os.utime(root / "home/alice/same.txt", (1_700_000_000, 1_700_000_000))
    return old, active


def tree(root: Path) -> dict[str, str]:
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = path.read_text()
        else:
            found[rel] = "/"
    return found


def test_only_entries_the_active_copy_lacks_or_holds_differently_are_saved(copies):
    old, active = copies
    (old / "home/alice/late.txt").write_text("late")
    (old / "home/alice/same.txt").write_text("changed")  # differs (size and mtime)
    (old / "home/bob/deep/er").mkdir(parents=True)
    (old / "home/bob/deep/er/notes.md").write_text("bob's")
    os.link(old / "home/alice/late.txt", old / "home/alice/late-hardlink.txt")
    before_old, before_active = tree(old), tree(active)
    report = save_unreplicated(old, active, "F")
    saved = active / RECOVERY_ROOT / "F"
    assert tree(saved) == {
        RECOVERY_MANIFEST: (saved / RECOVERY_MANIFEST).read_text(),
        "home": "/", "home/alice": "/", "home/alice/late.txt": "late",
        "home/alice/late-hardlink.txt": "late", "home/alice/same.txt": "changed",
        "home/bob": "/", "home/bob/deep": "/", "home/bob/deep/er": "/",
        "home/bob/deep/er/notes.md": "bob's"}
    assert {e.path: e.reason for e in report.saved} == {
        "home/alice/late-hardlink.txt": "missing", "home/alice/late.txt": "missing",
        "home/alice/same.txt": "differs", "home/bob/": "missing",
        "home/bob/deep/er/notes.md": "missing", "home/bob/deep/": "missing",
        "home/bob/deep/er/": "missing"}
    assert tree(old) == before_old, "the old copy is only read"
    assert {k: v for k, v in tree(active).items() if not k.startswith(RECOVERY_ROOT)} == (
        before_active), "the active copy's own files are never touched"
    assert oct((active / RECOVERY_ROOT).stat().st_mode & 0o777) == "0o700"
    listing = (saved / RECOVERY_MANIFEST).read_text()
    assert "missing\t4\thome/alice/late.txt" in listing
    assert "differs\t7\thome/alice/same.txt" in listing


def test_links_are_saved_as_links_never_followed(copies, tmp_path):
    old, active = copies
    secret = tmp_path / "outside.txt"
    secret.write_text("must not be copied")
    os.symlink(secret, old / "home/alice/escape")
    save_unreplicated(old, active, "F")
    saved = active / RECOVERY_ROOT / "F" / "home/alice/escape"
    assert saved.is_symlink() and os.readlink(saved) == str(secret)


def test_a_link_planted_where_the_recovery_folder_goes_is_refused(copies, tmp_path):
    old, active = copies
    (old / "home/alice/late.txt").write_text("late")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, active / RECOVERY_ROOT)
    with pytest.raises(SalvageRefused, match="never followed"):
        save_unreplicated(old, active, "F")
    assert list(elsewhere.iterdir()) == []


def test_the_list_is_written_last_and_a_rerun_finishes_a_killed_save(copies):
    old, active = copies
    (old / "home/alice/big.bin").write_bytes(b"x" * 100_000)
    saved = active / RECOVERY_ROOT / "F"
    (saved / "home/alice").mkdir(parents=True)
    (saved / "home/alice/big.bin").write_bytes(b"x" * 10)  # what a killed run left
    report = save_unreplicated(old, active, "F")
    assert (saved / "home/alice/big.bin").read_bytes() == b"x" * 100_000
    assert (saved / RECOVERY_MANIFEST).exists() and not report.errors
    again = save_unreplicated(old, active, "F")
    assert [e.path for e in again.saved] == [e.path for e in report.saved]


def test_an_entry_that_cannot_be_saved_keeps_the_save_unfinished(copies):
    old, active = copies
    (old / "home/alice/late.txt").write_text("late")
    # A directory where the file would go: never replaced (it could hold anything).
    (active / RECOVERY_ROOT / "F" / "home/alice/late.txt").mkdir(parents=True)
    report = save_unreplicated(old, active, "F")
    assert report.errors and report.errors[0].startswith("home/alice/late.txt: ")
    assert not (active / RECOVERY_ROOT / "F" / RECOVERY_MANIFEST).exists()
    assert "could not be saved" in report.summary()


def test_nothing_to_save_still_writes_the_list(copies):
    old, active = copies
    report = save_unreplicated(old, active, "F")
    assert report.saved == [] and report.compared == 3
    assert (active / RECOVERY_ROOT / "F" / RECOVERY_MANIFEST).exists()
