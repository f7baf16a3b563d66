"""A run killed mid-file leaves a partial file under the final name plus the in-flight
journal; the next run must repair it without calling it a (newer) user file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from controller.fs.copy import copy_tree
from controller.fs.copy.journal import HEADER, JOURNAL_PREFIX, STATE_DIR
from tests.copy.test_copy_tree import snapshot

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "home/alice/notebook.ipynb"

# Runs the engine in a child that dies (os._exit: no cleanup, like SIGKILL) in the middle
# of writing the notebook: half its bytes are in the target under the final name.
KILLED_RUN = """
import os, sys
from pathlib import Path
from controller.fs.copy import copy_tree, entries

real = entries.copy_bytes

def dying(source, target, *size):
    if os.fstat(source).st_size == 14_000:  # the notebook
        os.write(target, os.read(source, 7_000))
        os._exit(9)
    return real(source, target, *size)

entries.copy_bytes = dying
copy_tree(Path(sys.argv[1]), Path(sys.argv[2]), workers=1)
"""


def journals(dst: Path) -> list[str]:
    if not (dst / STATE_DIR).is_dir():
        return []
    return sorted(name for name in os.listdir(dst / STATE_DIR)
                  if name.startswith(JOURNAL_PREFIX))


def kill_mid_notebook(source: Path, dst: Path) -> None:
    """A copy killed (no cleanup) while half the notebook is written."""
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(source), str(dst)],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr


def test_a_run_killed_mid_file_is_repaired_by_the_next_run_without_a_conflict(
        source, tmp_path):
    dst = tmp_path / "dst"
    kill_mid_notebook(source, dst)
    partial = dst / NOTEBOOK
    # What the killed run left: a half-written file, newer than the source, and a journal.
    assert partial.stat().st_size == 7_000
    assert partial.stat().st_mtime_ns > (source / NOTEBOOK).stat().st_mtime_ns
    [left] = journals(dst)
    header, *lines = (dst / STATE_DIR / left).read_text().splitlines()
    assert header == HEADER + left[len(JOURNAL_PREFIX):]
    assert NOTEBOOK in [json.loads(line) for line in lines]

    report = copy_tree(source, dst, workers=4)
    assert report.ok and report.conflicts == () and report.errors == ()
    assert report.extra == 0  # the journal is ours, not an entry only in the target
    assert snapshot(dst) == snapshot(source)
    assert journals(dst) == []  # a clean run removes the journals, old and its own
    assert not (dst / STATE_DIR).exists()

    again = copy_tree(source, dst, workers=4)
    assert again.ok and again.files_copied == 0 and again.metadata_fixed == 0
    assert snapshot(dst) == snapshot(source)


def test_without_the_journal_a_newer_partial_file_stays_a_conflict(source, tmp_path):
    # The control: the same leftover with no journal naming it looks like a user's edit.
    dst = tmp_path / "dst"
    copy_tree(source, dst)
    (dst / NOTEBOOK).write_bytes((source / NOTEBOOK).read_bytes()[:7_000])
    report = copy_tree(source, dst)
    assert report.conflicts == (NOTEBOOK,)
    assert (dst / NOTEBOOK).stat().st_size == 7_000


def test_a_clean_run_leaves_no_journal_and_the_root_keeps_the_source_mtime(source, tmp_path):
    dst = tmp_path / "dst"
    assert copy_tree(source, dst).ok
    assert journals(dst) == [] and not (dst / STATE_DIR).exists()
    assert os.lstat(dst).st_mtime_ns == os.lstat(source).st_mtime_ns
    assert snapshot(dst) == snapshot(source)


def test_a_run_with_errors_keeps_what_is_unfinished_for_the_next_run(source, tmp_path,
                                                                     outside):
    dst = tmp_path / "dst"
    kill_mid_notebook(source, dst)
    os.rename(dst / "home/alice", tmp_path / "aside")
    (dst / "home/alice").symlink_to(outside)  # an error: the notebook cannot be reached
    report = copy_tree(source, dst)
    assert report.errors
    [left] = journals(dst)
    assert f'"{NOTEBOOK}"' in (dst / STATE_DIR / left).read_text().splitlines()
    (dst / "home/alice").unlink()
    os.rename(tmp_path / "aside", dst / "home/alice")
    report = copy_tree(source, dst)
    assert report.ok and report.conflicts == ()  # the half-written notebook is repaired
    assert snapshot(dst) == snapshot(source)
    assert journals(dst) == [] and not (dst / STATE_DIR).exists()


def test_a_run_with_errors_but_nothing_unfinished_leaves_no_journal(source, tmp_path,
                                                                   outside):
    dst = tmp_path / "dst"
    (dst / "home").mkdir(parents=True)
    (dst / "home/alice").symlink_to(outside)  # an error: that subtree is skipped
    report = copy_tree(source, dst)
    assert report.errors and report.files_copied > 0
    assert not (dst / STATE_DIR).exists()
