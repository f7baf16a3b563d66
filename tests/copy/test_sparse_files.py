"""Sparse files stay sparse: holes are found with SEEK_DATA/SEEK_HOLE and kept.

The attack (issue 9, point 6): a 10 GiB sparse file with 8 KiB of data filled 10 GiB of
the target, so one user could fill the target file system.
"""

from __future__ import annotations

import os
from pathlib import Path

from controller.fencing import RECOVERY_ROOT
from controller.fs.copy import copy_tree
from controller.fs.salvage import save_unreplicated

GIB = 1 << 30
DATA_AT = (0, 5 * GIB + 12_288)  # 4 KiB of data at each; the file ends in a hole


def make_sparse(path: Path, size: int = 10 * GIB) -> None:
    with open(path, "wb") as out:
        for offset in DATA_AT:
            out.seek(offset)
            out.write(bytes([offset % 251 + 1]) * 4096)
        out.truncate(size)
    os.utime(path, ns=(1_600_000_000_000_000_001,) * 2)


def data_map(path: Path) -> list[tuple[int, int]]:
    """The (data start, hole start) ranges of a file, as the file system reports them."""
    ranges = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size, offset = os.fstat(fd).st_size, 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:
                break  # ENXIO: no data after offset
            offset = os.lseek(fd, start, os.SEEK_HOLE)
            ranges.append((start, offset))
    finally:
        os.close(fd)
    return ranges


def assert_same_sparse_file(copied: Path, original: Path) -> None:
    info = os.lstat(copied)
    assert info.st_size == os.lstat(original).st_size
    assert info.st_blocks * 512 <= 64 * 1024, f"{info.st_blocks * 512} bytes allocated"
    assert data_map(copied) == data_map(original)
    with open(copied, "rb") as mine, open(original, "rb") as theirs:
        for offset in (*DATA_AT, GIB, 10 * GIB - 4096):
            mine.seek(offset)
            theirs.seek(offset)
            assert mine.read(8192) == theirs.read(8192)


def test_a_10_gib_sparse_file_with_8_kib_of_data_is_copied_sparse(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    make_sparse(src / "huge.bin")
    assert os.lstat(src / "huge.bin").st_blocks * 512 <= 64 * 1024  # ext4 keeps holes
    report = copy_tree(src, dst)
    assert report.ok and report.files_copied == 1
    assert_same_sparse_file(dst / "huge.bin", src / "huge.bin")
    assert os.lstat(dst / "huge.bin").st_mtime_ns == 1_600_000_000_000_000_001
    again = copy_tree(src, dst)
    assert again.ok and again.files_copied == 0


def test_a_file_ending_in_data_and_a_dense_file_are_copied_whole(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    with open(src / "tail", "wb") as out:
        out.seek(1 << 20)
        out.write(b"end")  # a hole, then data to the last byte
    (src / "dense").write_bytes(os.urandom(300_000))
    assert copy_tree(src, dst).ok
    assert (dst / "tail").read_bytes() == (src / "tail").read_bytes()
    assert data_map(dst / "tail") == data_map(src / "tail")
    assert (dst / "dense").read_bytes() == (src / "dense").read_bytes()


def test_the_failback_save_keeps_holes_too(tmp_path):
    old, active = tmp_path / "old", tmp_path / "active"
    old.mkdir()
    active.mkdir()
    make_sparse(old / "huge.bin")
    report = save_unreplicated(old, active, "F")
    assert not report.errors
    assert_same_sparse_file(active / RECOVERY_ROOT / "F" / "huge.bin", old / "huge.bin")
