"""read_entries lists a directory as os.scandir would, whatever its names and size."""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

import pytest

from controller.fs.copy import listing
from controller.fs.copy.listing import read_entries

needs_getdents = pytest.mark.skipif(listing._getdents is None,
                                    reason="no getdents64 here: the scandir path is used")


def as_scandir_sees_it(folder: Path) -> tuple[list[str], list[str]]:
    with os.scandir(folder) as entries:
        found = list(entries)
    return (sorted(e.name for e in found if e.is_dir(follow_symlinks=False)),
            sorted(e.name for e in found if not e.is_dir(follow_symlinks=False)))


def listed(folder: Path, batched: bool = True) -> tuple[list[str], list[str]]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        dirs, others = read_entries(fd, batched)
    finally:
        os.close(fd)
    return sorted(dirs), sorted(others)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    (folder / "file.txt").write_text("x")
    (folder / "link-to-dir").symlink_to("sub")  # a link: never taken for a directory
    (folder / "dangling").symlink_to("nowhere")
    os.mkfifo(folder / "pipe")
    (folder / "é ünïcode ✓").write_text("x")
    (folder / os.fsdecode(b"latin1-\xe9")).write_text("x")  # not UTF-8: surrogateescape
    (folder / ("n" * 255)).write_text("x")
    return folder


def test_names_and_directories_are_those_scandir_gives(mixed):
    assert listed(mixed) == as_scandir_sees_it(mixed)
    dirs, others = listed(mixed)
    assert dirs == ["sub"] and "link-to-dir" in others and os.fsdecode(b"latin1-\xe9") in others


def test_a_directory_larger_than_one_read_is_listed_whole(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    for index in range(3000):  # about 200 KB of records: several getdents64 calls
        (folder / f"file-with-a-rather-long-name-{index:05d}").touch()
    for index in range(40):
        (folder / f"dir-{index}").mkdir()
    dirs, others = listed(folder)
    assert len(others) == 3000 and len(dirs) == 40
    assert (dirs, others) == as_scandir_sees_it(folder)


def test_unbatched_or_without_getdents64_scandir_gives_the_same(mixed, monkeypatch):
    expected = listed(mixed)
    assert listed(mixed, batched=False) == expected
    monkeypatch.setattr(listing, "_getdents", None)
    assert listed(mixed) == expected


@needs_getdents
def test_entries_of_unknown_type_are_looked_at_with_a_stat(tmp_path, monkeypatch):
    # Some file systems leave d_type as DT_UNKNOWN (0): the records below say so.
    folder = tmp_path / "untyped"
    (folder / "sub").mkdir(parents=True)
    (folder / "file").touch()
    (folder / "link").symlink_to("sub")
    records = b"".join(_record(name, kind=0) for name in (".", "..", "sub", "file", "link"))
    calls = iter([records, b""])

    def fake_getdents(fd: int, buffer: ctypes.Array[ctypes.c_char], size: int) -> int:
        data = next(calls)
        ctypes.memmove(buffer, data, len(data))
        return len(data)
    monkeypatch.setattr(listing, "_getdents", fake_getdents)
    assert listed(folder) == (["sub"], ["file", "link"])


def _record(name: str, kind: int) -> bytes:
    """One struct linux_dirent64, padded to 8 bytes as the kernel does."""
    encoded = os.fsencode(name) + b"\0"
    length = (19 + len(encoded) + 7) // 8 * 8
    return (struct.pack("=QqHB", 1, 0, length, kind) + encoded).ljust(length, b"\0")
