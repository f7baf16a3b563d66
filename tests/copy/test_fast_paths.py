"""The kernel's copy paths (copy_file_range, sendfile) are chosen per file, not per process.

The attack (issue 9, point 8): a FIFO swapped in for a regular file between the stat and
the open makes copy_file_range answer EINVAL. If that turned the fast path off for the
whole process, every later copy of the long-running controller would go through Python
reads and writes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.fs.copy import copy_tree
from controller.fs.copy.entries import EntryFailure, Options, sync_entry


@pytest.fixture
def kernel_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the calls into the kernel's copy paths (the real calls still happen)."""
    counts = {"copy_file_range": 0, "sendfile": 0, "read": 0}
    for name in counts:
        real = getattr(os, name)

        def counting(*args: object, _real=real, _name=name) -> object:
            counts[_name] += 1
            return _real(*args)
        monkeypatch.setattr(os, name, counting)
    return counts


def swap_in_a_fifo(tmp_path: Path) -> None:
    """What the attacker does: the copy stats a file, then finds a FIFO under its name."""
    src, dst = tmp_path / "swap-src", tmp_path / "swap-dst"
    src.mkdir()
    dst.mkdir()
    (src / "data").write_bytes(b"x" * 4096)
    seen = os.lstat(src / "data")
    os.unlink(src / "data")
    os.mkfifo(src / "data")
    opts = Options(dry_run=False, overwrite_newer=False, set_owner=False, umask=0o022)
    src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(EntryFailure, match="changed while being copied"):
            sync_entry(src_fd, dst_fd, "data", seen, None, opts)
    finally:
        os.close(src_fd)
        os.close(dst_fd)
    assert os.listdir(dst) == []


def test_a_fifo_swapped_in_does_not_turn_the_fast_path_off_for_later_copies(
        tmp_path, kernel_calls):
    swap_in_a_fifo(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    for index in range(3):
        (src / f"f{index}").write_bytes(os.urandom(10_000))
    before = dict(kernel_calls)
    report = copy_tree(src, tmp_path / "dst", workers=1)
    assert report.ok and report.files_copied == 3
    assert kernel_calls["copy_file_range"] - before["copy_file_range"] >= 3
    assert kernel_calls["read"] == before["read"], "no bytes went through Python"
    for index in range(3):
        assert (tmp_path / "dst" / f"f{index}").read_bytes() == (
            src / f"f{index}").read_bytes()
