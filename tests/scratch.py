"""A scratch folder for very large or very deep test trees, removed whatever its depth.

On this project's machines the root file system costs about a millisecond per mkdir and
rmdir, so a tree of tens of thousands of directories takes minutes to make and remove:
such trees go on tmpfs (/dev/shm) when it is there. pytest's own clean-up (shutil.rmtree)
recurses once per level and cannot remove a tree 5,000 levels deep, so `rm -rf` does.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SHM = Path("/dev/shm")


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    base = SHM if SHM.is_dir() and os.access(SHM, os.W_OK) else tmp_path
    place = Path(tempfile.mkdtemp(prefix="studio-operator-test-", dir=base))
    try:
        yield place
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(place)], check=True)
