"""The source's identity after its copy, read with statx without the atime (identity.py).

On NFS and FUSE an fstat after a read costs a round trip; the statx that replaces it
there must still see what the check needs: device, inode, size and the mtime to the
nanosecond, and a file rewritten behind the copy must still be refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.fs.copy.entries import sync_entry
from controller.fs.copy.identity import Identity, identity
from controller.fs.copy.metadata import EntryFailure, Options

SHM = Path("/dev/shm")
ODD_NS = 1_600_000_000_123_456_789


@pytest.mark.parametrize("where", ["tmpfs", "tmp_path"])
@pytest.mark.parametrize("remote", [True, False])
def test_identity_is_what_fstat_says(tmp_path, scratch, where, remote):
    folder = scratch if where == "tmpfs" else tmp_path
    path = folder / "data"
    path.write_bytes(b"x" * 12345)
    os.utime(path, ns=(ODD_NS, ODD_NS + 7))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, 100)  # after a read, as in the copy
        info = os.fstat(fd)
        assert identity(fd, remote) == Identity(info.st_dev, info.st_ino, 12345, ODD_NS + 7)
    finally:
        os.close(fd)


def test_identity_of_a_closed_descriptor_raises_like_fstat(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY)
    os.close(fd)
    with pytest.raises(OSError):
        identity(fd)


def test_a_source_rewritten_at_the_same_size_is_refused_on_a_network_medium(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "data").write_bytes(b"0123456789")
    os.utime(src / "data", ns=(ODD_NS, ODD_NS))
    seen = os.lstat(src / "data")
    (src / "data").write_bytes(b"9876543210")  # same size, a new mtime
    opts = Options(dry_run=False, overwrite_newer=False, set_owner=False, umask=0o022,
                   remote=True)
    src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(EntryFailure, match="changed while being copied"):
            sync_entry(src_fd, dst_fd, "data", seen, None, opts)
    finally:
        os.close(src_fd)
        os.close(dst_fd)
    assert os.listdir(dst) == []
