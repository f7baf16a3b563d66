"""The in-flight journal cannot be planted, blocked or piled up by users.

The attacks (issue 9, point 5, and issue 8's "journals pile up"): a user's file named
like the journal made every re-run fail (and a clean run deleted it as a journal); a
planted journal listing `doc` made the copy overwrite a newer `doc` without a conflict;
a directory or FIFO with that name crashed `studioctl copy` with a traceback; every
failed run left one more journal in the target root.
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest

from controller.cli import copy_cmd
from controller.fs.copy import copy_tree
from controller.fs.copy.journal import JOURNAL_PREFIX, STATE_DIR
from tests.copy.conftest import IS_ROOT, OLD_NS
from tests.copy.test_crash_safety import NOTEBOOK, kill_mid_notebook

OLD_STYLE = ".studio-copy-inflight-host-4242-0"  # the name journals had before
USER = 200001


def studioctl_copy(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="studioctl")
    copy_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["copy", *argv])
    return int(args.func(args))


def journals(dst: Path) -> list[str]:
    folder = dst / STATE_DIR
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(name for name in os.listdir(folder) if name.startswith(JOURNAL_PREFIX))


def give_to_user(*paths: Path) -> None:
    if IS_ROOT:
        for path in paths:
            os.chown(path, USER, USER, follow_symlinks=False)


@pytest.mark.parametrize("name", [OLD_STYLE, STATE_DIR, f"{JOURNAL_PREFIX}x"])
def test_a_user_file_named_like_the_journal_is_an_ordinary_file(tmp_path, name):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / name).write_text('"doc"\nmy own notes\n')
    (src / "doc").write_text("doc")
    give_to_user(src / name)
    for path in (src / name, src / "doc", src):
        os.utime(path, ns=(OLD_NS, OLD_NS))
    for _ in range(3):
        report = copy_tree(src, dst)
        assert report.ok, report.errors
        assert (dst / name).read_text() == '"doc"\nmy own notes\n'
    again = copy_tree(src, dst)
    assert again.ok and again.files_copied == 0 and again.extra == 0
    assert os.lstat(dst).st_mtime_ns == OLD_NS


def test_a_planted_journal_does_not_let_the_copy_overwrite_a_newer_file(source, tmp_path):
    dst = tmp_path / "dst"
    assert copy_tree(source, dst).ok
    doc = dst / "home/alice/notebook.ipynb"
    doc.write_text("edited in the target: newer")
    (dst / OLD_STYLE).write_text('"home/alice/notebook.ipynb"\n')
    (dst / STATE_DIR).mkdir()  # the user's own folder, with a journal of the right name
    (dst / STATE_DIR / f"{JOURNAL_PREFIX}0123456789abcdef").write_text(
        "studio-operator copy journal v1 run=0123456789abcdef\n"
        '"home/alice/notebook.ipynb"\n')
    give_to_user(dst / OLD_STYLE, dst / STATE_DIR,
                 dst / STATE_DIR / f"{JOURNAL_PREFIX}0123456789abcdef")
    os.chmod(dst / STATE_DIR, 0o755)
    report = copy_tree(source, dst)
    assert report.conflicts == ("home/alice/notebook.ipynb",)
    assert doc.read_text() == "edited in the target: newer"
    assert (dst / OLD_STYLE).exists() and (dst / STATE_DIR).is_dir()  # never removed


def test_a_journal_linked_into_the_engines_own_folder_is_not_read(source, tmp_path):
    # The folder is the engine's, but a journal there must also be a regular 0600 file of
    # ours with one name and the header of its run: a symlink to a user's file is not.
    dst = tmp_path / "dst"
    assert copy_tree(source, dst).ok
    doc = dst / "home/alice/notebook.ipynb"
    doc.write_text("edited in the target: newer")
    (dst / STATE_DIR).mkdir(mode=0o700)
    planted = tmp_path / "planted"
    planted.write_text("studio-operator copy journal v1 run=00000000000000aa\n"
                       '"home/alice/notebook.ipynb"\n')
    (dst / STATE_DIR / f"{JOURNAL_PREFIX}00000000000000aa").symlink_to(planted)
    report = copy_tree(source, dst)
    assert report.conflicts == ("home/alice/notebook.ipynb",)
    assert doc.read_text() == "edited in the target: newer"


@pytest.mark.parametrize("kind", ["directory", "fifo"])
@pytest.mark.parametrize("name", [OLD_STYLE, STATE_DIR])
def test_a_directory_or_fifo_named_like_the_journal_gives_no_traceback(
        source, tmp_path, capsys, kind, name):
    dst = tmp_path / "dst"
    dst.mkdir()
    if kind == "directory":
        (dst / name).mkdir()
        (dst / name / "mine.txt").write_text("mine")
    else:
        os.mkfifo(dst / name)
    give_to_user(dst / name)
    assert studioctl_copy(str(source), str(dst)) == 0
    assert studioctl_copy(str(source), str(dst)) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    if kind == "directory":
        assert (dst / name / "mine.txt").read_text() == "mine"
    else:
        assert stat.S_ISFIFO(os.lstat(dst / name).st_mode)


def test_failed_runs_keep_one_journal_in_a_folder_only_the_engine_can_write(
        source, tmp_path, outside):
    dst = tmp_path / "dst"
    kill_mid_notebook(source, dst)  # a journal listing the half-written notebook
    os.rename(dst / "home/alice", tmp_path / "aside")
    (dst / "home/alice").symlink_to(outside)  # an error each run: the notebook unreachable
    for run in range(4):
        report = copy_tree(source, dst)
        assert report.errors
        assert len(journals(dst)) == 1, f"after run {run + 1}: {journals(dst)}"
        assert f'"{NOTEBOOK}"' in (dst / STATE_DIR / journals(dst)[0]).read_text()
    folder = os.lstat(dst / STATE_DIR)
    assert stat.S_ISDIR(folder.st_mode) and stat.S_IMODE(folder.st_mode) == 0o700
    assert folder.st_uid == os.geteuid()
    [journal] = journals(dst)
    info = os.lstat(dst / STATE_DIR / journal)
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid()
    (dst / "home/alice").unlink()
    os.rename(tmp_path / "aside", dst / "home/alice")
    assert copy_tree(source, dst).ok
    assert not (dst / STATE_DIR).exists()  # gone with its last journal
    assert os.lstat(dst).st_mtime_ns == os.lstat(source).st_mtime_ns


def test_a_user_entry_named_like_the_state_folder_in_the_source_is_copied_in_the_end(
        source, tmp_path, outside):
    dst = tmp_path / "dst"
    kill_mid_notebook(source, dst)  # leaves the engine's folder with a journal
    assert journals(dst)
    (source / STATE_DIR).mkdir()
    (source / STATE_DIR / "plan.txt").write_text("the user's")
    give_to_user(source / STATE_DIR, source / STATE_DIR / "plan.txt")
    os.chmod(source / STATE_DIR, 0o755)
    first = copy_tree(source, dst)
    # Not copied onto the engine's folder: reported, and the folder removed at the end.
    assert [error.path for error in first.errors] == [STATE_DIR]
    assert not (dst / STATE_DIR).exists()
    second = copy_tree(source, dst)
    assert second.ok, second.errors
    assert (dst / STATE_DIR / "plan.txt").read_text() == "the user's"
