"""A tree deeper than the open-file limit allows is still copied, exactly.

Each directory of the walk holds two descriptors until its subtree is done, so a user's
home nested deeper than half the limit stopped every failover copy of the file system
with "Too many open files" (seen at 12,000 levels with a limit of 20,000). Directories
that only wait for their subtrees now give their descriptors back (parking.py).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from tests.fs.test_salvage_bounded import make_chain

REPO = Path(__file__).resolve().parents[2]
LIMIT = 256
COPY = """
import json, sys
from pathlib import Path
from controller.fs.copy import copy_tree
report = copy_tree(Path(sys.argv[1]), Path(sys.argv[2]), workers=4)
again = copy_tree(Path(sys.argv[1]), Path(sys.argv[2]), workers=4)
print(json.dumps([report.to_dict(), again.to_dict()]))
"""


def chain_metadata(root: Path) -> list[tuple[int, int, int, bytes]]:
    """(mode, uid, mtime_ns, content of f or b"") of every level, walked by descriptors."""
    seen = []
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            info = os.fstat(fd)
            content = b""
            if "f" in os.listdir(fd):
                source = os.open("f", os.O_RDONLY, dir_fd=fd)
                content = os.read(source, 100)
                os.close(source)
            seen.append((info.st_mode, info.st_uid, info.st_mtime_ns, content))
            try:
                child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                return seen
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def stamp_chain(root: Path) -> None:
    """Distinct modes and mtimes per level, set deepest first (children move mtimes)."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    while "d" in os.listdir(fds[-1]):
        fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    for level, fd in reversed(list(enumerate(fds))):
        os.fchmod(fd, 0o700 | (level % 8) * 0o10)
        os.utime(fd, ns=(1_600_000_000_000_000_000 + level,) * 2)
        os.close(fd)


def test_a_tree_far_deeper_than_the_descriptor_limit_is_copied_exactly(scratch):
    src, dst = scratch / "src", scratch / "dst"
    src.mkdir()
    make_chain(src, 3000, file_every=250)
    stamp_chain(src)

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
    done = subprocess.run([sys.executable, "-c", COPY, str(src), str(dst)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, preexec_fn=low_limit, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    first, again = json.loads(done.stdout)
    assert first["errors"] == [] and first["ok"]
    assert first["directories_created"] == 3001 and first["files_copied"] == 12
    assert chain_metadata(dst) == chain_metadata(src)
    assert again["ok"] and again["files_copied"] == 0 and again["metadata_fixed"] == 0
